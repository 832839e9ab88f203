// Conv (ai.onnx, opsets 1..17) and FusedConv (ai.tessera) kernels.
//
// FusedConv = Conv + optional residual input Z (4th input, shaped like the
// output) + optional activation (see conv_fused_activation.h):
//   Y = act(conv(X, W) + B + Z)
// `activation` absent or "" means none. FusedConv's string attribute `layout`
// picks the physical layout of X, Z and Y: "NCHW" (default) or "NHWC"
// (channels-last, 2-D only: X is [N, H, W, C], Y [N, OH, OW, M]; W stays
// [M, C/group, kH, kW]). The result equals the NCHW result transposed.
// "NCHW8c" is oneDNN's blocked nChw8c (2-D only; C and M multiples of 8,
// else InvalidArgument): X is [N, C/8, H, W, 8], Z and Y [N, M/8, OH, OW, 8]
// (see reorder_layout.h); float32 runs on oneDNN with no layout reorders, so
// chains of such convolutions avoid the NCHW <-> nChw8c reorders that the
// NCHW path pays around each blocked oneDNN convolution. The
// ai.tessera.ReorderLayout kernel converts at the chain's ends.
//
// float32 runs on oneDNN, im2col + OpenBLAS or (NCHW8c, stride-1 3x3,
// constant weights) Winograd, chosen per shape, see ConvBackend; float64 runs
// on im2col + OpenBLAS dgemm.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "worker/engine/kernel.h"

namespace tessera::engine {

enum class ConvBackend {
  kAuto,          // the measured-fastest choice per shape (bench/kernels/RESULTS.md)
  kOneDnnBlocked, // oneDNN, blocked activations reordered from/to NCHW (or NHWC)
  kOneDnnPlain,   // oneDNN directly on NCHW (or NHWC)
  kIm2colBlas,    // im2col + OpenBLAS sgemm (NHWC: one GEMM for 1x1, else via NCHW transposes)
  kWinograd,      // NCHW8c stride-1 3x3 with constant weights: Winograd F(4x4, 3x3) (conv_winograd.h);
                  // other shapes and layouts fall back to kAuto's choice
};

struct ConvKernelOptions {
  bool fused = false;  // FusedConv: reads activation attributes and input Z
  ConvBackend backend = ConvBackend::kAuto;
};

absl::StatusOr<std::unique_ptr<OpKernel>> CreateConvKernel(const KernelInit& init, const ConvKernelOptions& options);

// ConvTranspose (ai.onnx, opsets 1..17): col2im + OpenBLAS.
absl::StatusOr<std::unique_ptr<OpKernel>> CreateConvTransposeKernel(const KernelInit& init);

}  // namespace tessera::engine
