// Helpers for the stage planner tests: the committed real models, and
// running a plan's stage models one after another through the engine.
#pragma once

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/tensor.h"
#include "coordinator/planner/pipeline_plan.h"
#include "worker/engine/engine.h"

namespace tessera::planner::testing {

inline std::string ReadTestModel(const std::string& name) {
  std::ifstream f(std::string(TESSERA_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

inline bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.byte_size()) == 0;
}

// Runs the stage models in order as the coordinator would: each stage gets
// exactly the tensors its routes name, from the request or from the outputs
// the named earlier stage returned. Returns the graph outputs in the plan's
// order. Fails when a route names a tensor its source did not return.
inline absl::StatusOr<std::vector<Tensor>> RunPipeline(const PipelinePlan& plan,
                                                       const std::vector<engine::NamedTensor>& request,
                                                       int threads = 2) {
  std::map<std::string, Tensor> from_request;
  for (const auto& in : request) from_request[in.name] = in.tensor;
  std::vector<std::map<std::string, Tensor>> returned(plan.stages.size());
  auto lookup = [&](const TensorRoute& r) -> absl::StatusOr<Tensor> {
    const auto& source = r.source_stage == kFromRequest ? from_request : returned.at(r.source_stage);
    auto it = source.find(r.name);
    if (it == source.end()) {
      return absl::NotFoundError(absl::StrCat("'", r.name, "' not returned by source ", r.source_stage));
    }
    return it->second;
  };
  for (const PlannedStage& stage : plan.stages) {
    auto engine = engine::Engine::LoadFromBytes(stage.model, {.intra_op_threads = threads});
    if (!engine.ok()) return engine.status();
    std::vector<engine::NamedTensor> inputs;
    for (const auto& r : stage.inputs) {
      if (r.source_stage != kFromRequest && r.source_stage >= stage.index) {
        return absl::InternalError(absl::StrCat("stage ", stage.index, " reads '", r.name, "' from a later stage"));
      }
      absl::StatusOr<Tensor> t = lookup(r);
      if (!t.ok()) return t.status();
      inputs.push_back({r.name, *t});
    }
    auto outputs = (*engine)->Run(inputs);
    if (!outputs.ok()) return outputs.status();
    const auto& info = (*engine)->outputs();
    if (info.size() != stage.outputs.size()) return absl::InternalError("stage output count differs from its routes");
    for (size_t i = 0; i < info.size(); ++i) {
      if (info[i].name != stage.outputs[i].name) return absl::InternalError("stage outputs out of route order");
      returned[stage.index][info[i].name] = (*outputs)[i];
    }
  }
  std::vector<Tensor> result;
  for (const auto& r : plan.outputs) {
    absl::StatusOr<Tensor> t = lookup(r);
    if (!t.ok()) return t.status();
    result.push_back(*t);
  }
  return result;
}

}  // namespace tessera::planner::testing
