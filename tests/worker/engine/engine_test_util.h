// Helpers shared by the engine-level tests (optimizer passes, executor).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/tensor.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/engine.h"

namespace tessera::engine::testing {

// Loads `model_bytes` twice, optimized (the default) and with
// EngineOptions::optimize = false, runs both on `inputs` and expects every
// output to agree within `tolerance` (relative and absolute).
void ExpectOptimizedMatchesReference(const std::string& model_bytes, const std::vector<NamedTensor>& inputs,
                                     double tolerance = 1e-5);

}  // namespace tessera::engine::testing
