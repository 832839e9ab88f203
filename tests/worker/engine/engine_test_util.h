// Helpers shared by the engine-level tests (optimizer passes, executor).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/tensor.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/engine.h"
#include "worker/engine/graph.h"

namespace tessera::engine::testing {

// Loads `model_bytes` twice, optimized (the default) and with
// EngineOptions::optimize = false, runs both on `inputs` and expects every
// output to agree within `tolerance` (relative and absolute).
void ExpectOptimizedMatchesReference(const std::string& model_bytes, const std::vector<NamedTensor>& inputs,
                                     double tolerance = 1e-5);

// Validates `model_bytes`, builds its Graph and runs constant folding and the
// fusion passes (not the layout pass), as Engine loading does; failures are
// test failures.
Graph FoldAndFuse(const std::string& model_bytes);

// "Conv", "ai.tessera.FusedConv", ... for each node, in order.
std::vector<std::string> OpTypes(const Graph& graph);

}  // namespace tessera::engine::testing
