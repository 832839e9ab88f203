// Pooling kernels (ai.onnx) and the pool/normalization/resize group's
// registration entry points, each defined in the file named beside it.
#pragma once

namespace tessera::engine {

class KernelRegistry;

// pool.cc: AveragePool, MaxPool (with optional Indices output).
void RegisterWindowPoolKernels(KernelRegistry& registry);
// pool_global.cc: GlobalAveragePool, GlobalMaxPool.
void RegisterGlobalPoolKernels(KernelRegistry& registry);

}  // namespace tessera::engine
