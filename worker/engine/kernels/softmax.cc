// Softmax and LogSoftmax (ai.onnx opsets 1..13+).
//
// Opsets < 13 coerce the input to 2-D at `axis` (default 1) and normalize
// over the flattened trailing dimensions; opset 13 normalizes along the
// single dimension `axis` (default -1). Both subtract the maximum first, so
// large inputs do not overflow. The common case (normalizing contiguous rows,
// e.g. attention scores [B, heads, S, S] along the last axis) runs row by
// row with vectorized max / exp / sum / scale passes; a non-innermost axis is
// handled column-block-wise, still with contiguous inner loops.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/reduce_axes.h"
#include "worker/engine/kernels/reduce_group.h"
#include "worker/engine/kernels/softmax_exp.h"

namespace tessera::engine {
namespace {

constexpr int64_t kGrain = 16384;
constexpr int kLanes = 16;

inline float Exp(float x) { return VectorizableExp(x); }
inline double Exp(double x) { return std::exp(x); }

template <typename T>
T RowMax(const T* x, int64_t n) {
  T result = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  if (n >= kLanes) {
    T lanes[kLanes];
    for (int l = 0; l < kLanes; ++l) lanes[l] = result;
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] = lanes[l] > x[i + l] ? lanes[l] : x[i + l];
    }
    for (int l = 0; l < kLanes; ++l) result = result > lanes[l] ? result : lanes[l];
  }
  for (; i < n; ++i) result = result > x[i] ? result : x[i];
  return result;
}

template <typename T>
T RowSum(const T* x, int64_t n) {
  T result = 0;
  int64_t i = 0;
  if (n >= kLanes) {
    T lanes[kLanes] = {};
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] += x[i + l];
    }
    for (int l = 0; l < kLanes; ++l) result += lanes[l];
  }
  for (; i < n; ++i) result += x[i];
  return result;
}

// Normalizes one contiguous row of n elements (y may not alias x).
template <typename T, bool kLog>
void SoftmaxRow(const T* x, T* y, int64_t n) {
  const T max = RowMax(x, n);
  for (int64_t i = 0; i < n; ++i) y[i] = Exp(x[i] - max);
  const T sum = RowSum(y, n);
  if constexpr (kLog) {
    // (x - max) - log(sum), not x - (max + log(sum)): the latter loses the
    // low bits of large inputs.
    const T log_sum = std::log(sum);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - max) - log_sum;
  } else {
    const T scale = T(1) / sum;
    for (int64_t i = 0; i < n; ++i) y[i] *= scale;
  }
}

// Normalizes along the middle dimension of a [n, inner] block, for columns
// [j0, j0 + len); `max` and `sum` are scratch of at least len elements.
template <typename T, bool kLog>
void SoftmaxColumns(const T* x, T* y, int64_t n, int64_t inner, int64_t j0, int64_t len, T* max, T* sum) {
  for (int64_t j = 0; j < len; ++j) {
    max[j] = -std::numeric_limits<T>::infinity();
    sum[j] = 0;
  }
  for (int64_t r = 0; r < n; ++r) {
    const T* row = x + r * inner + j0;
    for (int64_t j = 0; j < len; ++j) max[j] = max[j] > row[j] ? max[j] : row[j];
  }
  for (int64_t r = 0; r < n; ++r) {
    const T* row = x + r * inner + j0;
    T* out = y + r * inner + j0;
    for (int64_t j = 0; j < len; ++j) out[j] = Exp(row[j] - max[j]);
    for (int64_t j = 0; j < len; ++j) sum[j] += out[j];
  }
  if constexpr (kLog) {
    for (int64_t j = 0; j < len; ++j) sum[j] = std::log(sum[j]);
    for (int64_t r = 0; r < n; ++r) {
      const T* row = x + r * inner + j0;
      T* out = y + r * inner + j0;
      for (int64_t j = 0; j < len; ++j) out[j] = (row[j] - max[j]) - sum[j];
    }
  } else {
    for (int64_t j = 0; j < len; ++j) sum[j] = T(1) / sum[j];
    for (int64_t r = 0; r < n; ++r) {
      T* out = y + r * inner + j0;
      for (int64_t j = 0; j < len; ++j) out[j] *= sum[j];
    }
  }
}

template <typename T, bool kLog>
void RunSoftmax(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, int threads) {
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n));
    ParallelFor(threads, outer, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) SoftmaxRow<T, kLog>(x + o * n, y + o * n, n);
    });
    return;
  }
  const int64_t block = std::min<int64_t>(inner, 256);
  const int64_t blocks = (inner + block - 1) / block;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * block));
  ParallelFor(threads, outer * blocks, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> max(block), sum(block);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / blocks;
      const int64_t j0 = (item % blocks) * block;
      const int64_t len = std::min(block, inner - j0);
      SoftmaxColumns<T, kLog>(x + o * n * inner, y + o * n * inner, n, inner, j0, len, max.data(), sum.data());
    }
  });
}

class SoftmaxKernel : public OpKernel {
 public:
  SoftmaxKernel(std::string op, bool log, int64_t axis, bool coerce_2d)
      : op_(std::move(op)), log_(log), axis_(axis), coerce_2d_(coerce_2d) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* input = ctx.input(0);
    if (input == nullptr) return absl::InvalidArgumentError(absl::StrCat(op_, ": missing input"));
    const Shape& shape = input->shape();
    const int rank = input->rank();
    if (rank == 0) return absl::InvalidArgumentError(absl::StrCat(op_, ": input must have rank >= 1, got a scalar"));
    TESSERA_ASSIGN_OR_RETURN(const int axis, NormalizeAxis(op_, axis_, rank));
    const int64_t outer = DimProduct(shape, 0, axis);
    const int64_t n = coerce_2d_ ? DimProduct(shape, axis, rank) : shape[axis];
    const int64_t inner = coerce_2d_ ? 1 : DimProduct(shape, axis + 1, rank);
    absl::Status status = DispatchType<float, double>(input->dtype(), [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      Tensor* out = ctx.AllocateOutput(0, input->dtype(), shape);
      if (out->num_elements() == 0) return absl::OkStatus();
      if (log_) {
        RunSoftmax<T, true>(input->data<T>(), out->data<T>(), outer, n, inner, ctx.num_threads());
      } else {
        RunSoftmax<T, false>(input->data<T>(), out->data<T>(), outer, n, inner, ctx.num_threads());
      }
      return absl::OkStatus();
    });
    if (!status.ok()) {
      return absl::UnimplementedError(
          absl::StrCat(op_, ": element type ", DataTypeName(input->dtype()), " is not supported"));
    }
    return status;
  }

 private:
  std::string op_;
  bool log_;
  int64_t axis_;
  bool coerce_2d_;
};

KernelFactory SoftmaxFactory(std::string op, bool log) {
  return [op, log](const KernelInit& init) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    const bool coerce_2d = init.opset < 13;
    const int64_t axis = init.attrs.GetInt("axis", coerce_2d ? 1 : -1);
    return std::unique_ptr<OpKernel>(std::make_unique<SoftmaxKernel>(op, log, axis, coerce_2d));
  };
}

}  // namespace

void RegisterSoftmaxKernels(KernelRegistry& registry) {
  registry.Register("Softmax", SoftmaxFactory("Softmax", false));
  registry.Register("LogSoftmax", SoftmaxFactory("LogSoftmax", true));
}

}  // namespace tessera::engine
