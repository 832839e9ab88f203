// Planning on costs measured elsewhere (the workers' Profile): measured node
// times replace the estimate, move the cut, and EvaluateBounds compares the
// old cut and the new one under the same costs.
#include <string>
#include <vector>

#include "coordinator/planner/stage_planner.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/engine_test_util.h"

namespace tessera::planner {
namespace {

using engine::testing::DelayChainModel;

// Delay "delay0" -> Add "add0" -> ... -> Identity "out": `delays` Delays of
// `micros` per sample (DelayChainModel).
std::string DelayChain(int delays, int64_t micros) { return DelayChainModel(std::vector<int64_t>(delays, micros)); }

PlannerOptions Options() {
  PlannerOptions o;
  o.stages = 2;
  o.threads = 1;
  o.measure_runs = 0;  // the estimate: four equal Delays
  return o;
}

int DelaysIn(const PlannedStage& s) {
  int n = 0;
  for (const auto& op : s.op_types) n += op == "ai.tessera.sim.Delay";
  return n;
}

TEST(MeasuredCosts, MeasuredTimesMoveTheCutAndEvaluateBoundsComparesCuts) {
  auto model = PrepareModel(DelayChain(4, 1000), Options());
  ASSERT_TRUE(model.ok()) << model.status();
  auto estimated = PlanPrepared(*model, Options());
  ASSERT_TRUE(estimated.ok()) << estimated.status();
  ASSERT_EQ(estimated->stages.size(), 2u);
  EXPECT_EQ(DelaysIn(estimated->stages[0]), 2);
  EXPECT_FALSE(estimated->measured);
  const std::vector<int> old_bounds = PlanBounds(*estimated);
  ASSERT_EQ(old_bounds.size(), 3u);
  EXPECT_EQ(old_bounds.front(), 0);
  EXPECT_EQ(old_bounds.back(), model->optimized.graph().node_size());

  // The workers say the last two Delays take 10 ms, the others 1 ms.
  absl::flat_hash_map<std::string, double> measured;
  for (const NodeCost& c : model->costs) measured[c.name] = 0.01;
  measured["delay0"] = measured["delay1"] = 1.0;
  measured["delay2"] = measured["delay3"] = 10.0;
  ASSERT_TRUE(ApplyMeasuredCosts(&*model, measured).ok());
  EXPECT_TRUE(model->measured);
  auto replanned = PlanPrepared(*model, Options());
  ASSERT_TRUE(replanned.ok()) << replanned.status();
  EXPECT_TRUE(replanned->measured);
  EXPECT_EQ(DelaysIn(replanned->stages[0]), 3);
  EXPECT_EQ(DelaysIn(replanned->stages[1]), 1);

  auto before = EvaluateBounds(*model, old_bounds, Options());
  auto after = EvaluateBounds(*model, PlanBounds(*replanned), Options());
  ASSERT_TRUE(before.ok() && after.ok());
  const double before_max = std::max(before->stage_cost[0], before->stage_cost[1]);
  const double after_max = std::max(after->stage_cost[0], after->stage_cost[1]);
  EXPECT_NEAR(before_max, 20.0, 0.2);  // delay2 + delay3 in the second stage
  EXPECT_NEAR(after_max, 12.0, 0.2);   // delay0..2 | delay3
  EXPECT_NEAR(after->compute_cost[1], 10.0, 0.2);
}

TEST(MeasuredCosts, BadInputIsRefused) {
  auto model = PrepareModel(DelayChain(2, 100), Options());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(ApplyMeasuredCosts(&*model, {{"delay0", -1.0}}).code(), absl::StatusCode::kInvalidArgument);
  const int n = model->optimized.graph().node_size();
  EXPECT_EQ(EvaluateBounds(*model, {0, n + 1}, Options()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EvaluateBounds(*model, {0, 2, 2, n}, Options()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EvaluateBounds(*model, {1, n}, Options()).status().code(), absl::StatusCode::kInvalidArgument);
  PlannerOptions too_many = Options();
  too_many.stages = n + 1;
  EXPECT_EQ(PlanPrepared(*model, too_many).status().code(), absl::StatusCode::kInvalidArgument);
}

// The transfer term: a slow link charges each stage for what it receives.
TEST(MeasuredCosts, EvaluateBoundsChargesReceivedBytesAtTheLinkSpeed) {
  PlannerOptions options = Options();
  options.batch = 4;  // every cut tensor is 4 x 16 floats = 256 bytes
  auto model = PrepareModel(DelayChain(2, 100), options);
  ASSERT_TRUE(model.ok()) << model.status();
  const int n = model->optimized.graph().node_size();
  options.link_bytes_per_ms = 128;  // 2 ms per cut tensor
  auto figures = EvaluateBounds(*model, {0, 1, n}, options);
  ASSERT_TRUE(figures.ok()) << figures.status();
  EXPECT_EQ(figures->bytes_in[1], 256);
  EXPECT_NEAR(figures->stage_cost[1] - figures->compute_cost[1], 2.0, 1e-9);
  EXPECT_EQ(figures->cut_bytes[0], 256);
}

}  // namespace
}  // namespace tessera::planner
