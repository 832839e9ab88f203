// Runs a single node once on given tensors: used for constant folding at
// load time.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "onnx/onnx_pb.h"

namespace tessera::engine {

// `inputs[i]` is nullptr for an omitted optional input. Returns one Tensor
// per node output (undefined for outputs with an empty name).
absl::StatusOr<std::vector<Tensor>> RunNodeOnce(const onnx::NodeProto& node, int opset,
                                                const std::vector<const Tensor*>& inputs, int threads);

// "node 'conv1' (Conv)" for error messages.
std::string NodeLabel(const onnx::NodeProto& node);

}  // namespace tessera::engine
