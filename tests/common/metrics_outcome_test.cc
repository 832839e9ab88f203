// OutcomeCounters: the success series from the start, one failure series
// per gRPC code name on first use, exact counts under concurrent use.
#include "common/metrics_outcome.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "tests/common/metrics_test_util.h"

namespace tessera {
namespace {

using testing::MetricValue;

TEST(OutcomeCountersTest, SuccessFromTheStartFailuresByCodeName) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("t_total").Help("t").Register(registry);
  OutcomeCounters counters(&family, {{"model", "m"}});
  EXPECT_EQ(MetricValue(registry, "t_total", {{"model", "m"}, {"outcome", "success"}, {"reason", "OK"}}), 0);
  EXPECT_EQ(MetricValue(registry, "t_total", {{"outcome", "failure"}}), -1);
  counters.Record(absl::OkStatus());
  counters.Record(absl::InvalidArgumentError("x"));
  counters.Record(absl::InvalidArgumentError("y"));
  counters.Record(absl::StatusCode::kResourceExhausted);
  counters.Record(static_cast<absl::StatusCode>(99));  // not a code: UNKNOWN
  EXPECT_EQ(MetricValue(registry, "t_total", {{"outcome", "success"}, {"reason", "OK"}}), 1);
  EXPECT_EQ(MetricValue(registry, "t_total", {{"outcome", "failure"}, {"reason", "INVALID_ARGUMENT"}}), 2);
  EXPECT_EQ(MetricValue(registry, "t_total", {{"outcome", "failure"}, {"reason", "RESOURCE_EXHAUSTED"}}), 1);
  EXPECT_EQ(MetricValue(registry, "t_total", {{"outcome", "failure"}, {"reason", "UNKNOWN"}}), 1);
}

TEST(OutcomeCountersTest, ConcurrentRecordsAreAllCounted) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("t_total").Help("t").Register(registry);
  OutcomeCounters counters(&family, {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) counters.Record(i % 2 ? absl::StatusCode::kUnavailable : absl::StatusCode::kOk);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(MetricValue(registry, "t_total", {{"reason", "OK"}}), 2000);
  EXPECT_EQ(MetricValue(registry, "t_total", {{"reason", "UNAVAILABLE"}}), 2000);
}

TEST(OutcomeCountersTest, BucketsAreIncreasing) {
  for (const auto& buckets : {LatencySecondsBuckets(), BatchSizeBuckets()}) {
    ASSERT_FALSE(buckets.empty());
    for (size_t i = 1; i < buckets.size(); ++i) EXPECT_LT(buckets[i - 1], buckets[i]);
  }
}

}  // namespace
}  // namespace tessera
