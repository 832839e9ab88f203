// The stage planner on simulation models (ai.tessera.sim.Delay chains): the
// declared delay is the node's cost, so a chain of equal Delays separated by
// cheap operators is cut into balanced stages, one Delay each, and unequal
// delays move the cuts (a FLOP-only estimate would cut by node count).
#include <string>
#include <vector>

#include "coordinator/planner/stage_planner.h"
#include "gtest/gtest.h"
#include "tests/coordinator/planner/planner_test_util.h"
#include "tests/worker/engine/engine_test_util.h"

namespace tessera::planner {
namespace {

using engine::testing::DelayChainModel;

PlannerOptions Options(int stages, int measure_runs) {
  PlannerOptions o;
  o.stages = stages;
  o.threads = 1;
  o.batch = 4;
  o.measure_runs = measure_runs;
  return o;
}

int DelaysIn(const PlannedStage& s) {
  int n = 0;
  for (const auto& op : s.op_types) n += op == "ai.tessera.sim.Delay";
  return n;
}

TEST(DelayStagePlanner, FourEqualDelaysMakeFourBalancedStagesOnTheEstimate) {
  const std::string bytes = DelayChainModel({10000, 10000, 10000, 10000});  // 10 ms per sample
  auto plan = PlanPipeline(bytes, Options(4, /*measure_runs=*/0));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->stages.size(), 4u);
  for (const auto& s : plan->stages) {
    EXPECT_EQ(DelaysIn(s), 1) << "stage " << s.index;
    // Sample batch 4 * 10 ms = 40 ms declared; the Adds cost microseconds.
    EXPECT_NEAR(s.estimated_ms, 40.0, 0.5) << "stage " << s.index;
  }
  EXPECT_LT(plan->MaxStageCost(), 1.02 * plan->MeanStageCost());

  // The stages chained reproduce the whole model: x + 3.
  const Tensor x = engine::testing::RandomTensor({2, 16}, 5);
  auto out = testing::RunPipeline(*plan, {{"x", x}});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 1u);
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    EXPECT_FLOAT_EQ((*out)[0].data<float>()[i], x.data<float>()[i] + 3.0f) << i;
  }
}

TEST(DelayStagePlanner, MeasuredTimesIncludeTheSleep) {
  const std::string bytes = DelayChainModel({5000, 5000, 5000, 5000});  // 20 ms per Delay at batch 4
  auto plan = PlanPipeline(bytes, Options(4, /*measure_runs=*/1));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(plan->measured);
  ASSERT_EQ(plan->stages.size(), 4u);
  for (const auto& s : plan->stages) {
    EXPECT_EQ(DelaysIn(s), 1) << "stage " << s.index;
    ASSERT_TRUE(s.measured_ms.has_value());
    EXPECT_GE(*s.measured_ms, 20.0) << "stage " << s.index;  // a sleep never ends early
  }
}

TEST(DelayStagePlanner, UnequalDelaysMoveTheCut) {
  // 1 + 1 + 1 | 3: by node count the cut would fall in the middle.
  const std::string bytes = DelayChainModel({1000, 1000, 1000, 3000});
  auto plan = PlanPipeline(bytes, Options(2, /*measure_runs=*/0));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->stages.size(), 2u);
  EXPECT_EQ(DelaysIn(plan->stages[0]), 3);
  EXPECT_EQ(DelaysIn(plan->stages[1]), 1);
  EXPECT_NEAR(plan->stages[0].estimated_ms, 12.0, 0.5);
  EXPECT_NEAR(plan->stages[1].estimated_ms, 12.0, 0.5);
}

}  // namespace
}  // namespace tessera::planner
