// In-place activation over a float buffer, for fused kernels (Conv, MatMul,
// Gemm with a following activation). Same semantics and numerics as the
// stand-alone ONNX operators of the element-wise group.
#pragma once

#include <cstdint>

namespace tessera::engine {

enum class Activation {
  kNone,
  kRelu,         // max(x, 0)
  kClip,         // params: min, max
  kLeakyRelu,    // params: alpha
  kSigmoid,
  kTanh,
  kHardSigmoid,  // params: alpha, beta; max(0, min(1, alpha*x + beta))
  kHardSwish,    // x * max(0, min(1, x/6 + 1/2))
};

// Applies `activation` to data[0..n) in place, single-threaded (callers run
// it on the block they just produced, inside their own parallel loop).
// `params` may be nullptr for activations that take none.
void ApplyActivation(Activation activation, const float* params, float* data, int64_t n);

}  // namespace tessera::engine
