// TopK (ai.onnx opsets 1, 10, 11): the k largest (or, with largest=0, the
// smallest) elements along `axis` (default -1) and their int64 indices.
//
// k is the `k` attribute before opset 10 and a one-element int64 input from
// opset 10. Equal values are ordered by lower index first, as the ONNX tests
// expect. Results are always sorted (sorted=0 allows any order, so sorting
// is a valid choice). NaN is treated as larger than every number.
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
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
// Up to this k, TopK keeps a sorted list of the best k instead of selecting.
constexpr int64_t kSmallK = 32;

template <typename T>
inline bool IsNan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    (void)v;
    return false;
  }
}

// Strict weak order: "a comes before b" in the result.
template <typename T, bool kLargest>
struct Before {
  bool operator()(const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b) const {
    const bool a_nan = IsNan(a.first), b_nan = IsNan(b.first);
    if (a_nan || b_nan) {
      if (a_nan && b_nan) return a.second < b.second;
      return kLargest ? a_nan : b_nan;
    }
    if (a.first != b.first) return kLargest ? a.first > b.first : a.first < b.first;
    return a.second < b.second;
  }
};

template <typename T, bool kLargest>
void RunTopK(const T* x, T* values, int64_t* indices, int64_t outer, int64_t n, int64_t inner, int64_t k,
             int threads) {
  const int64_t slices = outer * inner;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n));
  ParallelFor(threads, slices, grain, [&](int64_t begin, int64_t end) {
    std::vector<std::pair<T, int64_t>> items(n);
    Before<T, kLargest> before;
    for (int64_t s = begin; s < end; ++s) {
      const int64_t o = s / inner;
      const int64_t j = s % inner;
      const T* src = x + o * n * inner + j;
      T* dst_values = values + o * k * inner + j;
      int64_t* dst_indices = indices + o * k * inner + j;
      if (k == 1) {
        std::pair<T, int64_t> best{src[0], 0};
        for (int64_t i = 1; i < n; ++i) {
          const std::pair<T, int64_t> candidate{src[i * inner], i};
          if (before(candidate, best)) best = candidate;
        }
        dst_values[0] = best.first;
        dst_indices[0] = best.second;
        continue;
      }
      if (k <= kSmallK && k * 8 <= n) {
        // Small k: keep the best k sorted; most elements lose against the
        // current k-th and cost one comparison.
        for (int64_t i = 0; i < k; ++i) items[i] = {src[i * inner], i};
        std::sort(items.begin(), items.begin() + k, before);
        for (int64_t i = k; i < n; ++i) {
          const std::pair<T, int64_t> candidate{src[i * inner], i};
          if (!before(candidate, items[k - 1])) continue;
          int64_t pos = k - 1;
          while (pos > 0 && before(candidate, items[pos - 1])) {
            items[pos] = items[pos - 1];
            --pos;
          }
          items[pos] = candidate;
        }
      } else {
        for (int64_t i = 0; i < n; ++i) items[i] = {src[i * inner], i};
        if (k < n) std::nth_element(items.begin(), items.begin() + (k - 1), items.end(), before);
        std::sort(items.begin(), items.begin() + k, before);
      }
      for (int64_t i = 0; i < k; ++i) {
        dst_values[i * inner] = items[i].first;
        dst_indices[i * inner] = items[i].second;
      }
    }
  });
}

class TopKKernel : public OpKernel {
 public:
  TopKKernel(int64_t axis, bool largest, std::optional<int64_t> k_attribute)
      : axis_(axis), largest_(largest), k_attribute_(k_attribute) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* input = ctx.input(0);
    if (input == nullptr) return absl::InvalidArgumentError("TopK: missing input X");
    int64_t k = 0;
    if (k_attribute_.has_value()) {
      k = *k_attribute_;
    } else {
      const Tensor* k_tensor = ctx.input(1);
      if (k_tensor == nullptr) return absl::InvalidArgumentError("TopK: missing input K");
      TESSERA_ASSIGN_OR_RETURN(k, ReadScalarInt("TopK", "K", *k_tensor));
    }
    const Shape& shape = input->shape();
    const int rank = input->rank();
    if (rank == 0) return absl::InvalidArgumentError("TopK: input must have rank >= 1, got a scalar");
    TESSERA_ASSIGN_OR_RETURN(const int axis, NormalizeAxis("TopK", axis_, rank));
    const int64_t n = shape[axis];
    if (k < 0 || k > n) {
      return absl::InvalidArgumentError(
          absl::StrCat("TopK: k = ", k, " is out of range for axis ", axis, " of size ", n));
    }
    Shape out_shape = shape;
    out_shape[axis] = k;
    const int64_t outer = DimProduct(shape, 0, axis);
    const int64_t inner = DimProduct(shape, axis + 1, rank);
    absl::Status status =
        DispatchType<float, double, int32_t, int64_t, int8_t, uint8_t>(input->dtype(), [&](auto tag) -> absl::Status {
          using T = decltype(tag);
          // An output nobody asked for still needs somewhere to be written.
          Tensor values_scratch, indices_scratch;
          Tensor* values = ctx.output_requested(0) ? ctx.AllocateOutput(0, input->dtype(), out_shape)
                                                   : &(values_scratch = Tensor::Allocate(input->dtype(), out_shape));
          Tensor* indices = ctx.output_requested(1) ? ctx.AllocateOutput(1, DataType::kInt64, out_shape)
                                                    : &(indices_scratch = Tensor::Allocate(DataType::kInt64, out_shape));
          if (values->num_elements() == 0) return absl::OkStatus();
          if (largest_) {
            RunTopK<T, true>(input->data<T>(), values->data<T>(), indices->data<int64_t>(), outer, n, inner, k,
                             ctx.num_threads());
          } else {
            RunTopK<T, false>(input->data<T>(), values->data<T>(), indices->data<int64_t>(), outer, n, inner, k,
                              ctx.num_threads());
          }
          return absl::OkStatus();
        });
    if (!status.ok()) {
      return absl::UnimplementedError(
          absl::StrCat("TopK: element type ", DataTypeName(input->dtype()), " is not supported"));
    }
    return status;
  }

 private:
  int64_t axis_;
  bool largest_;
  std::optional<int64_t> k_attribute_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> CreateTopK(const KernelInit& init) {
  std::optional<int64_t> k_attribute;
  if (init.opset < 10) {
    if (!init.attrs.Has("k")) return absl::InvalidArgumentError("TopK: attribute k is required before opset 10");
    k_attribute = init.attrs.GetInt("k", 0);
  }
  return std::unique_ptr<OpKernel>(std::make_unique<TopKKernel>(
      init.attrs.GetInt("axis", -1), init.attrs.GetInt("largest", 1) != 0, k_attribute));
}

}  // namespace

void RegisterTopKKernel(KernelRegistry& registry) { registry.Register("TopK", CreateTopK); }

}  // namespace tessera::engine
