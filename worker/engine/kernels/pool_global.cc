// GlobalAveragePool and GlobalMaxPool: one value per (n, c) plane, computed
// with the lane-split reductions of pool_contiguous_math.h.
#include <algorithm>
#include <cstdint>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/pool.h"
#include "worker/engine/kernels/pool_contiguous_math.h"

namespace tessera::engine {
namespace {

enum class GlobalPoolKind { kAverage, kMax };

absl::Status GlobalPool(KernelContext& ctx, GlobalPoolKind kind) {
  const char* op_name = kind == GlobalPoolKind::kAverage ? "GlobalAveragePool" : "GlobalMaxPool";
  const Tensor* x = ctx.input(0);
  if (x == nullptr) return absl::InvalidArgumentError(absl::StrCat(op_name, ": input X is missing"));
  if (x->rank() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(op_name, ": input of shape ", ShapeToString(x->shape()),
                                                   " must have rank >= 2 (N, C, spatial...)"));
  }
  if (x->dtype() != DataType::kFloat32 && x->dtype() != DataType::kFloat64) {
    return absl::UnimplementedError(
        absl::StrCat(op_name, ": element type ", DataTypeName(x->dtype()), " is not supported"));
  }
  Shape out_shape = x->shape();
  int64_t plane = 1;
  for (int i = 2; i < x->rank(); ++i) {
    plane *= out_shape[i];
    out_shape[i] = 1;
  }
  const int64_t planes = x->dim(0) * x->dim(1);
  if (plane == 0 && planes > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op_name, ": input of shape ", ShapeToString(x->shape()), " has an empty spatial extent"));
  }
  Tensor* y = ctx.AllocateOutput(0, x->dtype(), out_shape);
  return DispatchType<float, double>(x->dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x->data<T>();
    T* out = y->data<T>();
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane));
    ParallelFor(ctx.num_threads(), planes, grain, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const T* src = in + p * plane;
        out[p] = kind == GlobalPoolKind::kAverage ? SumContiguous(src, plane) / static_cast<T>(plane)
                                                  : MaxContiguous(src, plane);
      }
    });
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterGlobalPoolKernels(KernelRegistry& registry) {
  registry.Register("GlobalAveragePool", [](const KernelInit&) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    return std::make_unique<FunctionKernel>([](KernelContext& ctx) { return GlobalPool(ctx, GlobalPoolKind::kAverage); });
  });
  registry.Register("GlobalMaxPool", [](const KernelInit&) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    return std::make_unique<FunctionKernel>([](KernelContext& ctx) { return GlobalPool(ctx, GlobalPoolKind::kMax); });
  });
}

}  // namespace tessera::engine
