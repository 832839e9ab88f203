// Entry point of the reduction kernel group.
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/kernel_groups.h"
#include "worker/engine/kernels/reduce_group.h"

namespace tessera::engine {

void RegisterReductionKernels(KernelRegistry& registry) {
  RegisterReduceOpKernels(registry);
  RegisterArgMinMaxKernels(registry);
  RegisterSoftmaxKernels(registry);
  RegisterTopKKernel(registry);
  RegisterCumSumKernel(registry);
  RegisterEinsumKernel(registry);
}

}  // namespace tessera::engine
