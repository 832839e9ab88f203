// Typed, read-only access to an ONNX node's attributes, with defaults.
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "onnx/onnx_pb.h"

namespace tessera::engine {

class NodeAttributes {
 public:
  // Borrows `node`, which must outlive this object.
  explicit NodeAttributes(const onnx::NodeProto& node) : node_(&node) {}

  bool Has(absl::string_view name) const { return Find(name) != nullptr; }
  const onnx::AttributeProto* Find(absl::string_view name) const;

  int64_t GetInt(absl::string_view name, int64_t default_value) const;
  float GetFloat(absl::string_view name, float default_value) const;
  std::string GetString(absl::string_view name, std::string default_value) const;
  // Empty when the attribute is absent.
  std::vector<int64_t> GetInts(absl::string_view name) const;
  std::vector<float> GetFloats(absl::string_view name) const;
  std::vector<std::string> GetStrings(absl::string_view name) const;
  // A TENSOR attribute (Constant's `value`, ConstantOfShape's `value`).
  absl::StatusOr<Tensor> GetTensor(absl::string_view name) const;

 private:
  const onnx::NodeProto* node_;
};

// Decodes an ONNX TensorProto (raw_data or typed fields; external data is
// refused) into a Tensor. Names the tensor and the problem on failure.
absl::StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto);

// Encodes a Tensor as a TensorProto with raw_data.
onnx::TensorProto TensorToProto(const Tensor& tensor, const std::string& name);

}  // namespace tessera::engine
