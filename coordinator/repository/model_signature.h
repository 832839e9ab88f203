// ModelSignature: the tensors a served model version takes and returns, as
// clients see them (names, element types, full shapes), derived from its
// completed config.pbtxt. The frontend checks every request against it.
//
// Shapes are full request shapes: -1 marks a dimension of any size >= 0.
// With max_batch_size > 0 the first dimension is the batch (shown as -1,
// accepted as 1..max_batch_size) followed by the config's dims, as Triton
// presents them.
//
// A ModelSignature is a plain value: immutable once built, safe to share.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/data_type.h"
#include "common/tensor.h"
#include "proto/model_config.pb.h"

namespace tessera::coordinator {

struct TensorSpec {
  std::string name;
  DataType dtype = DataType::kUndefined;
  Shape shape;  // full shape, -1 for dynamic dims (including the batch dim)
};

struct ModelSignature {
  std::string model_name;
  int64_t version = 0;
  // 0: no batch dimension is implied; > 0: the first dim of every input and
  // output is the batch, 1..max_batch_size.
  int32_t max_batch_size = 0;
  std::vector<TensorSpec> inputs;   // config order
  std::vector<TensorSpec> outputs;  // config order

  // nullptr when there is no such tensor.
  const TensorSpec* FindInput(absl::string_view name) const;
  const TensorSpec* FindOutput(absl::string_view name) const;
};

// Builds the signature of a completed, validated config (see
// model_config_loader.h). InvalidArgument / Unimplemented when an input or
// output has a data type Tessera cannot express or execute.
absl::StatusOr<ModelSignature> SignatureFromConfig(const inference::ModelConfig& config, int64_t version);

}  // namespace tessera::coordinator
