// Helpers shared by the engine-level tests (optimizer passes, executor), and
// the simulation models (ai.tessera.sim.Delay) the planner, re-planning and
// profiling tests build.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/tensor.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "tests/worker/engine/model_builder.h"
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

// The simulation operators' domain (worker/engine/kernels: Delay sleeps a
// declared time and passes its input through).
inline constexpr char kSimDomain[] = "ai.tessera.sim";

// Imports kSimDomain (version 1) into `b`'s model.
void ImportSimDomain(ModelBuilder& b);

// A chain whose stages take known times, the shape of
// bench/models/make_sim_models.py's sim_pipeline.onnx:
//   x [N, 16] -> Delay "delay0" -> Add(1) "add0" -> Delay "delay1" -> ...
//     -> Delay "delayK" -> Identity "out" -> y [N, 16] = x + K,
// one Delay per entry of `micros_per_sample` (its microseconds_per_sample),
// Delay i writing "delayed<i>", Add i "added<i>".
std::string DelayChainModel(const std::vector<int64_t>& micros_per_sample);

}  // namespace tessera::engine::testing
