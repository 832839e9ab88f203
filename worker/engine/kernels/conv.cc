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
#include "worker/engine/kernels/conv_fused_activation.h"
#include "worker/engine/kernels/conv_geometry.h"
#include "worker/engine/kernels/conv_im2col.h"
#include "worker/engine/kernels/conv_kernel.h"
#include "worker/engine/kernels/conv_onednn.h"
#include "worker/engine/kernels/conv_onednn_runtime.h"
#include "worker/engine/kernels/gemm_kernel.h"
#include "worker/engine/kernels/kernel_groups.h"
#include "worker/engine/kernels/matmul_kernel.h"
#include "worker/engine/kernels/parallel.h"

namespace tessera::engine {
namespace {

constexpr int kMaxSpatialRank = 8;     // im2col's limit
constexpr int kOneDnnMaxSpatialRank = 3;

// The backend measured fastest for this geometry on AVX2 with 2 threads
// (bench/kernels/RESULTS.md).
ConvBackend ChooseBackend(const ConvGeometry& g) {
  if (g.spatial_rank > kOneDnnMaxSpatialRank) return ConvBackend::kIm2colBlas;
  return ConvBackend::kOneDnnBlocked;
}

class ConvKernel : public OpKernel {
 public:
  ConvKernel(ConvAttributes attrs, FusedActivation activation, ConvKernelOptions options,
             std::optional<Tensor> constant_weights, std::optional<Tensor> constant_bias)
      : attrs_(std::move(attrs)),
        activation_(activation),
        options_(options),
        constant_weights_(std::move(constant_weights)),
        constant_bias_(std::move(constant_bias)) {}

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
    TESSERA_ASSIGN_OR_RETURN(ConvGeometry g, ResolveConvGeometry(attrs_, x->shape(), w->shape()));
    if (g.spatial_rank > kMaxSpatialRank) {
      return absl::UnimplementedError(absl::StrCat(op, ": at most ", kMaxSpatialRank, " spatial axes are supported"));
    }
    if (b != nullptr && (b->rank() != 1 || b->dim(0) != g.out_channels)) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": bias B must have shape [", g.out_channels, "], got ",
                                                     ShapeToString(b->shape())));
    }
    const Shape out_shape = g.OutputShape();
    if (z != nullptr && z->shape() != out_shape) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": residual input Z ", ShapeToString(z->shape()),
                                                     " must have the output shape ", ShapeToString(out_shape)));
    }
    TESSERA_RETURN_IF_ERROR(ValidateShape(out_shape, x->dtype()));
    Tensor* y = ctx.AllocateOutput(0, x->dtype(), out_shape);
    if (y->num_elements() == 0) return absl::OkStatus();
    const int threads = ctx.num_threads();
    if (x->dtype() == DataType::kFloat64) {
      if (z != nullptr || !activation_.is_none()) {
        return absl::UnimplementedError(absl::StrCat(op, ": fused residual/activation need float32"));
      }
      Im2colConvolution<double>(g, x->data<double>(), w->data<double>(), b ? b->data<double>() : nullptr,
                                y->data<double>(), threads);
      return absl::OkStatus();
    }
    if (x->num_elements() == 0) {  // e.g. zero input channels: the result is the bias
      const float* bias = b ? b->data<float>() : nullptr;
      float* out = y->data<float>();
      const int64_t plane = g.OutSpatialSize();
      for (int64_t i = 0; i < y->num_elements(); ++i) out[i] = bias ? bias[(i / plane) % g.out_channels] : 0.0f;
      Epilogue(z, y, threads);
      return absl::OkStatus();
    }
    ConvBackend backend = options_.backend == ConvBackend::kAuto ? ChooseBackend(g) : options_.backend;
    if (g.spatial_rank > kOneDnnMaxSpatialRank) backend = ConvBackend::kIm2colBlas;
    if (backend == ConvBackend::kIm2colBlas) {
      Im2colConvolution<float>(g, x->data<float>(), w->data<float>(), b ? b->data<float>() : nullptr,
                               y->data<float>(), threads);
      Epilogue(z, y, threads);
      return absl::OkStatus();
    }
    TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<const OneDnnConvolution> conv,
                             GetOneDnn(g, backend == ConvBackend::kOneDnnBlocked, b != nullptr, z != nullptr, threads));
    ScopedOmpThreads omp_threads(threads);
    return conv->Run(x->data<float>(), w->data<float>(), b ? b->data<float>() : nullptr,
                     z ? z->data<float>() : nullptr, y->data<float>());
  }

 private:
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

  absl::StatusOr<std::shared_ptr<const OneDnnConvolution>> GetOneDnn(const ConvGeometry& g, bool blocked, bool has_bias,
                                                                     bool has_residual, int threads) const {
    std::vector<int64_t> key = {g.batch, g.in_channels, threads, blocked, has_bias, has_residual};
    key.insert(key.end(), g.in_spatial.begin(), g.in_spatial.end());
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    OneDnnConvolution::Config config;
    config.geometry = g;
    config.blocked_activations = blocked;
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
  ConvKernelOptions options_;
  std::optional<Tensor> constant_weights_;
  std::optional<Tensor> constant_bias_;
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
  if (options.fused) {
    TESSERA_ASSIGN_OR_RETURN(activation, FusedActivation::FromAttributes(init.attrs, op));
  }
  return std::make_unique<ConvKernel>(std::move(attrs), activation, options,
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
}

}  // namespace tessera::engine
