// BatchNormalization and InstanceNormalization over [N, C, spatial...].
//
// Both reduce to y = x * a[c] + b[c] on each contiguous (n, c) plane, with
// per-channel a and b derived from the statistics (given ones for inference
// BatchNormalization, computed ones for training mode and InstanceNorm).
// Statistics are computed in double per channel / plane; the per-element
// loop runs in the tensor's type and vectorizes.
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
#include "worker/engine/kernels/pool_contiguous_math.h"

namespace tessera::engine {
namespace {

constexpr int64_t kParallelGrain = 16384;

bool IsFloating(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat64; }

// Reads a per-channel parameter tensor (float or double) into doubles,
// checking it holds exactly `count` values.
absl::StatusOr<std::vector<double>> ReadChannelParam(const Tensor* t, absl::string_view op_name,
                                                      absl::string_view param, int64_t count) {
  if (t == nullptr) return absl::InvalidArgumentError(absl::StrCat(op_name, ": input ", param, " is missing"));
  if (!IsFloating(t->dtype())) {
    return absl::UnimplementedError(absl::StrCat(op_name, ": ", param, " of element type ",
                                                 DataTypeName(t->dtype()), " is not supported"));
  }
  if (t->num_elements() != count) {
    return absl::InvalidArgumentError(absl::StrCat(op_name, ": ", param, " of shape ", ShapeToString(t->shape()),
                                                   " must hold ", count, " values (one per channel)"));
  }
  std::vector<double> v(count);
  if (t->dtype() == DataType::kFloat32) {
    std::copy(t->data<float>(), t->data<float>() + count, v.begin());
  } else {
    std::copy(t->data<double>(), t->data<double>() + count, v.begin());
  }
  return v;
}

absl::Status CheckNormInput(const Tensor* x, absl::string_view op_name) {
  if (x == nullptr) return absl::InvalidArgumentError(absl::StrCat(op_name, ": input X is missing"));
  if (x->rank() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(op_name, ": input X of shape ", ShapeToString(x->shape()),
                                                   " must have rank >= 2 (N, C, ...)"));
  }
  if (!IsFloating(x->dtype())) {
    return absl::UnimplementedError(
        absl::StrCat(op_name, ": element type ", DataTypeName(x->dtype()), " is not supported"));
  }
  return absl::OkStatus();
}

// y[p, i] = x[p, i] * a[p % channels] + b[p % channels] for every plane p.
template <typename T>
void ScaleShiftPlanes(const T* x, T* y, int64_t planes, int64_t channels, int64_t inner,
                      const std::vector<double>& a, const std::vector<double>& b, int threads) {
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, inner));
  ParallelFor(threads, planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t c = p % channels;
      const T sa = static_cast<T>(a[c]), sb = static_cast<T>(b[c]);
      const T* src = x + p * inner;
      T* dst = y + p * inner;
      for (int64_t i = 0; i < inner; ++i) dst[i] = src[i] * sa + sb;
    }
  });
}

// Mean and (population) variance of channel c over all N planes.
template <typename T>
void ChannelStats(const T* x, int64_t n, int64_t channels, int64_t inner, int64_t c, double* mean, double* var) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += SumContiguous(x + (i * channels + c) * inner, inner);
  const double count = static_cast<double>(n * inner);
  const double m = count > 0 ? sum / count : 0.0;
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    sq += SumSquaredDeviations(x + (i * channels + c) * inner, inner, static_cast<T>(m));
  }
  *mean = m;
  *var = count > 0 ? sq / count : 0.0;
}

void WriteVector(Tensor* t, const std::vector<double>& v) {
  if (t->dtype() == DataType::kFloat32) {
    std::copy(v.begin(), v.end(), t->data<float>());
  } else {
    std::copy(v.begin(), v.end(), t->data<double>());
  }
}

class BatchNormalizationKernel : public OpKernel {
 public:
  BatchNormalizationKernel(int opset, double epsilon, double momentum, bool spatial, bool training)
      : opset_(opset), epsilon_(epsilon), momentum_(momentum), spatial_(spatial), training_(training) {}

  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    const double epsilon = init.attrs.GetFloat("epsilon", 1e-5f);
    const double momentum = init.attrs.GetFloat("momentum", 0.9f);
    const bool spatial = init.opset >= 9 || init.attrs.GetInt("spatial", 1) != 0;
    const bool training = init.opset >= 14 && init.attrs.GetInt("training_mode", 0) != 0;
    return std::make_unique<BatchNormalizationKernel>(init.opset, epsilon, momentum, spatial, training);
  }

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    TESSERA_RETURN_IF_ERROR(CheckNormInput(x, "BatchNormalization"));
    const int64_t n = x->dim(0);
    int64_t channels = x->dim(1), inner = 1;
    for (int i = 2; i < x->rank(); ++i) inner *= x->dim(i);
    if (!spatial_) {  // opset < 9, spatial=0: statistics per (c, d1, ..., dk)
      channels *= inner;
      inner = 1;
    }
    bool extra_outputs = false;
    for (int i = 1; i < ctx.num_outputs(); ++i) extra_outputs |= ctx.output_requested(i);
    if (opset_ < 14 && extra_outputs) {
      return absl::UnimplementedError(
          "BatchNormalization: the training outputs (mean, var, saved_mean, saved_var) of opsets < 14 are not "
          "supported; only inference (output Y) is");
    }
    TESSERA_ASSIGN_OR_RETURN(std::vector<double> scale, ReadChannelParam(ctx.input(1), "BatchNormalization", "scale", channels));
    TESSERA_ASSIGN_OR_RETURN(std::vector<double> bias, ReadChannelParam(ctx.input(2), "BatchNormalization", "B", channels));
    TESSERA_ASSIGN_OR_RETURN(std::vector<double> mean, ReadChannelParam(ctx.input(3), "BatchNormalization", "input_mean", channels));
    TESSERA_ASSIGN_OR_RETURN(std::vector<double> var, ReadChannelParam(ctx.input(4), "BatchNormalization", "input_var", channels));

    std::vector<double> batch_mean, batch_var;
    if (training_) {
      batch_mean.resize(channels);
      batch_var.resize(channels);
      absl::Status status = DispatchType<float, double>(x->dtype(), [&](auto tag) {
        using T = decltype(tag);
        const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, n * inner));
        ParallelFor(ctx.num_threads(), channels, grain, [&](int64_t begin, int64_t end) {
          for (int64_t c = begin; c < end; ++c) {
            ChannelStats<T>(x->data<T>(), n, channels, inner, c, &batch_mean[c], &batch_var[c]);
          }
        });
        return absl::OkStatus();
      });
      TESSERA_RETURN_IF_ERROR(status);
    }
    const std::vector<double>& use_mean = training_ ? batch_mean : mean;
    const std::vector<double>& use_var = training_ ? batch_var : var;
    std::vector<double> a(channels), b(channels);
    for (int64_t c = 0; c < channels; ++c) {
      a[c] = scale[c] / std::sqrt(use_var[c] + epsilon_);
      b[c] = bias[c] - use_mean[c] * a[c];
    }
    Tensor* y = ctx.AllocateOutput(0, x->dtype(), x->shape());
    absl::Status status = DispatchType<float, double>(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      ScaleShiftPlanes<T>(x->data<T>(), y->data<T>(), n * channels, channels, inner, a, b, ctx.num_threads());
      return absl::OkStatus();
    });
    TESSERA_RETURN_IF_ERROR(status);

    // Opsets 14/15: running_mean / running_var (copies of the inputs when not
    // training, where the spec leaves them undefined).
    for (int i = 1; i <= 2 && i < ctx.num_outputs(); ++i) {
      if (!ctx.output_requested(i)) continue;
      const Tensor* given = ctx.input(i + 2);
      std::vector<double> running = i == 1 ? mean : var;
      if (training_) {
        const std::vector<double>& current = i == 1 ? batch_mean : batch_var;
        for (int64_t c = 0; c < channels; ++c) running[c] = running[c] * momentum_ + current[c] * (1.0 - momentum_);
      }
      WriteVector(ctx.AllocateOutput(i, given->dtype(), given->shape()), running);
    }
    return absl::OkStatus();
  }

 private:
  int opset_;
  double epsilon_, momentum_;
  bool spatial_, training_;
};

class InstanceNormalizationKernel : public OpKernel {
 public:
  explicit InstanceNormalizationKernel(double epsilon) : epsilon_(epsilon) {}

  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    return std::make_unique<InstanceNormalizationKernel>(init.attrs.GetFloat("epsilon", 1e-5f));
  }

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    TESSERA_RETURN_IF_ERROR(CheckNormInput(x, "InstanceNormalization"));
    const int64_t n = x->dim(0), channels = x->dim(1);
    int64_t inner = 1;
    for (int i = 2; i < x->rank(); ++i) inner *= x->dim(i);
    TESSERA_ASSIGN_OR_RETURN(std::vector<double> scale,
                             ReadChannelParam(ctx.input(1), "InstanceNormalization", "scale", channels));
    TESSERA_ASSIGN_OR_RETURN(std::vector<double> bias,
                             ReadChannelParam(ctx.input(2), "InstanceNormalization", "B", channels));
    Tensor* y = ctx.AllocateOutput(0, x->dtype(), x->shape());
    return DispatchType<float, double>(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* in = x->data<T>();
      T* out = y->data<T>();
      const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, 2 * inner));
      ParallelFor(ctx.num_threads(), n * channels, grain, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const int64_t c = p % channels;
          const T* src = in + p * inner;
          T* dst = out + p * inner;
          const double mean = inner > 0 ? static_cast<double>(SumContiguous(src, inner)) / inner : 0.0;
          const double var =
              inner > 0 ? static_cast<double>(SumSquaredDeviations(src, inner, static_cast<T>(mean))) / inner : 0.0;
          const double a = scale[c] / std::sqrt(var + epsilon_);
          const T m = static_cast<T>(mean), sa = static_cast<T>(a), sb = static_cast<T>(bias[c]);
          for (int64_t i = 0; i < inner; ++i) dst[i] = (src[i] - m) * sa + sb;
        }
      });
      return absl::OkStatus();
    });
  }

 private:
  double epsilon_;
};

}  // namespace

void RegisterNormalizationKernels(KernelRegistry& registry) {
  registry.Register("BatchNormalization", FactoryOf<BatchNormalizationKernel>());
  registry.Register("InstanceNormalization", FactoryOf<InstanceNormalizationKernel>());
}

}  // namespace tessera::engine
