// Helpers for convolutions on channels-last (NHWC) activations, the layout
// FusedConv uses with attribute layout="NHWC" (see conv_kernel.h):
//  - layout conversion between NCHW and NHWC (for paths that only exist on
//    NCHW, e.g. float64 im2col);
//  - pointwise (1x1, unpadded, group 1) convolution as one GEMM: in NHWC the
//    input is a [N*H*W, C] matrix, so Y[N*OH*OW, M] = X * W[M, C]^T, after a
//    row gather when strided.
// All functions split work over ParallelFor with `threads` chunks and are safe
// to call concurrently.
#pragma once

#include <cstdint>

#include "worker/engine/kernels/conv_fused_activation.h"
#include "worker/engine/kernels/conv_geometry.h"

namespace tessera::engine {

// dst[n, p, c] = src[n, c, p] for p in [0, spatial).
template <typename T>
void NchwToNhwc(const T* src, int64_t batch, int64_t channels, int64_t spatial, T* dst, int threads);

// dst[n, c, p] = src[n, p, c] for p in [0, spatial).
template <typename T>
void NhwcToNchw(const T* src, int64_t batch, int64_t channels, int64_t spatial, T* dst, int threads);

// True when `g` is a 2-D 1x1 unpadded convolution with group 1 (any stride),
// which PointwiseConvNhwc computes.
bool IsPointwiseConv(const ConvGeometry& g);

// y = act(conv(x, w) + bias + residual) for IsPointwiseConv(g), with x,
// residual and y NHWC and w [M, C, 1, 1]. bias [M] and residual (shaped like
// y) may be null.
void PointwiseConvNhwc(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                       const float* residual, const FusedActivation& activation, float* y, int threads);

}  // namespace tessera::engine
