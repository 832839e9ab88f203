// Resize (ai.onnx opsets 10, 11, 13; N-D): nearest / linear / cubic with every
// coordinate_transformation_mode and nearest_mode, scales or sizes, roi and
// extrapolation_value for tf_crop_and_resize. Defined in resize.cc and
// registered from RegisterPoolNormKernels (pool.cc).
#pragma once

namespace tessera::engine {

class KernelRegistry;

void RegisterResizeKernel(KernelRegistry& registry);

}  // namespace tessera::engine
