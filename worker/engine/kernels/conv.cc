#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/conv_channels_last.h"
#include "worker/engine/kernels/conv_fused_activation.h"
#include "worker/engine/kernels/conv_geometry.h"
#include "worker/engine/kernels/conv_im2col.h"
#include "worker/engine/kernels/conv_kernel.h"
#include "worker/engine/kernels/conv_onednn.h"
#include "worker/engine/kernels/conv_onednn_runtime.h"
#include "worker/engine/kernels/conv_winograd.h"
#include "worker/engine/kernels/gemm_kernel.h"
#include "worker/engine/kernels/kernel_groups.h"
#include "worker/engine/kernels/matmul_kernel.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/reorder_layout.h"

namespace tessera::engine {
namespace {

constexpr int kMaxSpatialRank = 8;     // im2col's limit
constexpr int kOneDnnMaxSpatialRank = 3;

// Below this many multiply-adds a convolution runs on one thread: a parallel
// region costs more than it saves.
constexpr double kMinParallelMacs = 1 << 18;

// The backend measured fastest for this geometry on this machine (AVX2,
// single-thread CPU time; bench/kernels/RESULTS.md): oneDNN's blocked
// (nChw8c) direct convolutions win for dense KxK and depthwise convolutions
// even with the reorders from/to NCHW; unpadded strided 1x1 convolutions are
// cheapest as im2col + sgemm; stride-1 1x1 projections to few channels run
// best on oneDNN's plain-layout GEMM convolution.
ConvBackend ChooseBackend(const ConvGeometry& g) {
  if (g.spatial_rank > kOneDnnMaxSpatialRank) return ConvBackend::kIm2colBlas;
  bool pointwise = true, strided = false;
  for (int i = 0; i < g.spatial_rank; ++i) {
    pointwise = pointwise && g.kernel[i] == 1 && g.pads_begin[i] == 0 && g.pads_end[i] == 0;
    strided = strided || g.strides[i] > 1;
  }
  if (pointwise && g.group == 1) {
    if (strided) return ConvBackend::kIm2colBlas;
    if (g.out_channels <= 64) return ConvBackend::kOneDnnPlain;
  }
  return ConvBackend::kOneDnnBlocked;
}

// On NHWC data (bench/kernels/RESULTS.md, "NHWC"; 2 threads): oneDNN's
// convolutions run directly on nhwc (kOneDnnPlain) for depthwise, 1x1 and
// few-input-channel (stem) convolutions, where they beat the blocked kernels
// plus reorders by up to 2-3x. For dense KxK convolutions with many input
// channels oneDNN 2.6's nhwc kernel is 1.3-1.6x slower than its nChw8c kernel
// at batch 8 (1.1-1.2x at batch 1 from 128 channels), so those reorder NHWC
// to/from nChw8c (kOneDnnBlocked), about as fast as on NCHW.
// (PointwiseConvNhwc's GEMM, kIm2colBlas, never won.)
ConvBackend ChooseNhwcBackend(const ConvGeometry& g) {
  constexpr int64_t kMinDenseChannels = 16;
  constexpr int64_t kMinDenseChannelsBatch1 = 128;
  const bool dense = g.group == 1 && g.KernelSize() > 1 && g.in_channels >= kMinDenseChannels;
  const bool blocked_wins = g.batch > 1 || g.in_channels >= kMinDenseChannelsBatch1;
  return dense && blocked_wins ? ConvBackend::kOneDnnBlocked : ConvBackend::kOneDnnPlain;
}

double ConvMacs(const ConvGeometry& g) {
  return double(g.batch) * g.out_channels * g.OutSpatialSize() * (g.in_channels / g.group) * g.KernelSize();
}

class ConvKernel : public OpKernel {
 public:
  ConvKernel(ConvAttributes attrs, FusedActivation activation, ActivationLayout layout, ConvKernelOptions options,
             std::optional<Tensor> constant_weights, std::optional<Tensor> constant_bias)
      : attrs_(std::move(attrs)),
        activation_(activation),
        layout_(layout),
        options_(options),
        constant_weights_(std::move(constant_weights)),
        constant_bias_(std::move(constant_bias)) {
    // Winograd transforms constant 3x3 weights once, here.
    const Tensor* w = constant_weights_ ? &*constant_weights_ : nullptr;
    if (layout_ == ActivationLayout::kNchw8c && w != nullptr && w->rank() == 4 && w->dim(2) == 3 &&
        w->dim(3) == 3 && attrs_.group == 1 && w->dim(0) % 8 == 0 && w->dim(1) % 8 == 0 && w->dim(0) > 0 &&
        w->dim(1) > 0 && (options_.backend == ConvBackend::kAuto || options_.backend == ConvBackend::kWinograd)) {
      winograd_ = std::make_unique<WinogradConvolution>(w->dim(0), w->dim(1), w->data<float>(), activation_);
    }
  }

  absl::Status Compute(KernelContext& ctx) const override {
    const std::string& op = attrs_.op;
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(1);
    const Tensor* b = ctx.input(2);
    const Tensor* z = options_.fused ? ctx.input(3) : nullptr;
    if (x == nullptr || w == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": inputs X and W are required"));
    }
    if (x->dtype() != DataType::kFloat32 && x->dtype() != DataType::kFloat64) {
      return absl::UnimplementedError(
          absl::StrCat(op, ": element type ", DataTypeName(x->dtype()), " is not supported (float32, float64)"));
    }
    for (const Tensor* t : {w, b, z}) {
      if (t != nullptr && t->dtype() != x->dtype()) {
        return absl::InvalidArgumentError(absl::StrCat(op, ": all inputs must have X's element type ",
                                                       DataTypeName(x->dtype()), ", got ", DataTypeName(t->dtype())));
      }
    }
    const bool nhwc = layout_ == ActivationLayout::kNhwc;
    const bool blocked = layout_ == ActivationLayout::kNchw8c;
    if (nhwc && x->rank() != 4) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": layout NHWC needs a 4-D input X [N, H, W, C], got shape ",
                                                     ShapeToString(x->shape())));
    }
    if (blocked && (x->rank() != 5 || x->dim(4) != kChannelBlock)) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": layout NCHW8c needs a 5-D input X [N, C/8, H, W, 8], got shape ", ShapeToString(x->shape())));
    }
    // The geometry is always resolved on the logical NCHW shape.
    Shape x_logical = x->shape();
    if (nhwc) x_logical = {x->dim(0), x->dim(3), x->dim(1), x->dim(2)};
    if (blocked) x_logical = {x->dim(0), x->dim(1) * kChannelBlock, x->dim(2), x->dim(3)};
    absl::StatusOr<ConvGeometry> resolved = ResolveConvGeometry(attrs_, x_logical, w->shape());
    if (!resolved.ok() && (nhwc || blocked)) {
      return absl::Status(resolved.status().code(),
                          absl::StrCat(resolved.status().message(), " (layout ", ActivationLayoutName(layout_),
                                       ": X ", ShapeToString(x->shape()), " is read as NCHW ",
                                       ShapeToString(x_logical), ")"));
    }
    TESSERA_ASSIGN_OR_RETURN(ConvGeometry g, std::move(resolved));
    if (blocked && (g.spatial_rank != 2 || g.out_channels % kChannelBlock != 0)) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": layout NCHW8c needs a 2-D convolution whose output "
                                                     "channel count M is a multiple of 8, got M = ",
                                                     g.out_channels, " (W ", ShapeToString(w->shape()), ")"));
    }
    if (g.spatial_rank > kMaxSpatialRank) {
      return absl::UnimplementedError(absl::StrCat(op, ": at most ", kMaxSpatialRank, " spatial axes are supported"));
    }
    if (b != nullptr && (b->rank() != 1 || b->dim(0) != g.out_channels)) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": bias B must have shape [", g.out_channels, "], got ",
                                                     ShapeToString(b->shape())));
    }
    Shape out_shape = g.OutputShape();
    if (nhwc) out_shape = {out_shape[0], out_shape[2], out_shape[3], out_shape[1]};
    if (blocked) out_shape = {out_shape[0], out_shape[1] / kChannelBlock, out_shape[2], out_shape[3], kChannelBlock};
    if (z != nullptr && z->shape() != out_shape) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": residual input Z ", ShapeToString(z->shape()),
                                                     " must have the output shape ", ShapeToString(out_shape)));
    }
    if (x->dtype() == DataType::kFloat64 && (z != nullptr || !activation_.is_none())) {
      return absl::UnimplementedError(absl::StrCat(op, ": fused residual/activation need float32"));
    }
    TESSERA_RETURN_IF_ERROR(ValidateShape(out_shape, x->dtype()));
    Tensor* y = ctx.AllocateOutput(0, x->dtype(), out_shape);
    if (y->num_elements() == 0) return absl::OkStatus();
    const int threads = ConvMacs(g) < kMinParallelMacs ? 1 : ctx.num_threads();
    if (layout_ == ActivationLayout::kNchw) return ComputeNchw(g, *x, *w, b, z, *y, threads);

    // NCHW8c: float32 runs on oneDNN directly on the blocked data (the
    // explicit kIm2colBlas backend, float64 and empty X convert to NCHW and back).
    if (blocked && x->dtype() == DataType::kFloat32 && x->num_elements() > 0 &&
        options_.backend != ConvBackend::kIm2colBlas) {
      if (winograd_ != nullptr && WinogradConvolution::Supports(g) && g.in_channels == winograd_->in_channels() &&
          (options_.backend == ConvBackend::kWinograd || WinogradConvolution::PrefersWinograd(g))) {
        winograd_->Run(g, x->data<float>(), b ? b->data<float>() : nullptr, z ? z->data<float>() : nullptr,
                       y->data<float>(), threads);
        return absl::OkStatus();
      }
      TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<const OneDnnConvolution> conv,
                               GetOneDnn(g, OneDnnLayout::kNchw8c, b != nullptr, z != nullptr, threads));
      ScopedOmpThreads omp_threads(threads);
      return conv->Run(x->data<float>(), w->data<float>(), b ? b->data<float>() : nullptr,
                       z ? z->data<float>() : nullptr, y->data<float>());
    }
    // NHWC: float32 runs directly on channels-last data (oneDNN nhwc, or one
    // GEMM for pointwise convolutions); the rest is transposed to NCHW and back.
    if (nhwc && x->dtype() == DataType::kFloat32 && x->num_elements() > 0) {
      const float* bias = b ? b->data<float>() : nullptr;
      const float* residual = z ? z->data<float>() : nullptr;
      ConvBackend backend = AutoBackend() ? ChooseNhwcBackend(g) : options_.backend;
      if (backend == ConvBackend::kIm2colBlas && IsPointwiseConv(g)) {
        PointwiseConvNhwc(g, x->data<float>(), w->data<float>(), bias, residual, activation_, y->data<float>(),
                          threads);
        return absl::OkStatus();
      }
      if (backend != ConvBackend::kIm2colBlas) {
        const OneDnnLayout layout =
            backend == ConvBackend::kOneDnnBlocked ? OneDnnLayout::kNhwcBlocked : OneDnnLayout::kNhwc;
        TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<const OneDnnConvolution> conv,
                                 GetOneDnn(g, layout, b != nullptr, z != nullptr, threads));
        ScopedOmpThreads omp_threads(threads);
        return conv->Run(x->data<float>(), w->data<float>(), bias, residual, y->data<float>());
      }
    }
    const int64_t spatial_in = g.InSpatialSize(), spatial_out = g.OutSpatialSize();
    const size_t element_size = DataTypeSize(x->dtype());
    Tensor x_nchw = Tensor::Allocate(x->dtype(), x_logical);
    Tensor y_nchw = Tensor::Allocate(x->dtype(), g.OutputShape());
    std::optional<Tensor> z_nchw;
    ConvertActivationLayout(x->raw_data(), layout_, ActivationLayout::kNchw, g.batch, g.in_channels, spatial_in,
                            element_size, x_nchw.raw_data(), threads);
    if (z != nullptr) {
      z_nchw = Tensor::Allocate(x->dtype(), g.OutputShape());
      ConvertActivationLayout(z->raw_data(), layout_, ActivationLayout::kNchw, g.batch, g.out_channels,
                              spatial_out, element_size, z_nchw->raw_data(), threads);
    }
    TESSERA_RETURN_IF_ERROR(ComputeNchw(g, x_nchw, *w, b, z_nchw ? &*z_nchw : nullptr, y_nchw, threads,
                                        /*allow_onednn=*/false));
    ConvertActivationLayout(y_nchw.raw_data(), ActivationLayout::kNchw, layout_, g.batch, g.out_channels,
                            spatial_out, element_size, y->raw_data(), threads);
    return absl::OkStatus();
  }

 private:
  // Activation layout at the oneDNN primitive; kNhwcBlocked reorders NHWC
  // from/to oneDNN's preferred (blocked) layout around the call.
  // kNchw8c runs on nChw8c activations without reorders.
  enum class OneDnnLayout { kPlain, kBlocked, kNhwc, kNhwcBlocked, kNchw8c };

  // kWinograd where Winograd does not apply is kAuto.
  bool AutoBackend() const {
    return options_.backend == ConvBackend::kAuto || options_.backend == ConvBackend::kWinograd;
  }

  // Y (NC[D]HW, already allocated and non-empty) = act(conv(X, W) + B + Z).
  // allow_onednn = false forces im2col (used for an explicit kIm2colBlas
  // backend on NHWC data).
  absl::Status ComputeNchw(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                           const Tensor* z, Tensor& y, int threads, bool allow_onednn = true) const {
    if (x.dtype() == DataType::kFloat64) {
      Im2colConvolution<double>(g, x.data<double>(), w.data<double>(), b ? b->data<double>() : nullptr,
                                y.data<double>(), threads);
      return absl::OkStatus();
    }
    if (x.num_elements() == 0) {  // e.g. zero input channels: the result is the bias
      const float* bias = b ? b->data<float>() : nullptr;
      float* out = y.data<float>();
      const int64_t plane = g.OutSpatialSize();
      for (int64_t i = 0; i < y.num_elements(); ++i) out[i] = bias ? bias[(i / plane) % g.out_channels] : 0.0f;
      Epilogue(z, &y, threads);
      return absl::OkStatus();
    }
    ConvBackend backend = AutoBackend() ? ChooseBackend(g) : options_.backend;
    if (g.spatial_rank > kOneDnnMaxSpatialRank || !allow_onednn) backend = ConvBackend::kIm2colBlas;
    if (backend == ConvBackend::kIm2colBlas) {
      Im2colConvolution<float>(g, x.data<float>(), w.data<float>(), b ? b->data<float>() : nullptr,
                               y.data<float>(), threads);
      Epilogue(z, &y, threads);
      return absl::OkStatus();
    }
    const OneDnnLayout layout = backend == ConvBackend::kOneDnnBlocked ? OneDnnLayout::kBlocked : OneDnnLayout::kPlain;
    TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<const OneDnnConvolution> conv,
                             GetOneDnn(g, layout, b != nullptr, z != nullptr, threads));
    ScopedOmpThreads omp_threads(threads);
    return conv->Run(x.data<float>(), w.data<float>(), b ? b->data<float>() : nullptr,
                     z ? z->data<float>() : nullptr, y.data<float>());
  }

  // y = act(y + z) for the paths without oneDNN post-ops.
  void Epilogue(const Tensor* z, Tensor* y, int threads) const {
    if (z == nullptr && activation_.is_none()) return;
    float* out = y->data<float>();
    const float* residual = z ? z->data<float>() : nullptr;
    ParallelFor(threads, y->num_elements(), 16 << 10, [&](int64_t begin, int64_t end) {
      if (residual != nullptr) {
        for (int64_t i = begin; i < end; ++i) out[i] += residual[i];
      }
      activation_.Apply(out + begin, end - begin);
    });
  }

  absl::StatusOr<std::shared_ptr<const OneDnnConvolution>> GetOneDnn(const ConvGeometry& g, OneDnnLayout layout,
                                                                     bool has_bias, bool has_residual,
                                                                     int threads) const {
    std::vector<int64_t> key = {g.batch, g.in_channels, g.out_channels, threads, static_cast<int64_t>(layout),
                                has_bias, has_residual};
    key.insert(key.end(), g.in_spatial.begin(), g.in_spatial.end());
    key.insert(key.end(), g.kernel.begin(), g.kernel.end());
    key.insert(key.end(), g.strides.begin(), g.strides.end());
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    OneDnnConvolution::Config config;
    config.geometry = g;
    config.blocked_activations = layout == OneDnnLayout::kBlocked || layout == OneDnnLayout::kNhwcBlocked;
    config.channels_last = layout == OneDnnLayout::kNhwc || layout == OneDnnLayout::kNhwcBlocked;
    config.nchw8c = layout == OneDnnLayout::kNchw8c;
    config.has_bias = has_bias;
    config.has_residual = has_residual;
    config.activation = activation_;
    config.threads = threads;
    ScopedOmpThreads omp_threads(threads);
    TESSERA_ASSIGN_OR_RETURN(
        std::unique_ptr<OneDnnConvolution> conv,
        OneDnnConvolution::Create(config, constant_weights_ ? constant_weights_->data<float>() : nullptr,
                                  constant_bias_ ? constant_bias_->data<float>() : nullptr));
    std::shared_ptr<const OneDnnConvolution> shared = std::move(conv);
    cache_.emplace(std::move(key), shared);
    return shared;
  }

  ConvAttributes attrs_;
  FusedActivation activation_;
  ActivationLayout layout_;
  ConvKernelOptions options_;
  std::optional<Tensor> constant_weights_;
  std::optional<Tensor> constant_bias_;
  std::unique_ptr<const WinogradConvolution> winograd_;  // null unless it may be used
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::vector<int64_t>, std::shared_ptr<const OneDnnConvolution>> cache_
      ABSL_GUARDED_BY(mu_);
};

std::optional<Tensor> ConstantInput(const KernelInit& init, size_t i, DataType type) {
  if (i < init.constant_inputs.size() && init.constant_inputs[i] != nullptr &&
      init.constant_inputs[i]->dtype() == type) {
    return *init.constant_inputs[i];
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<OpKernel>> CreateConvKernel(const KernelInit& init, const ConvKernelOptions& options) {
  const char* op = options.fused ? "FusedConv" : "Conv";
  TESSERA_ASSIGN_OR_RETURN(ConvAttributes attrs, ConvAttributes::Parse(init.attrs, op));
  FusedActivation activation;
  ActivationLayout layout = ActivationLayout::kNchw;
  if (options.fused) {
    TESSERA_ASSIGN_OR_RETURN(activation, FusedActivation::FromAttributes(init.attrs, op));
    const std::string layout_name = init.attrs.GetString("layout", "NCHW");
    std::optional<ActivationLayout> parsed = ParseActivationLayout(layout_name);
    if (!parsed) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": attribute layout must be \"NCHW\", \"NHWC\" or \"NCHW8c\", got \"", layout_name, "\""));
    }
    layout = *parsed;
  }
  return std::make_unique<ConvKernel>(std::move(attrs), activation, layout, options,
                                      ConstantInput(init, 1, DataType::kFloat32),
                                      ConstantInput(init, 2, DataType::kFloat32));
}

void RegisterConvMatMulKernels(KernelRegistry& registry) {
  registry.Register("Conv", [](const KernelInit& init) { return CreateConvKernel(init, ConvKernelOptions{}); });
  registry.Register("ConvTranspose", CreateConvTransposeKernel);
  registry.Register("MatMul", [](const KernelInit& init) { return CreateMatMulKernel(init, MatMulKernelOptions{}); });
  registry.Register("Gemm", CreateGemmKernel);
  KernelDef fused_conv;
  fused_conv.domain = std::string(kTesseraDomain);
  fused_conv.op_type = "FusedConv";
  fused_conv.factory = [](const KernelInit& init) {
    return CreateConvKernel(init, ConvKernelOptions{.fused = true});
  };
  registry.Register(std::move(fused_conv));
  KernelDef fused_matmul;
  fused_matmul.domain = std::string(kTesseraDomain);
  fused_matmul.op_type = "FusedMatMul";
  fused_matmul.factory = [](const KernelInit& init) {
    return CreateMatMulKernel(init, MatMulKernelOptions{.fused = true});
  };
  registry.Register(std::move(fused_matmul));
  RegisterReorderLayoutKernel(registry);
}

}  // namespace tessera::engine
