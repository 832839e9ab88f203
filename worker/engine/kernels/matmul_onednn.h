// A oneDNN matmul primitive for one MatMul shape, with an optional 1-D bias
// and fused activation as post-ops. A constant B is packed once at creation
// into whatever layout the primitive prefers.
//
// Thread safety: Run() is const and may be called concurrently.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "worker/engine/kernels/conv_fused_activation.h"
#include "worker/engine/kernels/matmul_shape.h"

namespace tessera::engine {

class OneDnnMatMul {
 public:
  struct Config {
    MatMulShape shape;
    bool has_bias = false;
    FusedActivation activation;
    int threads = 1;
  };

  // True when oneDNN can express `shape` (rank limit).
  static bool Supports(const MatMulShape& shape);

  static absl::StatusOr<std::unique_ptr<OneDnnMatMul>> Create(const Config& config, const float* constant_b);

  // Caller sets the OpenMP thread count (ScopedOmpThreads) to config.threads.
  absl::Status Run(const float* a, const float* b, const float* bias, float* y) const;

 private:
  OneDnnMatMul() = default;

  Config config_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul primitive_;
  dnnl::memory::desc user_a_md_, user_b_md_, user_y_md_, bias_md_;
  dnnl::memory packed_b_;  // empty unless B is constant
  std::unique_ptr<float[]> packed_b_storage_;
};

}  // namespace tessera::engine
