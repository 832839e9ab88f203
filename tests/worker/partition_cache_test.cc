// PartitionCache: LRU eviction within the budget, refusal of a partition
// larger than the budget, replacement, removal, snapshots; partitions in use
// outlive their eviction.
#include "worker/partition_cache.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace tessera::worker {
namespace {

std::shared_ptr<const LoadedPartition> Partition(const std::string& id, uint64_t bytes) {
  PartitionHeader header;
  header.set_partition_id(id);
  header.set_model_name("m");
  return std::make_shared<const LoadedPartition>(header, nullptr, bytes, absl::Now());
}

TEST(PartitionCacheTest, EvictsLeastRecentlyUsedToStayWithinBudget) {
  PartitionCache cache(100);
  ASSERT_TRUE(cache.Insert(Partition("a", 40)).ok());
  ASSERT_TRUE(cache.Insert(Partition("b", 40)).ok());
  ASSERT_NE(cache.Find("a"), nullptr);  // a is now the most recent
  ASSERT_TRUE(cache.Insert(Partition("c", 40)).ok());
  EXPECT_NE(cache.Find("a"), nullptr);
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_NE(cache.Find("c"), nullptr);
  EXPECT_EQ(cache.memory_in_use(), 80u);
}

TEST(PartitionCacheTest, PartitionLargerThanBudgetIsRefused) {
  PartitionCache cache(100);
  ASSERT_TRUE(cache.Insert(Partition("a", 60)).ok());
  absl::Status st = cache.Insert(Partition("huge", 101));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("101"), std::string::npos) << st;
  EXPECT_NE(st.message().find("budget"), std::string::npos) << st;
  EXPECT_EQ(cache.CheckFits(101).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(cache.CheckFits(100).ok());
  EXPECT_NE(cache.Find("a"), nullptr) << "a refused insert must not evict";
}

TEST(PartitionCacheTest, UnboundedWithZeroBudget) {
  PartitionCache cache(0);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(cache.Insert(Partition(std::to_string(i), uint64_t{1} << 40)).ok());
  EXPECT_EQ(cache.Snapshot().size(), 10u);
}

TEST(PartitionCacheTest, ReinsertReplacesAndRemoveFrees) {
  PartitionCache cache(100);
  ASSERT_TRUE(cache.Insert(Partition("a", 30)).ok());
  ASSERT_TRUE(cache.Insert(Partition("a", 50)).ok());
  EXPECT_EQ(cache.memory_in_use(), 50u);
  EXPECT_EQ(cache.Snapshot().size(), 1u);
  EXPECT_EQ(cache.Remove("a"), 50u);
  EXPECT_EQ(cache.Remove("a"), 0u);
  EXPECT_EQ(cache.memory_in_use(), 0u);
}

TEST(PartitionCacheTest, SnapshotIsMostRecentFirst) {
  PartitionCache cache(0);
  ASSERT_TRUE(cache.Insert(Partition("a", 1)).ok());
  ASSERT_TRUE(cache.Insert(Partition("b", 1)).ok());
  cache.Find("a");
  auto snapshot = cache.Snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  EXPECT_EQ(snapshot[0]->id(), "a");
  EXPECT_EQ(snapshot[1]->id(), "b");
}

TEST(PartitionCacheTest, EvictedPartitionInUseStaysAlive) {
  PartitionCache cache(10);
  ASSERT_TRUE(cache.Insert(Partition("a", 10)).ok());
  std::shared_ptr<const LoadedPartition> in_use = cache.Find("a");
  ASSERT_TRUE(cache.Insert(Partition("b", 10)).ok());
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(in_use->id(), "a");
}

TEST(PartitionCacheTest, UsageCountersShowInStatus) {
  auto p = Partition("a", 5);
  p->RecordExecute(absl::FromUnixMillis(5000), absl::Microseconds(100));
  p->RecordExecute(absl::FromUnixMillis(6000), absl::Microseconds(200));
  PartitionStatus status;
  p->FillStatus(&status);
  EXPECT_EQ(status.partition_id(), "a");
  EXPECT_EQ(status.execute_count(), 2u);
  EXPECT_EQ(status.last_used_unix_ms(), 6000);
  EXPECT_EQ(status.mean_compute_time_us(), 120u);  // 0.8 * 100 + 0.2 * 200
  EXPECT_EQ(status.model_bytes(), 5u);
}

}  // namespace
}  // namespace tessera::worker
