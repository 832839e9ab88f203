// MatMul (ai.onnx, opsets 1..17, NumPy semantics: 1-D promotion and batch
// broadcasting) and FusedMatMul (ai.tessera):
//   FusedMatMul(A, B, C) = act(A @ B + C), C a 1-D bias of size N (optional),
//   activation from `activation` / `activation_params` (conv_fused_activation.h).
//
// float32 runs on oneDNN matmul or OpenBLAS sgemm (chosen per shape, see
// MatMulBackend); float64 on OpenBLAS dgemm; int32/int64 on a plain loop.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "worker/engine/kernel.h"

namespace tessera::engine {

enum class MatMulBackend {
  kAuto,    // the measured-fastest choice per shape (bench/kernels/RESULTS.md)
  kOneDnn,  // oneDNN matmul primitive (batched, broadcasting, post-ops)
  kBlas,    // OpenBLAS sgemm per batch / row block over ParallelFor
};

struct MatMulKernelOptions {
  bool fused = false;
  MatMulBackend backend = MatMulBackend::kAuto;
};

absl::StatusOr<std::unique_ptr<OpKernel>> CreateMatMulKernel(const KernelInit& init,
                                                             const MatMulKernelOptions& options);

}  // namespace tessera::engine
