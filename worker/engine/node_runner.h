// Runs a single node once on given tensors: used for constant folding at
// load time.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "onnx/onnx_pb.h"
#include "worker/engine/kernel.h"

namespace tessera::engine {

// `inputs[i]` is nullptr for an omitted optional input. Returns one Tensor
// per node output (undefined for outputs with an empty name).
absl::StatusOr<std::vector<Tensor>> RunNodeOnce(const onnx::NodeProto& node, int opset,
                                                const std::vector<const Tensor*>& inputs, int threads);

// kernel.Compute(ctx), with a failed allocation (a model or request asking
// for tensors larger than memory: std::bad_alloc, std::length_error) turned
// into ResourceExhausted instead of ending the process.
absl::Status ComputeNode(const OpKernel& kernel, KernelContext& ctx);

// "node 'conv1' (Conv)" for error messages.
std::string NodeLabel(const onnx::NodeProto& node);

}  // namespace tessera::engine
