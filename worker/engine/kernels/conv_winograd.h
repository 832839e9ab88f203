// Winograd F(4x4, 3x3) convolution on oneDNN's blocked nChw8c activations
// (float32): stride 1, dilation 1, group 1, 3x3 kernel, any padding, C and M
// multiples of 8. Each 6x6 input tile is transformed (B^T d B), the 36
// transformed positions become 36 independent GEMMs [tiles x C] x [C x M]
// against weights transformed once at load (G g G^T), and each result is
// transformed back (A^T m A) to a 4x4 output tile with bias, residual Z and
// the fused activation applied on the way out. That is 4x fewer multiplies
// than a direct convolution; oneDNN 2.6 has Winograd only for AVX-512.
//
// Tiles are processed in chunks sized so the transformed input and output of
// a chunk stay in cache; inside a chunk the three phases (input transform,
// GEMMs, output transform) are split over the threads.
//
// Accuracy: the transforms add rounding of a few float32 ulps times the
// magnitudes involved (relative error about 1e-6 on ResNet layers), well
// inside the 1e-4 the engine promises against ONNX Runtime.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "worker/engine/kernels/conv_fused_activation.h"
#include "worker/engine/kernels/conv_geometry.h"

namespace tessera::engine {

class WinogradConvolution {
 public:
  // True when the geometry is one this kernel computes (see above). Does not
  // say it is faster: see PrefersWinograd.
  static bool Supports(const ConvGeometry& g);

  // Whether Winograd beats oneDNN's direct blocked kernel for this geometry
  // on this machine (bench/kernels/RESULTS.md, "Winograd").
  static bool PrefersWinograd(const ConvGeometry& g);

  // weights: [M, C, 3, 3] float32. M and C multiples of 8.
  WinogradConvolution(int64_t out_channels, int64_t in_channels, const float* weights, FusedActivation activation);

  // y = act(conv(x, w) + bias + z), all nChw8c: x [N, C/8, H, W, 8], y and z
  // [N, M/8, OH, OW, 8]. bias ([M]) and z may be null. Requires Supports(g)
  // and g's channel counts equal to the constructor's. Thread-safe.
  void Run(const ConvGeometry& g, const float* x, const float* bias, const float* z, float* y, int threads) const;

  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }

 private:
  int64_t out_channels_;
  int64_t in_channels_;
  FusedActivation activation_;
  // U[p][c][m] for the 36 positions p of the 6x6 transformed tile.
  std::vector<float> transformed_weights_;
};

}  // namespace tessera::engine
