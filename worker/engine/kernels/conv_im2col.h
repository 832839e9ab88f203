// Convolution and transposed convolution on plain NC[D]HW tensors through
// im2col / col2im and a BLAS GEMM (OpenBLAS for float/double). Handles every
// geometry (1-D/2-D/3-D, groups, dilations, asymmetric pads, strides);
// 1x1 stride-1 unpadded convolutions skip im2col entirely.
//
// Work is split over ParallelFor with `threads` chunks; scratch buffers are
// per thread. Safe to call concurrently.
#pragma once

#include "worker/engine/kernels/conv_geometry.h"

namespace tessera::engine {

// y[N, M, out...] = conv(x, w) (+ bias[M] when non-null).
template <typename T>
void Im2colConvolution(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, int threads);

// y[N, M, out...] = conv_transpose(x, w) (+ bias[M] when non-null);
// g as from ResolveConvTransposeGeometry.
template <typename T>
void Col2imConvTranspose(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, int threads);

}  // namespace tessera::engine
