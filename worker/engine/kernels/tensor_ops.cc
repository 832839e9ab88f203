// The tensor kernel group: shape and data-movement operators. Each theme
// lives in its own tensor_ops_<theme>.cc file.
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/kernel_groups.h"
#include "worker/engine/kernels/tensor_ops_common.h"

namespace tessera::engine {

void RegisterTensorKernels(KernelRegistry& registry) {
  tensor_ops::RegisterShapeViewKernels(registry);
  tensor_ops::RegisterShapeQueryKernels(registry);
  tensor_ops::RegisterConcatSplitKernels(registry);
  tensor_ops::RegisterSliceKernels(registry);
  tensor_ops::RegisterGatherKernels(registry);
  tensor_ops::RegisterLayoutKernels(registry);
  tensor_ops::RegisterReplicateKernels(registry);
  tensor_ops::RegisterPadKernels(registry);
  tensor_ops::RegisterTriluKernels(registry);
}

}  // namespace tessera::engine
