// ReplanDeployment with a scripted StageProfiler: the measured node times
// are laid onto the optimized graph stage by stage, the link speed is the
// median of the stage workers' measured links, the transfer term counts,
// and mismatches and failures are errors (the caller keeps its plan).
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/service/deployment_builder.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/worker/engine/engine_test_util.h"

namespace tessera::coordinator {
namespace {

using engine::testing::DelayChainModel;

// x [N, 16] -> (Delay "delayI" -> Add "addI") x 3 -> Delay "delay3" -> Identity "out".
LoadedModelVersion Model(int stages) {
  LoadedModelVersion model;
  model.name = "chain";
  model.version = 1;
  model.model_bytes = DelayChainModel({200, 200, 200, 200});
  model.config.mutable_parallelism()->set_strategy(inference::ModelParallelism::PIPELINE);
  model.config.mutable_parallelism()->set_stages(stages);
  return model;
}

// Node names of a stage partition, in order.
std::vector<std::string> NodeNames(const StagePartition& stage) {
  onnx::ModelProto model;
  EXPECT_TRUE(model.ParseFromString(*stage.onnx_bytes));
  std::vector<std::string> names;
  for (const auto& node : model.graph().node()) names.push_back(node.name());
  return names;
}

// Answers every stage with its partition's nodes at `ms` (0.01 for nodes
// not listed), from worker "wS", with link speed links[S] when given.
StageProfiler Scripted(std::map<std::string, double> ms, std::vector<std::optional<double>> links,
                       std::vector<worker::ProfileRequest>* requests = nullptr) {
  return [=](const Deployment& deployment, int stage, const worker::ProfileRequest& request, absl::Time,
             const std::function<bool()>&) -> absl::StatusOr<StageMeasurement> {
    if (requests != nullptr) requests->push_back(request);
    StageMeasurement m;
    m.worker = "w" + std::to_string(stage);
    if (stage < static_cast<int>(links.size())) m.link_bytes_per_ms = links[stage];
    m.profile.set_partition_id(request.partition_id());
    for (const std::string& name : NodeNames(deployment.stages[stage])) {
      worker::NodeTime* node = m.profile.add_nodes();
      node->set_name(name);
      node->set_ms(ms.contains(name) ? ms.at(name) : 0.01);
    }
    return m;
  };
}

bool IsDelay(const std::string& name) { return name.rfind("delay", 0) == 0; }

// Node times where the two Delays the first cut put in one stage take
// `slow` ms and the other Delays `other` ms (cheap nodes 0.01 * other).
std::map<std::string, double> SlowPair(const Deployment& deployment, double slow, double other) {
  std::map<std::string, double> ms;
  for (const StagePartition& stage : deployment.stages) {
    const std::vector<std::string> names = NodeNames(stage);
    const int delays = static_cast<int>(std::count_if(names.begin(), names.end(), IsDelay));
    for (const std::string& name : names) ms[name] = IsDelay(name) ? (delays == 2 ? slow : other) : 0.01 * other;
  }
  return ms;
}

// The most Delays any stage of `deployment` holds.
int MaxDelaysPerStage(const Deployment& deployment) {
  int most = 0;
  for (const StagePartition& stage : deployment.stages) {
    const std::vector<std::string> names = NodeNames(stage);
    most = std::max(most, static_cast<int>(std::count_if(names.begin(), names.end(), IsDelay)));
  }
  return most;
}

std::shared_ptr<const Deployment> Build(const LoadedModelVersion& model) {
  // The estimate alone (no traced runs on this machine): a deterministic first cut.
  auto deployment = BuildDeployment(model, {.workers = 4}, {.engine_threads = 1, .planning_runs = 0});
  EXPECT_TRUE(deployment.ok()) << deployment.status();
  return deployment.ok() ? *deployment : nullptr;
}

TEST(DeploymentReplan, SlowStageMovesTheCutAndTheMedianLinkIsUsed) {
  const LoadedModelVersion model = Model(3);
  std::shared_ptr<const Deployment> current = Build(model);
  ASSERT_NE(current, nullptr);
  ASSERT_EQ(current->stages.size(), 3u);
  ASSERT_EQ(MaxDelaysPerStage(*current), 2);  // four equal Delays in three stages
  std::vector<worker::ProfileRequest> requests;
  // Links 100, 5000 and 300 bytes/ms: the median is 300.
  auto result = ReplanDeployment(model, *current, {.engine_threads = 1},
                                 Scripted(SlowPair(*current, 30.0, 10.0), {100.0, 5000.0, 300.0}, &requests),
                                 {.runs = 4});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->link_measured);
  EXPECT_DOUBLE_EQ(result->link_bytes_per_ms, 300.0);
  EXPECT_EQ(result->workers, (std::vector<std::string>{"w0", "w1", "w2"}));
  ASSERT_EQ(requests.size(), 3u);
  for (size_t s = 0; s < requests.size(); ++s) {
    EXPECT_EQ(requests[s].partition_id(), current->stages[s].id);
    EXPECT_EQ(requests[s].runs(), 4u);
    // Every stage input is shaped from the planning sample: [1, 16].
    ASSERT_EQ(requests[s].inputs_size(), static_cast<int>(current->stages[s].inputs.size()));
    EXPECT_EQ(requests[s].inputs(0).shape_size(), 2);
    EXPECT_EQ(requests[s].inputs(0).shape(1), 16);
  }
  // The two Delays sharing a stage take 30 ms, the others 10: the current
  // cut's largest stage is those 60 ms (plus cheap nodes, and its input
  // when it is not the first stage); the new cut puts each slow Delay in a
  // stage of its own: about 30 ms.
  const std::map<std::string, double> times = SlowPair(*current, 30.0, 10.0);
  EXPECT_GE(result->current_max_ms, 60.0);
  EXPECT_LE(result->current_max_ms, 60.0 + 0.3 + 64.0 / 300.0);
  ASSERT_NE(result->deployment, nullptr) << result->summary;
  for (const StagePartition& stage : result->deployment->stages) {
    int slow = 0;
    for (const std::string& name : NodeNames(stage)) slow += times.at(name) == 30.0;
    EXPECT_LE(slow, 1) << result->summary;
  }
  EXPECT_GE(result->new_max_ms, 30.0);
  EXPECT_LE(result->new_max_ms, 30.0 + 0.3 + 64.0 / 300.0) << result->summary;
  EXPECT_LT(result->new_max_ms, result->current_max_ms * 0.95);
  EXPECT_NE(result->summary.find("median of measured links"), std::string::npos) << result->summary;
  EXPECT_EQ(result->deployment->strategy, Strategy::kPipeline);
  EXPECT_EQ(result->deployment->stages.size(), 3u);
}

TEST(DeploymentReplan, AgreeingMeasurementsKeepTheCutAndNoLinkMeansTheDefault) {
  const LoadedModelVersion model = Model(2);
  std::shared_ptr<const Deployment> current = Build(model);
  ASSERT_NE(current, nullptr);
  // Equal Delays: moving an Add (0.01 ms) across the cut is no gain worth a redeploy.
  auto result = ReplanDeployment(
      model, *current, {.engine_threads = 1},
      Scripted({{"delay0", 5.0}, {"delay1", 5.0}, {"delay2", 5.0}, {"delay3", 5.0}}, {}), {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->deployment, nullptr) << result->summary;
  EXPECT_FALSE(result->link_measured);
  EXPECT_DOUBLE_EQ(result->link_bytes_per_ms, 1e6);
  EXPECT_NE(result->summary.find("keeping the current cut"), std::string::npos) << result->summary;

  // Tiny stages: the slow-pair case a thousand times faster, a 33% gain of
  // 0.02 ms, is below min_improvement_ms.
  const LoadedModelVersion three = Model(3);
  std::shared_ptr<const Deployment> three_stages = Build(three);
  ASSERT_NE(three_stages, nullptr);
  auto tiny = ReplanDeployment(
      three, *three_stages, {.engine_threads = 1},
      Scripted(SlowPair(*three_stages, 0.03, 0.01), {}),
      {});
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  EXPECT_LT(tiny->new_max_ms, tiny->current_max_ms * 0.95) << tiny->summary;
  EXPECT_EQ(tiny->deployment, nullptr) << tiny->summary;
}

TEST(DeploymentReplan, ErrorsKeepThePlan) {
  const LoadedModelVersion model = Model(2);
  std::shared_ptr<const Deployment> current = Build(model);
  ASSERT_NE(current, nullptr);
  // The profiler fails on stage 1.
  StageProfiler failing = [](const Deployment& d, int stage, const worker::ProfileRequest& r, absl::Time t,
                             const std::function<bool()>& c) -> absl::StatusOr<StageMeasurement> {
    if (stage == 1) return absl::UnavailableError("w1 is gone");
    return Scripted({}, {})(d, stage, r, t, c);
  };
  auto failed = ReplanDeployment(model, *current, {.engine_threads = 1}, failing, {});
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(failed.status().message().find("stage 1: w1 is gone"), std::string::npos) << failed.status();

  // A worker whose partition has other nodes than the optimized graph.
  StageProfiler renamed = [](const Deployment& d, int stage, const worker::ProfileRequest& r, absl::Time t,
                             const std::function<bool()>& c) -> absl::StatusOr<StageMeasurement> {
    absl::StatusOr<StageMeasurement> m = Scripted({}, {})(d, stage, r, t, c);
    m->profile.mutable_nodes(0)->set_name("stranger");
    return m;
  };
  auto mismatch = ReplanDeployment(model, *current, {.engine_threads = 1}, renamed, {});
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(mismatch.status().message().find("'stranger'"), std::string::npos) << mismatch.status();

  auto cancelled = ReplanDeployment(model, *current, {.engine_threads = 1}, Scripted({}, {}), {},
                                    [] { return true; });
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);

  auto data = Model(1);
  data.config.mutable_parallelism()->set_strategy(inference::ModelParallelism::DATA);
  std::shared_ptr<const Deployment> whole = Build(data);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(ReplanDeployment(data, *whole, {}, Scripted({}, {}), {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tessera::coordinator
