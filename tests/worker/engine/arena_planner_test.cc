#include "worker/engine/arena_planner.h"

#include "gtest/gtest.h"

namespace tessera::engine {
namespace {

bool Overlap(const BufferRequest& a, int64_t oa, const BufferRequest& b, int64_t ob) {
  const bool time = a.first_step <= b.last_step && b.first_step <= a.last_step;
  const bool space = oa < ob + b.bytes && ob < oa + a.bytes;
  return time && space;
}

TEST(ArenaPlannerTest, ChainReusesMemory) {
  // a -> b -> c -> d: each buffer dies after the next is written.
  std::vector<BufferRequest> reqs = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}};
  ArenaLayout layout = PlanArena(reqs);
  EXPECT_LE(layout.total_bytes, 2 * 1024);
  EXPECT_EQ(layout.offsets[0], layout.offsets[2]);
}

TEST(ArenaPlannerTest, LiveBuffersNeverOverlap) {
  std::vector<BufferRequest> reqs;
  for (int i = 0; i < 60; ++i) reqs.push_back({(i * 37 % 11 + 1) * 100, i % 13, i % 13 + i % 5});
  ArenaLayout layout = PlanArena(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(layout.offsets[i] % 64, 0);
    EXPECT_LE(layout.offsets[i] + reqs[i].bytes, layout.total_bytes);
    for (size_t j = i + 1; j < reqs.size(); ++j) {
      EXPECT_FALSE(Overlap(reqs[i], layout.offsets[i], reqs[j], layout.offsets[j])) << i << " " << j;
    }
  }
}

TEST(ArenaPlannerTest, EmptyPlan) {
  ArenaLayout layout = PlanArena({});
  EXPECT_EQ(layout.total_bytes, 0);
}

}  // namespace
}  // namespace tessera::engine
