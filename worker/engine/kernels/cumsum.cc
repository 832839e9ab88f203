// CumSum (ai.onnx opsets 11, 14): running sums along the dimension given by
// the scalar `axis` input (int32 or int64, negative counts from the back).
// `exclusive` leaves out the element itself (the first sum is 0); `reverse`
// sums from the end. Along the last axis each row is a sequential scan;
// along any other axis whole rows are added at once (vectorized).
#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/reduce_axes.h"
#include "worker/engine/kernels/reduce_group.h"

namespace tessera::engine {
namespace {

constexpr int64_t kGrain = 16384;

template <typename T>
void RunCumSum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse,
               int threads) {
  // Position r of the scan (0 = where it starts) is at index `at(r)`.
  auto at = [n, reverse](int64_t r) { return reverse ? n - 1 - r : r; };
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n));
    ParallelFor(threads, outer, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const T* src = x + o * n;
        T* dst = y + o * n;
        T sum = T(0);
        for (int64_t r = 0; r < n; ++r) {
          const int64_t i = at(r);
          if (exclusive) {
            dst[i] = sum;
            sum += src[i];
          } else {
            sum += src[i];
            dst[i] = sum;
          }
        }
      }
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * inner));
  ParallelFor(threads, outer, grain, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const T* src = x + o * n * inner;
      T* dst = y + o * n * inner;
      T* first = dst + at(0) * inner;
      if (exclusive) {
        std::fill(first, first + inner, T(0));
      } else {
        std::copy(src + at(0) * inner, src + at(0) * inner + inner, first);
      }
      for (int64_t r = 1; r < n; ++r) {
        const T* prev_sum = dst + at(r - 1) * inner;
        const T* add = src + (exclusive ? at(r - 1) : at(r)) * inner;
        T* out = dst + at(r) * inner;
        for (int64_t j = 0; j < inner; ++j) out[j] = prev_sum[j] + add[j];
      }
    }
  });
}

class CumSumKernel : public OpKernel {
 public:
  CumSumKernel(bool exclusive, bool reverse) : exclusive_(exclusive), reverse_(reverse) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* input = ctx.input(0);
    const Tensor* axis_tensor = ctx.input(1);
    if (input == nullptr) return absl::InvalidArgumentError("CumSum: missing input x");
    if (axis_tensor == nullptr) return absl::InvalidArgumentError("CumSum: missing input axis");
    TESSERA_ASSIGN_OR_RETURN(const int64_t raw_axis, ReadScalarInt("CumSum", "axis", *axis_tensor));
    const int rank = input->rank();
    if (rank == 0) return absl::InvalidArgumentError("CumSum: input must have rank >= 1, got a scalar");
    TESSERA_ASSIGN_OR_RETURN(const int axis, NormalizeAxis("CumSum", raw_axis, rank));
    const Shape& shape = input->shape();
    const int64_t outer = DimProduct(shape, 0, axis);
    const int64_t n = shape[axis];
    const int64_t inner = DimProduct(shape, axis + 1, rank);
    absl::Status status = DispatchType<float, double, int32_t, int64_t>(input->dtype(), [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      Tensor* out = ctx.AllocateOutput(0, input->dtype(), shape);
      if (out->num_elements() == 0) return absl::OkStatus();
      RunCumSum<T>(input->data<T>(), out->data<T>(), outer, n, inner, exclusive_, reverse_, ctx.num_threads());
      return absl::OkStatus();
    });
    if (!status.ok()) {
      return absl::UnimplementedError(
          absl::StrCat("CumSum: element type ", DataTypeName(input->dtype()), " is not supported"));
    }
    return status;
  }

 private:
  bool exclusive_;
  bool reverse_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> CreateCumSum(const KernelInit& init) {
  return std::unique_ptr<OpKernel>(std::make_unique<CumSumKernel>(init.attrs.GetInt("exclusive", 0) != 0,
                                                                  init.attrs.GetInt("reverse", 0) != 0));
}

}  // namespace

void RegisterCumSumKernel(KernelRegistry& registry) { registry.Register("CumSum", CreateCumSum); }

}  // namespace tessera::engine
