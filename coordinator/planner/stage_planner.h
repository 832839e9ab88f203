// The stage planner: ONNX model bytes -> PipelinePlan of K stage models.
//
//  1. engine::OptimizeModelBytes: the graph the engine would run (folded,
//     fused, re-laid-out), exported with the optimized marker, so every stage
//     runs the same kernels in the same order as the whole model.
//  2. One traced engine run (engine::Engine::Trace) on random sample inputs
//     gives every tensor's concrete shape and every node's kernel time;
//     dynamic dimensions are bound to `batch` (dimension 0) or `dims`.
//  3. Node costs (node_cost.h), then the stage partitioner
//     (stage_partitioner.h) over consecutive ranges of the node order.
//  4. The partition builder (partition_builder.h) makes the stage models and
//     the routing table; each stage gets its content id (common/sha256.h).
//
// Thread safety: PlanPipeline is a pure function of its arguments (except for
// measured times) and may be called concurrently.
#pragma once

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/planner/node_cost.h"
#include "coordinator/planner/pipeline_plan.h"
#include "coordinator/planner/stage_partitioner.h"
#include "onnx/onnx_pb.h"
#include "worker/engine/engine.h"

namespace tessera::planner {

struct PlannerOptions {
  int stages = 1;
  // Sample binding for dynamic dimensions: dimension 0 of an input -> batch;
  // a named (dim_param) dimension in `dims` -> that value; any other -> other_dim.
  int64_t batch = 1;
  absl::flat_hash_map<std::string, int64_t> dims;
  int64_t other_dim = 16;
  // Engine threads for folding and the traced runs; 0 = all cores.
  int threads = 0;
  // Traced runs whose fastest per-node time is the measured cost; 0 keeps a
  // single shape-only run and plans on the FLOP/byte estimate alone
  // (deterministic: what tests use).
  int measure_runs = 3;
  CostModelOptions cost;
  // Measured milliseconds per node of the optimized graph (by node name),
  // e.g. from stage times the scheduler observed: they replace both the
  // estimate and the traced time of those nodes.
  absl::flat_hash_map<std::string, double> measured_node_ms;
  double link_bytes_per_ms = 1e6;  // PartitionOptions::link_bytes_per_ms
  double balance_slack = 0.02;     // PartitionOptions::balance_slack
  uint64_t seed = 1;               // random sample inputs
};

// InvalidArgument for a model that does not validate, stages < 1 or more
// stages than the optimized graph has nodes; other engine errors as they come.
absl::StatusOr<PipelinePlan> PlanPipeline(absl::string_view model_bytes, const PlannerOptions& options);

// The steps of PlanPipeline before and after choosing the cuts, for callers
// (and tests) that choose them differently.
struct PreparedModel {
  onnx::ModelProto optimized;  // engine::OptimizeModel export
  std::vector<engine::NamedTensor> sample;
  bool measured = false;
  std::vector<NodeCost> costs;  // per node of `optimized`
  // Every tensor of the traced run (graph inputs and node outputs) by name.
  absl::flat_hash_map<std::string, engine::TensorInfo> tensors;
};

// Steps 1-2 and the node costs. Ignores options.stages.
absl::StatusOr<PreparedModel> PrepareModel(absl::string_view model_bytes, const PlannerOptions& options);

// Replaces the cost of every node named in `node_ms` by that time (it
// becomes the node's measured_ms and cost_ms; model->measured turns true).
// InvalidArgument for a negative or non-finite time.
absl::Status ApplyMeasuredCosts(PreparedModel* model, const absl::flat_hash_map<std::string, double>& node_ms);

// Steps 3-4 on a prepared model: the cut into options.stages stages at
// options.link_bytes_per_ms and balance_slack. PlanPipeline is
// PrepareModel then PlanPrepared.
absl::StatusOr<PipelinePlan> PlanPrepared(const PreparedModel& model, const PlannerOptions& options);

// The partitioner's figures of given stage bounds on `model`'s current
// costs, the transfer term at options.link_bytes_per_ms: how good a cut is.
absl::StatusOr<Partition> EvaluateBounds(const PreparedModel& model, const std::vector<int>& bounds,
                                         const PlannerOptions& options);

// The stage bounds of a plan (cumulative node counts, from 0).
std::vector<int> PlanBounds(const PipelinePlan& plan);

// Step 4 for given stage bounds (as in Partition::bounds); stage cost_ms is
// the stages' compute cost (no transfer term) and cut_bytes are recomputed.
absl::StatusOr<PipelinePlan> BuildPlan(const PreparedModel& model, const std::vector<int>& bounds);

}  // namespace tessera::planner
