// ArgMax and ArgMin (ai.onnx opsets 1..13): int64 indices of the largest /
// smallest element along `axis` (default 0), `keepdims` (default 1), and from
// opset 12 `select_last_index` (default 0: the first occurrence wins ties).
// NaN compares as neither larger nor smaller, so it is never selected unless
// it is the first element. Contiguous rows (the last axis) take a vectorized
// pass for the extreme value, then locate it.
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

// True when v should replace the current best b.
template <bool kMax, bool kLast, typename T>
inline bool Better(T v, T b) {
  if constexpr (kMax) {
    return kLast ? v >= b : v > b;
  } else {
    return kLast ? v <= b : v < b;
  }
}

// The extreme value of a contiguous row, with independent lanes so the loop
// vectorizes.
template <typename T, bool kMax>
T RowExtreme(const T* x, int64_t n) {
  constexpr int kLanes = 16;
  T result = x[0];
  int64_t i = 0;
  if (n >= kLanes) {
    T lanes[kLanes];
    for (int l = 0; l < kLanes; ++l) lanes[l] = x[l];
    for (i = kLanes; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] = Better<kMax, false>(x[i + l], lanes[l]) ? x[i + l] : lanes[l];
    }
    for (int l = 0; l < kLanes; ++l) result = Better<kMax, false>(lanes[l], result) ? lanes[l] : result;
  }
  for (; i < n; ++i) result = Better<kMax, false>(x[i], result) ? x[i] : result;
  return result;
}

// Index of the first (or last) extreme of a contiguous row: the extreme
// value is found with a vectorized pass, then located; rows where that
// fails (NaN) fall back to a sequential scan.
template <typename T, bool kMax, bool kLast>
int64_t RowArg(const T* row, int64_t n) {
  const T best = RowExtreme<T, kMax>(row, n);
  if constexpr (kLast) {
    for (int64_t i = n - 1; i >= 0; --i) {
      if (row[i] == best) return i;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      if (row[i] == best) return i;
    }
  }
  T value = row[0];
  int64_t index = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (Better<kMax, kLast>(row[i], value)) {
      value = row[i];
      index = i;
    }
  }
  return index;
}

template <typename T, bool kMax, bool kLast>
void RunArg(const T* x, int64_t* out, int64_t outer, int64_t n, int64_t inner, int threads) {
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n));
    ParallelFor(threads, outer, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) out[o] = RowArg<T, kMax, kLast>(x + o * n, n);
    });
    return;
  }
  const int64_t block = std::min<int64_t>(inner, 512);
  const int64_t blocks = (inner + block - 1) / block;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * block));
  ParallelFor(threads, outer * blocks, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> best(block);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item / blocks;
      const int64_t j0 = (item % blocks) * block;
      const int64_t len = std::min(block, inner - j0);
      const T* base = x + o * n * inner + j0;
      int64_t* idx = out + o * inner + j0;
      for (int64_t j = 0; j < len; ++j) {
        best[j] = base[j];
        idx[j] = 0;
      }
      for (int64_t r = 1; r < n; ++r) {
        const T* row = base + r * inner;
        for (int64_t j = 0; j < len; ++j) {
          const bool better = Better<kMax, kLast>(row[j], best[j]);
          best[j] = better ? row[j] : best[j];
          idx[j] = better ? r : idx[j];
        }
      }
    }
  });
}

class ArgKernel : public OpKernel {
 public:
  ArgKernel(std::string op, bool max, int64_t axis, bool keepdims, bool last)
      : op_(std::move(op)), max_(max), axis_(axis), keepdims_(keepdims), last_(last) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* input = ctx.input(0);
    if (input == nullptr) return absl::InvalidArgumentError(absl::StrCat(op_, ": missing input"));
    const Shape& shape = input->shape();
    const int rank = input->rank();
    if (rank == 0) return absl::InvalidArgumentError(absl::StrCat(op_, ": input must have rank >= 1, got a scalar"));
    TESSERA_ASSIGN_OR_RETURN(const int axis, NormalizeAxis(op_, axis_, rank));
    const int64_t n = shape[axis];
    Shape out_shape;
    for (int i = 0; i < rank; ++i) {
      if (i != axis) {
        out_shape.push_back(shape[i]);
      } else if (keepdims_) {
        out_shape.push_back(1);
      }
    }
    if (n == 0 && NumElements(out_shape) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(op_, ": cannot take the index of an empty axis ", axis, " of shape ", ShapeToString(shape)));
    }
    const int64_t outer = DimProduct(shape, 0, axis);
    const int64_t inner = DimProduct(shape, axis + 1, rank);
    absl::Status status =
        DispatchType<float, double, int32_t, int64_t, int8_t, uint8_t>(input->dtype(), [&](auto tag) -> absl::Status {
          using T = decltype(tag);
          Tensor* out = ctx.AllocateOutput(0, DataType::kInt64, out_shape);
          if (out->num_elements() == 0) return absl::OkStatus();
          const T* x = input->data<T>();
          int64_t* y = out->data<int64_t>();
          const int threads = ctx.num_threads();
          if (max_) {
            last_ ? RunArg<T, true, true>(x, y, outer, n, inner, threads)
                  : RunArg<T, true, false>(x, y, outer, n, inner, threads);
          } else {
            last_ ? RunArg<T, false, true>(x, y, outer, n, inner, threads)
                  : RunArg<T, false, false>(x, y, outer, n, inner, threads);
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
  bool max_;
  int64_t axis_;
  bool keepdims_;
  bool last_;
};

KernelFactory ArgFactory(std::string op, bool max) {
  return [op, max](const KernelInit& init) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    return std::unique_ptr<OpKernel>(std::make_unique<ArgKernel>(op, max, init.attrs.GetInt("axis", 0),
                                                                 init.attrs.GetInt("keepdims", 1) != 0,
                                                                 init.attrs.GetInt("select_last_index", 0) != 0));
  };
}

}  // namespace

void RegisterArgMinMaxKernels(KernelRegistry& registry) {
  registry.Register("ArgMax", ArgFactory("ArgMax", true));
  registry.Register("ArgMin", ArgFactory("ArgMin", false));
}

}  // namespace tessera::engine
