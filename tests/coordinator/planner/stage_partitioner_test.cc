#include "coordinator/planner/stage_partitioner.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"

namespace tessera::planner {
namespace {

PartitionProblem Chain(const std::vector<double>& costs, int64_t bytes = 0) {
  PartitionProblem p;
  p.node_cost = costs;
  for (int i = 0; i + 1 < static_cast<int>(costs.size()); ++i) p.tensors.push_back({i, {i + 1}, bytes});
  return p;
}

// The smallest largest-stage compute cost over all partitions, by brute force.
double BruteForceMax(const std::vector<double>& cost, int k) {
  const int n = static_cast<int>(cost.size());
  double best = 1e300;
  std::vector<int> cuts;
  std::function<void(int, int)> rec = [&](int start, int left) {
    if (left == 1) {
      std::vector<int> b = {0};
      b.insert(b.end(), cuts.begin(), cuts.end());
      b.push_back(n);
      double mx = 0;
      for (size_t s = 0; s + 1 < b.size(); ++s) {
        double sum = 0;
        for (int i = b[s]; i < b[s + 1]; ++i) sum += cost[i];
        mx = std::max(mx, sum);
      }
      best = std::min(best, mx);
      return;
    }
    for (int c = start; c <= n - left + 1; ++c) {
      cuts.push_back(c);
      rec(c + 1, left - 1);
      cuts.pop_back();
    }
  };
  rec(1, k);
  return best;
}

TEST(StagePartitionerTest, MatchesBruteForceOptimumOnRandomChains) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> dist(0.1, 10);
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<double> cost(3 + trial % 10);
    for (double& c : cost) c = dist(rng);
    for (int k = 1; k <= std::min<int>(4, static_cast<int>(cost.size())); ++k) {
      auto p = PartitionStages(Chain(cost), {.stages = k, .link_bytes_per_ms = 0, .balance_slack = 0});
      ASSERT_TRUE(p.ok()) << p.status();
      ASSERT_EQ(static_cast<int>(p->bounds.size()), k + 1);
      const double mx = *std::max_element(p->stage_cost.begin(), p->stage_cost.end());
      EXPECT_NEAR(mx, BruteForceMax(cost, k), 1e-9) << "trial " << trial << " k " << k;
      for (int s = 0; s < k; ++s) EXPECT_LT(p->bounds[s], p->bounds[s + 1]);
    }
  }
}

TEST(StagePartitionerTest, PrefersTheCheapCutAmongBalancedOnes) {
  // Four equal nodes; cutting after node 1 or 2 is equally balanced within
  // the slack, but the tensor leaving node 1 is large.
  PartitionProblem p;
  p.node_cost = {1, 1, 1.01, 1};
  p.tensors = {{0, {1}, 10}, {1, {2}, 1000}, {2, {3}, 10}};
  auto part = PartitionStages(p, {.stages = 2, .link_bytes_per_ms = 0, .balance_slack = 0.6});
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_NE(part->bounds[1], 2);
  EXPECT_EQ(part->cut_bytes.size(), 1u);
  EXPECT_EQ(part->cut_bytes[0], 10);
  EXPECT_EQ(part->bytes_in[1], 10);
}

TEST(StagePartitionerTest, SkipTensorsCountAtEveryCutTheyCrossAndOncePerReadingStage) {
  // Node 0's output is read by nodes 1 and 3: a skip connection.
  PartitionProblem p;
  p.node_cost = {1, 1, 1, 1};
  p.tensors = {{0, {1, 3}, 100}, {1, {2}, 1}, {2, {3}, 1}};
  auto part = PartitionStages(p, {.stages = 4, .link_bytes_per_ms = 0});
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_EQ(part->cut_bytes, (std::vector<int64_t>{100, 101, 101}));
  EXPECT_EQ(part->bytes_in, (std::vector<int64_t>{0, 100, 1, 101}));
}

TEST(StagePartitionerTest, TransferTimeCountsInTheStageCost) {
  PartitionProblem p = Chain({1, 1}, 2000);
  auto part = PartitionStages(p, {.stages = 2, .link_bytes_per_ms = 1000});
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_DOUBLE_EQ(part->stage_cost[0], 1);
  EXPECT_DOUBLE_EQ(part->stage_cost[1], 3);
}

TEST(StagePartitionerTest, RejectsBadRequests) {
  const PartitionProblem p = Chain({1, 2, 3});
  EXPECT_EQ(PartitionStages(p, {.stages = 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionStages(p, {.stages = 4}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionStages(PartitionProblem{}, {.stages = 1}).status().code(), absl::StatusCode::kInvalidArgument);
  PartitionProblem bad = p;
  bad.tensors.push_back({2, {1}, 4});
  EXPECT_EQ(PartitionStages(bad, {.stages = 2}).status().code(), absl::StatusCode::kInvalidArgument);
  bad = p;
  bad.node_cost[1] = -1;
  EXPECT_EQ(PartitionStages(bad, {.stages = 2}).status().code(), absl::StatusCode::kInvalidArgument);
  auto all = PartitionStages(p, {.stages = 3});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->bounds, (std::vector<int>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace tessera::planner
