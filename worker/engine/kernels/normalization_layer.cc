// LayerNormalization (opset 17): each row of the trailing dims X.shape[axis:]
// is normalized on its own, y = (x - mean) * inv_std_dev * Scale + B.
//
// Rows are spread over threads; each row takes two vectorized passes for the
// statistics (mean, then squared deviations: accurate for rows with large
// means) and one fused pass for the output.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/broadcast.h"
#include "worker/engine/kernels/normalization.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/pool_contiguous_math.h"

namespace tessera::engine {
namespace {

constexpr int64_t kParallelGrain = 16384;

// Returns `param` (Scale or B) as a dense vector of the normalized shape:
// the tensor itself when it already has that many elements laid out the same
// way, else a broadcast copy in `storage`. InvalidArgument when `param` is
// not unidirectionally broadcastable to `normalized`.
template <typename T>
absl::StatusOr<const T*> DenseParam(const Tensor& param, const Shape& normalized, absl::string_view name,
                                    std::vector<T>& storage) {
  const Shape& ps = param.shape();
  bool broadcastable = ps.size() <= normalized.size();
  for (size_t i = 0; broadcastable && i < ps.size(); ++i) {
    const int64_t d = ps[ps.size() - 1 - i], nd = normalized[normalized.size() - 1 - i];
    broadcastable = d == nd || d == 1;
  }
  if (!broadcastable) {
    return absl::InvalidArgumentError(absl::StrCat("LayerNormalization: ", name, " of shape ", ShapeToString(ps),
                                                   " is not broadcastable to the normalized shape ",
                                                   ShapeToString(normalized)));
  }
  const int64_t count = NumElements(normalized);
  if (param.num_elements() == count) return param.data<T>();
  storage.resize(count);
  const std::vector<int64_t> strides = BroadcastStrides(ps, normalized);
  const T* src = param.data<T>();
  std::vector<int64_t> index(normalized.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t offset = 0;
    for (size_t d = 0; d < index.size(); ++d) offset += index[d] * strides[d];
    storage[i] = src[offset];
    for (int d = static_cast<int>(index.size()) - 1; d >= 0; --d) {
      if (++index[d] < normalized[d]) break;
      index[d] = 0;
    }
  }
  return storage.data();
}

template <typename T, bool kHasBias>
void NormalizeRows(const T* x, T* y, int64_t rows, int64_t cols, const T* scale, const T* bias, double epsilon,
                   double* means, double* inv_std_devs, int threads) {
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, cols));
  ParallelFor(threads, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* src = x + r * cols;
      T* dst = y + r * cols;
      const T mean = SumContiguous(src, cols) / static_cast<T>(cols);
      const T var = SumSquaredDeviations(src, cols, mean) / static_cast<T>(cols);
      const T inv = static_cast<T>(1.0 / std::sqrt(static_cast<double>(var) + epsilon));
      if constexpr (kHasBias) {
        for (int64_t i = 0; i < cols; ++i) dst[i] = (src[i] - mean) * inv * scale[i] + bias[i];
      } else {
        for (int64_t i = 0; i < cols; ++i) dst[i] = (src[i] - mean) * inv * scale[i];
      }
      if (means != nullptr) means[r] = mean;
      if (inv_std_devs != nullptr) inv_std_devs[r] = inv;
    }
  });
}

class LayerNormalizationKernel : public OpKernel {
 public:
  LayerNormalizationKernel(int64_t axis, double epsilon, DataType stash_type)
      : axis_(axis), epsilon_(epsilon), stash_type_(stash_type) {}

  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    const int64_t stash = init.attrs.GetInt("stash_type", 1);
    DataType stash_type;
    if (stash == static_cast<int64_t>(DataType::kFloat32)) {
      stash_type = DataType::kFloat32;
    } else if (stash == static_cast<int64_t>(DataType::kFloat64)) {
      stash_type = DataType::kFloat64;
    } else {
      return absl::UnimplementedError(absl::StrCat("LayerNormalization: stash_type ", stash, " (",
                                                   OnnxTypeName(static_cast<int32_t>(stash)),
                                                   ") is not supported; use 1 (float)"));
    }
    return std::make_unique<LayerNormalizationKernel>(init.attrs.GetInt("axis", -1),
                                                      init.attrs.GetFloat("epsilon", 1e-5f), stash_type);
  }

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* scale = ctx.input(1);
    const Tensor* bias = ctx.input(2);
    if (x == nullptr || scale == nullptr) {
      return absl::InvalidArgumentError("LayerNormalization: inputs X and Scale are required");
    }
    if (x->dtype() != DataType::kFloat32 && x->dtype() != DataType::kFloat64) {
      return absl::UnimplementedError(
          absl::StrCat("LayerNormalization: element type ", DataTypeName(x->dtype()), " is not supported"));
    }
    if (scale->dtype() != x->dtype() || (bias != nullptr && bias->dtype() != x->dtype())) {
      return absl::InvalidArgumentError(absl::StrCat("LayerNormalization: Scale and B must have X's element type ",
                                                     DataTypeName(x->dtype())));
    }
    const int64_t rank = x->rank();
    if (axis_ < -rank || axis_ > rank) {
      return absl::InvalidArgumentError(absl::StrCat("LayerNormalization: axis ", axis_, " is out of range for X of shape ",
                                                     ShapeToString(x->shape())));
    }
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    const Shape normalized(x->shape().begin() + axis, x->shape().end());
    int64_t rows = 1;
    for (int64_t i = 0; i < axis; ++i) rows *= x->dim(static_cast<int>(i));
    const int64_t cols = NumElements(normalized);

    Shape stat_shape(x->shape().begin(), x->shape().begin() + axis);
    stat_shape.resize(rank, 1);
    std::vector<double> means, inv_std_devs;
    const bool want_mean = ctx.num_outputs() > 1 && ctx.output_requested(1);
    const bool want_inv = ctx.num_outputs() > 2 && ctx.output_requested(2);
    if (want_mean) means.resize(rows);
    if (want_inv) inv_std_devs.resize(rows);

    Tensor* y = ctx.AllocateOutput(0, x->dtype(), x->shape());
    absl::Status status = DispatchType<float, double>(x->dtype(), [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      std::vector<T> scale_storage, bias_storage;
      TESSERA_ASSIGN_OR_RETURN(const T* s, DenseParam<T>(*scale, normalized, "Scale", scale_storage));
      double* m = want_mean ? means.data() : nullptr;
      double* v = want_inv ? inv_std_devs.data() : nullptr;
      if (bias != nullptr) {
        TESSERA_ASSIGN_OR_RETURN(const T* b, DenseParam<T>(*bias, normalized, "B", bias_storage));
        NormalizeRows<T, true>(x->data<T>(), y->data<T>(), rows, cols, s, b, epsilon_, m, v, ctx.num_threads());
      } else {
        NormalizeRows<T, false>(x->data<T>(), y->data<T>(), rows, cols, s, nullptr, epsilon_, m, v,
                                ctx.num_threads());
      }
      return absl::OkStatus();
    });
    TESSERA_RETURN_IF_ERROR(status);
    auto write_stat = [&](int index, const std::vector<double>& values) {
      Tensor* t = ctx.AllocateOutput(index, stash_type_, stat_shape);
      if (stash_type_ == DataType::kFloat32) {
        std::copy(values.begin(), values.end(), t->data<float>());
      } else {
        std::copy(values.begin(), values.end(), t->data<double>());
      }
    };
    if (want_mean) write_stat(1, means);
    if (want_inv) write_stat(2, inv_std_devs);
    return absl::OkStatus();
  }

 private:
  int64_t axis_;
  double epsilon_;
  DataType stash_type_;
};

}  // namespace

void RegisterLayerNormalizationKernel(KernelRegistry& registry) {
  registry.Register("LayerNormalization", FactoryOf<LayerNormalizationKernel>());
}

}  // namespace tessera::engine
