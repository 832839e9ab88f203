// LRN: local response normalization across channels,
//   y = x / (bias + alpha / size * sum of x^2 over nearby channels)^beta
// where the window of channel c is [c - floor((size-1)/2), c + ceil((size-1)/2)]
// clipped to the valid channels. Each (n, c) plane is computed on its own (in
// parallel) by accumulating squared neighbor planes into a row buffer.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/normalization.h"
#include "worker/engine/kernels/parallel.h"

namespace tessera::engine {
namespace {

class LrnKernel : public OpKernel {
 public:
  LrnKernel(double alpha, double beta, double bias, int64_t size)
      : alpha_(alpha), beta_(beta), bias_(bias), size_(size) {}

  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    const int64_t size = init.attrs.GetInt("size", 0);
    if (size <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("LRN: attribute size is required and must be positive, got ", size));
    }
    return std::make_unique<LrnKernel>(init.attrs.GetFloat("alpha", 1e-4f), init.attrs.GetFloat("beta", 0.75f),
                                       init.attrs.GetFloat("bias", 1.0f), size);
  }

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return absl::InvalidArgumentError("LRN: input X is missing");
    if (x->rank() < 2) {
      return absl::InvalidArgumentError(absl::StrCat("LRN: input X of shape ", ShapeToString(x->shape()),
                                                     " must have rank >= 2 (N, C, ...)"));
    }
    if (x->dtype() != DataType::kFloat32 && x->dtype() != DataType::kFloat64) {
      return absl::UnimplementedError(absl::StrCat("LRN: element type ", DataTypeName(x->dtype()), " is not supported"));
    }
    const int64_t n = x->dim(0), channels = x->dim(1);
    int64_t inner = 1;
    for (int i = 2; i < x->rank(); ++i) inner *= x->dim(i);
    const int64_t before = (size_ - 1) / 2, after = size_ - 1 - before;
    Tensor* y = ctx.AllocateOutput(0, x->dtype(), x->shape());
    return DispatchType<float, double>(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* in = x->data<T>();
      T* out = y->data<T>();
      const T scale = static_cast<T>(alpha_ / static_cast<double>(size_));
      const T bias = static_cast<T>(bias_), neg_beta = static_cast<T>(-beta_);
      const bool beta_is_three_quarters = beta_ == 0.75;
      const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner * size_));
      ParallelFor(ctx.num_threads(), n * channels, grain, [&](int64_t begin, int64_t end) {
        std::vector<T> sum(inner);
        for (int64_t p = begin; p < end; ++p) {
          const int64_t c = p % channels, base = p - c;
          std::fill(sum.begin(), sum.end(), T(0));
          const int64_t lo = std::max<int64_t>(0, c - before), hi = std::min<int64_t>(channels - 1, c + after);
          for (int64_t k = lo; k <= hi; ++k) {
            const T* src = in + (base + k) * inner;
            for (int64_t i = 0; i < inner; ++i) sum[i] += src[i] * src[i];
          }
          const T* src = in + p * inner;
          T* dst = out + p * inner;
          if (beta_is_three_quarters) {  // t^-0.75 = 1 / (sqrt(t) * sqrt(sqrt(t)))
            for (int64_t i = 0; i < inner; ++i) {
              const T t = bias + scale * sum[i];
              const T r = std::sqrt(t);
              dst[i] = src[i] / (r * std::sqrt(r));
            }
          } else {
            for (int64_t i = 0; i < inner; ++i) dst[i] = src[i] * std::pow(bias + scale * sum[i], neg_beta);
          }
        }
      });
      return absl::OkStatus();
    });
  }

 private:
  double alpha_, beta_, bias_;
  int64_t size_;
};

}  // namespace

void RegisterLrnKernel(KernelRegistry& registry) { registry.Register("LRN", FactoryOf<LrnKernel>()); }

}  // namespace tessera::engine
