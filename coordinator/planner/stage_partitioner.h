// Stage partitioning: cuts a topologically ordered node list into K
// consecutive, non-empty ranges.
//
// Objective, in order:
//  1. minimize the largest stage cost, where a stage's cost is the sum of its
//     nodes' costs plus the time to receive its inputs from earlier stages
//     (bytes / link_bytes_per_ms);
//  2. among partitions whose largest stage cost is within `balance_slack`
//     of that optimum, minimize the bytes sent between stages (the sum over
//     stages of the bytes each receives from earlier stages, so a tensor
//     read by two later stages counts twice: the coordinator sends it twice).
// Both are exact dynamic programs over cut positions: O(K * n * (n + E)) for
// n nodes and E tensor reads.
//
// The partitioner knows nothing about ONNX: the caller describes nodes and
// the tensors flowing between them.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::planner {

struct PartitionProblem {
  // Per node, in execution (topological) order.
  std::vector<double> node_cost;
  // A tensor produced by a node and read by later nodes.
  struct Tensor {
    int producer = 0;            // node index
    std::vector<int> consumers;  // node indices > producer
    int64_t bytes = 0;
  };
  std::vector<Tensor> tensors;
};

struct PartitionOptions {
  int stages = 1;
  // Link speed for the transfer term of a stage's cost; <= 0 ignores it.
  double link_bytes_per_ms = 1e6;  // ~1 GB/s
  double balance_slack = 0.02;
};

struct Partition {
  // Stage s holds nodes [bounds[s], bounds[s+1]); bounds.front() == 0,
  // bounds.back() == number of nodes.
  std::vector<int> bounds;
  std::vector<double> compute_cost;  // per stage: sum of node costs
  std::vector<double> stage_cost;    // compute plus receive time
  std::vector<int64_t> bytes_in;     // per stage: received from earlier stages
  // Per cut c (between stage c and c+1): bytes of tensors produced at or
  // before stage c and read after it (the live set crossing the cut).
  std::vector<int64_t> cut_bytes;
};

// InvalidArgument for stages < 1, more stages than nodes, a negative cost or
// size, or a tensor whose consumer does not come after its producer.
absl::StatusOr<Partition> PartitionStages(const PartitionProblem& problem, const PartitionOptions& options);

// The figures PartitionStages reports (compute, receive bytes, stage cost
// with the transfer term, cut bytes) for given `bounds`, so that two cuts
// can be compared under the same costs. options.stages is ignored.
// InvalidArgument for bounds that do not run from 0 to the node count in
// strictly increasing steps, and for what PartitionStages refuses.
absl::StatusOr<Partition> EvaluatePartition(const PartitionProblem& problem, const std::vector<int>& bounds,
                                            const PartitionOptions& options);

}  // namespace tessera::planner
