// Conv (ai.onnx, opsets 1..17) and FusedConv (ai.tessera) kernels.
//
// FusedConv = Conv + optional residual input Z (4th input, shaped like the
// output) + optional activation (see conv_fused_activation.h):
//   Y = act(conv(X, W) + B + Z)
//
// float32 runs on oneDNN or im2col + OpenBLAS (chosen per shape, see
// ConvBackend); float64 runs on im2col + OpenBLAS dgemm.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "worker/engine/kernel.h"

namespace tessera::engine {

enum class ConvBackend {
  kAuto,          // the measured-fastest choice per shape (bench/kernels/RESULTS.md)
  kOneDnnBlocked, // oneDNN, blocked activations reordered from/to NCHW
  kOneDnnPlain,   // oneDNN directly on NCHW
  kIm2colBlas,    // im2col + OpenBLAS sgemm
};

struct ConvKernelOptions {
  bool fused = false;  // FusedConv: reads activation attributes and input Z
  ConvBackend backend = ConvBackend::kAuto;
};

absl::StatusOr<std::unique_ptr<OpKernel>> CreateConvKernel(const KernelInit& init, const ConvKernelOptions& options);

// ConvTranspose (ai.onnx, opsets 1..17): col2im + OpenBLAS.
absl::StatusOr<std::unique_ptr<OpKernel>> CreateConvTransposeKernel(const KernelInit& init);

}  // namespace tessera::engine
