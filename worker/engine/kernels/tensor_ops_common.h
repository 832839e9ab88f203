// Helpers shared by the tensor_ops*.cc kernels (shape and data movement):
// axis normalisation, reading shape-like inputs, byte-size dispatch, and
// registration shorthands. Internal to the tensor kernel group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"
#include "worker/engine/kernel.h"
#include "worker/engine/kernel_registry.h"

namespace tessera::engine::tensor_ops {

// Elements per parallel work chunk for copy loops.
inline constexpr int64_t kParallelGrain = 16 * 1024;

// Maps `axis` in [-rank, rank) to [0, rank) (negative counts from the back).
// With `allow_rank` the accepted range is [-rank, rank] (Flatten's split
// point). Names `op` on error.
absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int64_t rank, bool allow_rank = false);

// Input i, or InvalidArgument naming `op` and `what` when it is absent.
absl::StatusOr<const Tensor*> RequiredInput(absl::string_view op, const KernelContext& ctx, int i,
                                            absl::string_view what);

// Reads an int32/int64 tensor of rank <= 1 (shape, axes, pads, repeats...)
// as int64 values. Names `op` and `what` on error.
absl::StatusOr<std::vector<int64_t>> ReadInt64Vector(absl::string_view op, absl::string_view what,
                                                     const Tensor& t);

// Reads a single-element int32/int64 tensor (scalar or shape [1]).
absl::StatusOr<int64_t> ReadInt64Scalar(absl::string_view op, absl::string_view what, const Tensor& t);

// Reads a single-element float32/float64 tensor as double.
absl::StatusOr<double> ReadFloatScalar(absl::string_view op, absl::string_view what, const Tensor& t);

// Checks `shape` (computed from inputs) is allocatable; names `op`.
absl::Status ValidateOutputShape(absl::string_view op, const Shape& shape, DataType type);

// Calls fn(U{}) with U an unsigned integer type of `elem_size` bytes (1, 2, 4
// or 8), so data movement is written once for every element type.
template <typename Fn>
void DispatchElementSize(size_t elem_size, Fn&& fn) {
  switch (elem_size) {
    case 1: fn(uint8_t{}); break;
    case 2: fn(uint16_t{}); break;
    case 4: fn(uint32_t{}); break;
    default: fn(uint64_t{}); break;
  }
}

// Wraps a stateless compute function as a kernel.
template <typename Fn>
absl::StatusOr<std::unique_ptr<OpKernel>> MakeKernel(Fn fn) {
  return std::unique_ptr<OpKernel>(std::make_unique<FunctionKernel>(std::move(fn)));
}

// Registers an ai.onnx kernel.
void RegisterOp(KernelRegistry& registry, absl::string_view op_type, KernelFactory factory,
                bool output_aliases_input = false, bool deterministic = true);

// One registration function per tensor_ops_<theme>.cc file; all are called
// from RegisterTensorKernels (tensor_ops.cc).
void RegisterShapeViewKernels(KernelRegistry& registry);     // tensor_ops_view.cc
void RegisterShapeQueryKernels(KernelRegistry& registry);    // tensor_ops_generate.cc
void RegisterConcatSplitKernels(KernelRegistry& registry);   // tensor_ops_concat.cc
void RegisterSliceKernels(KernelRegistry& registry);         // tensor_ops_slice.cc
void RegisterGatherKernels(KernelRegistry& registry);        // tensor_ops_gather.cc
void RegisterLayoutKernels(KernelRegistry& registry);        // tensor_ops_layout.cc
void RegisterReplicateKernels(KernelRegistry& registry);     // tensor_ops_replicate.cc
void RegisterPadKernels(KernelRegistry& registry);           // tensor_ops_pad.cc
void RegisterTriluKernels(KernelRegistry& registry);         // tensor_ops_trilu.cc

}  // namespace tessera::engine::tensor_ops
