// Registration functions of the reduction kernel group, one per file; the
// group's entry point RegisterReductionKernels (reduce.cc) calls them all.
#pragma once

namespace tessera::engine {

class KernelRegistry;

// reduce_ops.cc: ReduceSum, ReduceMean, ReduceMax, ... (all ten Reduce* ops).
void RegisterReduceOpKernels(KernelRegistry& registry);
// reduce_argminmax.cc: ArgMax, ArgMin.
void RegisterArgMinMaxKernels(KernelRegistry& registry);
// softmax.cc: Softmax, LogSoftmax.
void RegisterSoftmaxKernels(KernelRegistry& registry);
// topk.cc: TopK.
void RegisterTopKKernel(KernelRegistry& registry);
// cumsum.cc: CumSum.
void RegisterCumSumKernel(KernelRegistry& registry);
// einsum.cc: Einsum.
void RegisterEinsumKernel(KernelRegistry& registry);

}  // namespace tessera::engine
