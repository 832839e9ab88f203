// One registration function per kernel group; kernel_registry.cc calls all of
// them. Each group lives in the kernels/ file(s) named below.
#pragma once

namespace tessera::engine {

class KernelRegistry;

// elementwise*.cc: unary math, activations, binary arithmetic with
// broadcasting, comparisons, logic, Where, Cast, Clip, variadic Sum/Mean/Max/Min.
void RegisterElementwiseKernels(KernelRegistry& registry);
// tensor_ops*.cc: shape and data movement (Reshape, Concat, Slice, Gather, ...).
void RegisterTensorKernels(KernelRegistry& registry);
// conv.cc, matmul.cc: Conv, ConvTranspose, MatMul, Gemm and their fused forms.
void RegisterConvMatMulKernels(KernelRegistry& registry);
// pool.cc, normalization.cc, resize.cc: pooling, normalizations, LRN, Resize.
void RegisterPoolNormKernels(KernelRegistry& registry);
// reduce*.cc: reductions, Softmax, LogSoftmax, ArgMax/ArgMin, TopK, CumSum, Einsum.
void RegisterReductionKernels(KernelRegistry& registry);
// sim_delay.cc: ai.tessera.sim.Delay, the simulation operator (sleeps per sample).
void RegisterSimKernels(KernelRegistry& registry);

}  // namespace tessera::engine
