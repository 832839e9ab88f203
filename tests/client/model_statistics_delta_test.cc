#include "client/model_statistics_delta.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

using ::testing::HasSubstr;

void Set(inference::StatisticDuration* d, uint64_t count, uint64_t ns) {
  d->set_count(count);
  d->set_ns(ns);
}

inference::ModelStatistics Stats(uint64_t requests, uint64_t queue_ns, uint64_t infer_ns) {
  inference::ModelStatistics s;
  s.set_name("m");
  s.set_version("1");
  Set(s.mutable_inference_stats()->mutable_success(), requests, requests * 1000000);
  Set(s.mutable_inference_stats()->mutable_queue(), requests, queue_ns);
  Set(s.mutable_inference_stats()->mutable_compute_input(), requests, requests * 2000);
  Set(s.mutable_inference_stats()->mutable_compute_infer(), requests, infer_ns);
  Set(s.mutable_inference_stats()->mutable_compute_output(), requests, requests * 500);
  return s;
}

inference::StageStatistics* AddStage(inference::ModelStatistics* s, uint32_t number, uint64_t pieces, uint64_t queue_ns,
                                     uint64_t compute_ns, uint64_t transfer_ns) {
  inference::StageStatistics* stage = s->add_stage_stats();
  stage->set_stage(number);
  stage->set_workers(2);
  Set(stage->mutable_dispatch(), pieces, queue_ns + compute_ns + transfer_ns);
  Set(stage->mutable_queue(), pieces, queue_ns);
  Set(stage->mutable_compute(), pieces, compute_ns);
  Set(stage->mutable_transfer(), pieces, transfer_ns);
  return stage;
}

TEST(ModelStatisticsDeltaTest, PerRequestAveragesOfTheDeltas) {
  const inference::ModelStatistics before = Stats(10, 10 * 40000, 10 * 900000);
  // 20 more requests: queue 100 us each, compute infer 300 us each.
  const inference::ModelStatistics after = Stats(30, 10 * 40000 + 20 * 100000, 10 * 900000 + 20 * 300000);
  const ServerBreakdown b = ComputeServerBreakdown(before, after);
  EXPECT_EQ(b.requests, 20u);
  EXPECT_DOUBLE_EQ(b.request_us, 1000);  // success: 1 ms a request
  EXPECT_DOUBLE_EQ(b.queue_us, 100);
  EXPECT_DOUBLE_EQ(b.compute_input_us, 2);
  EXPECT_DOUBLE_EQ(b.compute_infer_us, 300);
  EXPECT_DOUBLE_EQ(b.compute_output_us, 0.5);
  EXPECT_TRUE(b.stages.empty());
}

TEST(ModelStatisticsDeltaTest, StagesArePerPieceAndMatchedByNumber) {
  inference::ModelStatistics before = Stats(1, 0, 0);
  AddStage(&before, 2, 4, 4000, 8000, 12000);
  AddStage(&before, 1, 10, 1000, 2000, 3000);
  inference::ModelStatistics after = Stats(5, 0, 0);
  // Stage 1: 8 more pieces, 5/50/7 us each. Stage 2: 4 more, 10/20/30 us.
  AddStage(&after, 1, 18, 1000 + 8 * 5000, 2000 + 8 * 50000, 3000 + 8 * 7000);
  AddStage(&after, 2, 8, 4000 + 4 * 10000, 8000 + 4 * 20000, 12000 + 4 * 30000);
  // Stage 3 appears only afterwards: counts from zero.
  AddStage(&after, 3, 2, 2000, 4000, 6000);
  const ServerBreakdown b = ComputeServerBreakdown(before, after);
  ASSERT_EQ(b.stages.size(), 3u);
  EXPECT_EQ(b.stages[0].stage, 1u);
  EXPECT_EQ(b.stages[0].pieces, 8u);
  EXPECT_EQ(b.stages[0].workers, 2u);
  EXPECT_DOUBLE_EQ(b.stages[0].queue_us, 5);
  EXPECT_DOUBLE_EQ(b.stages[0].compute_us, 50);
  EXPECT_DOUBLE_EQ(b.stages[0].transfer_us, 7);
  EXPECT_EQ(b.stages[1].stage, 2u);
  EXPECT_DOUBLE_EQ(b.stages[1].queue_us, 10);
  EXPECT_DOUBLE_EQ(b.stages[1].compute_us, 20);
  EXPECT_DOUBLE_EQ(b.stages[1].transfer_us, 30);
  EXPECT_EQ(b.stages[2].stage, 3u);
  EXPECT_DOUBLE_EQ(b.stages[2].queue_us, 1);
  EXPECT_DOUBLE_EQ(b.stages[2].transfer_us, 3);
}

TEST(ModelStatisticsDeltaTest, NoRequestsOrCountersGoingBackwardsGiveZero) {
  const inference::ModelStatistics same = Stats(7, 7000, 7000);
  const ServerBreakdown none = ComputeServerBreakdown(same, same);
  EXPECT_EQ(none.requests, 0u);
  EXPECT_EQ(none.queue_us, 0);
  const ServerBreakdown restarted = ComputeServerBreakdown(Stats(100, 1e9, 1e9), Stats(3, 3000, 3000));
  EXPECT_EQ(restarted.requests, 0u);
  EXPECT_EQ(restarted.compute_infer_us, 0);
}

TEST(ModelStatisticsDeltaTest, SelectSumsTheModelsVersionsAndNamesAMissingModel) {
  inference::ModelStatisticsResponse response;
  *response.add_model_stats() = Stats(2, 200, 0);
  inference::ModelStatistics v2 = Stats(3, 300, 0);
  v2.set_version("2");
  AddStage(&v2, 1, 3, 30, 60, 90);
  *response.add_model_stats() = v2;
  inference::ModelStatistics other = Stats(100, 1, 1);
  other.set_name("other");
  *response.add_model_stats() = other;

  absl::StatusOr<inference::ModelStatistics> all = SelectModelStatistics(response, "m", "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->inference_stats().success().count(), 5u);
  EXPECT_EQ(all->inference_stats().queue().ns(), 500u);
  ASSERT_EQ(all->stage_stats_size(), 1);
  EXPECT_EQ(all->stage_stats(0).compute().ns(), 60u);

  absl::StatusOr<inference::ModelStatistics> one = SelectModelStatistics(response, "m", "2");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->inference_stats().success().count(), 3u);

  absl::StatusOr<inference::ModelStatistics> missing = SelectModelStatistics(response, "nope", "");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("'nope'"));
  EXPECT_EQ(SelectModelStatistics(response, "m", "9").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::client
