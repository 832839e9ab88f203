// A oneDNN convolution primitive for one fixed geometry, with its weights
// pre-packed when they are load-time constants. Activations come in and go
// out in plain NC[D]HW (internally the primitive may then use a blocked
// layout, with src/dst reordered each call) or, for 2-D convolutions, in
// channels-last NHWC (which the primitive can consume directly, no reorders).
//
// Thread safety: Run() is const and may be called concurrently.
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "worker/engine/kernels/conv_fused_activation.h"
#include "worker/engine/kernels/conv_geometry.h"

namespace tessera::engine {

class OneDnnConvolution {
 public:
  struct Config {
    ConvGeometry geometry;
    // True: let oneDNN pick src/dst layouts (blocked nChw8c on AVX2) and
    // reorder around the primitive. False: run directly on plain layouts.
    bool blocked_activations = true;
    // True (2-D only): x, residual and y are NHWC ([N, H, W, C] row-major).
    // With blocked_activations = false the primitive runs on them directly.
    bool channels_last = false;
    // True (2-D only; channel counts multiples of 8): x, residual and y are
    // oneDNN's nChw8c ([N, C/8, H, W, 8]) and the primitive runs on them
    // directly (no reorders). Overrides blocked_activations/channels_last.
    bool nchw8c = false;
    bool has_bias = false;
    // y = act(conv(x) + bias + residual) with residual shaped like y.
    bool has_residual = false;
    FusedActivation activation;
    int threads = 1;
  };

  // `constant_weights` / `constant_bias` (plain ONNX layout) are packed now
  // when non-null; otherwise Run() packs the weights it is given each call.
  static absl::StatusOr<std::unique_ptr<OneDnnConvolution>> Create(const Config& config,
                                                                     const float* constant_weights,
                                                                     const float* constant_bias);

  // bias / residual must be non-null exactly when configured. Caller sets the
  // OpenMP thread count (ScopedOmpThreads) to config.threads.
  absl::Status Run(const float* x, const float* w, const float* bias, const float* residual, float* y) const;

  // Name of the oneDNN implementation chosen (e.g. "jit:avx2"), for benchmarks.
  const char* implementation() const;

 private:
  OneDnnConvolution() = default;

  Config config_;
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward primitive_;
  dnnl::memory::desc user_src_md_, user_dst_md_, user_weights_md_, bias_md_;
  std::optional<dnnl::reorder> src_reorder_, dst_reorder_, residual_reorder_, weights_reorder_;
  dnnl::memory packed_weights_;  // empty unless weights are constant
  dnnl::memory packed_bias_;     // empty unless bias is constant
  std::unique_ptr<float[]> packed_weights_storage_, packed_bias_storage_;
};

}  // namespace tessera::engine
