#include "client/latency_stats.h"

#include "gtest/gtest.h"

namespace tessera::client {
namespace {

TEST(LatencyStatsTest, InterpolatesPercentilesLikeNumpy) {
  // numpy.percentile([4, 1, 3, 2], [50, 90, 99]) = [2.5, 3.7, 3.97]
  const LatencyStats stats = SummarizeLatencies({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(stats.min, 1);
  EXPECT_DOUBLE_EQ(stats.max, 4);
  EXPECT_DOUBLE_EQ(stats.p50, 2.5);
  EXPECT_NEAR(stats.p90, 3.7, 1e-12);
  EXPECT_NEAR(stats.p99, 3.97, 1e-12);
  EXPECT_DOUBLE_EQ(stats.mean, 2.5);
}

TEST(LatencyStatsTest, SingleSampleAndEmpty) {
  const LatencyStats one = SummarizeLatencies({7});
  EXPECT_DOUBLE_EQ(one.min, 7);
  EXPECT_DOUBLE_EQ(one.p50, 7);
  EXPECT_DOUBLE_EQ(one.p99, 7);
  EXPECT_DOUBLE_EQ(one.mean, 7);
  const LatencyStats none = SummarizeLatencies({});
  EXPECT_DOUBLE_EQ(none.p50, 0);
  EXPECT_DOUBLE_EQ(none.mean, 0);
}

}  // namespace
}  // namespace tessera::client
