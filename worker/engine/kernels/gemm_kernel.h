// Gemm (ai.onnx, opsets 7..17): Y = alpha * op(A) @ op(B) + beta * C with
// transA / transB and C unidirectionally broadcast to [M, N] (C optional
// from opset 11). float32/float64 on OpenBLAS, int32/int64 on a plain loop.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "worker/engine/kernel.h"

namespace tessera::engine {

absl::StatusOr<std::unique_ptr<OpKernel>> CreateGemmKernel(const KernelInit& init);

}  // namespace tessera::engine
