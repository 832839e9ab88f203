#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/kernel_groups.h"

namespace tessera::engine {

void RegisterTensorKernels(KernelRegistry& registry) { (void)registry; }

}  // namespace tessera::engine
