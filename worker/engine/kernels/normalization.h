// Normalization kernels (ai.onnx), registered from RegisterPoolNormKernels
// (pool.cc). Each function is defined in the file named beside it.
#pragma once

namespace tessera::engine {

class KernelRegistry;

// normalization.cc: BatchNormalization (inference, and training_mode=1 of
// opsets 14/15 with running mean/var outputs), InstanceNormalization.
void RegisterNormalizationKernels(KernelRegistry& registry);
// normalization_layer.cc: LayerNormalization (opset 17, with the optional
// Mean and InvStdDev outputs).
void RegisterLayerNormalizationKernel(KernelRegistry& registry);
// normalization_lrn.cc: LRN (local response normalization across channels).
void RegisterLrnKernel(KernelRegistry& registry);

}  // namespace tessera::engine
