// Turns a loaded model version into a Deployment: picks the strategy and the
// stage and replica counts from the config's `parallelism` block, the model's
// size against the workers' memory budgets and the number of workers, then
// cuts the model into stage partitions with the stage planner.
//
// Strategy resolution (`tessera plan` shows the same choice):
//   DATA      one partition, the whole (optimized) model, on every worker.
//   PIPELINE  K stages on K workers; stages 0: one per worker.
//   HYBRID    K stages times R replicas; stages 0: 2, replicas 0: workers / K.
//   AUTO      DATA when the model fits one worker's budget (or no budget is
//             set); otherwise the fewest stages whose partitions fit
//             (K = ceil(size / budget), each stage must fit), as HYBRID with
//             R = workers / K when there are workers for two or more
//             replicas, else PIPELINE.
// FAILED_PRECONDITION when there are not enough workers for the stages.
//
// Re-planning on measurements (ReplanDeployment): the first plan's node
// costs are estimates (FLOPs and bytes, refined by traced runs on the
// coordinator, which may be other hardware than the workers). Once the
// deployment's partitions are on the workers, each stage is profiled on the
// worker that runs its first replica (the Profile RPC, through a
// StageProfiler), the node times are mapped back onto the optimized graph
// (a partition keeps the graph's nodes, names and order), the link speed is
// the median of the stage workers' measured links (the partitioner takes
// one speed for every stage's transfer; the median is a typical link and
// one noisy or unmeasured worker does not swing it, where the slowest would
// charge every cut for the worst link), and the model is cut again. The new
// cut is taken only when its largest stage cost is lower than the current
// cut's, under the same measured costs, by more than min_improvement (and
// min_improvement_ms). Approximation: a node is costed at the speed of the
// worker that measured it (the one running its current stage), also when
// the new cut moves it to another stage's worker; on workers of different
// speeds the new cut is better than the old one, not necessarily optimal.
//
// Thread-safe (pure functions of their arguments; the profiler is called
// on the caller's thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/planner/stage_planner.h"
#include "coordinator/repository/model_repository.h"
#include "coordinator/scheduler/deployment.h"

namespace tessera::coordinator {

struct ClusterShape {
  int workers = 0;                   // healthy workers now
  uint64_t worker_memory_bytes = 0;  // smallest budget among them; 0: unbounded
};

struct StrategyChoice {
  Strategy strategy = Strategy::kData;
  int stages = 1;
  int replicas = 1;
  int64_t micro_batch_size = 0;
  std::string reason;  // one line: why this choice
};

// Step 1 (no planning): what to run. `model_bytes` is the model's size.
absl::StatusOr<StrategyChoice> ChooseStrategy(const inference::ModelParallelism& parallelism, uint64_t model_bytes,
                                              const ClusterShape& cluster);

struct DeploymentOptions {
  int engine_threads = 0;  // threads the workers' engines use (bit-identity of folded constants)
  // For configs whose parallelism.forwarding is FORWARDING_DEFAULT (the
  // coordinator's --stage-forwarding).
  Forwarding default_forwarding = Forwarding::kRelay;
  // Traced runs on the coordinator that refine the first plan's estimate
  // (PlannerOptions::measure_runs; 0: the FLOP/byte estimate alone,
  // deterministic).
  int planning_runs = 2;
};

// Steps 1 and 2: the Deployment of `model` on a cluster of that shape.
absl::StatusOr<std::shared_ptr<const Deployment>> BuildDeployment(const LoadedModelVersion& model,
                                                                  const ClusterShape& cluster,
                                                                  const DeploymentOptions& options);

// One stage measured on a worker.
struct StageMeasurement {
  std::string worker;  // address
  worker::ProfileResponse profile;
  // That worker's measured link speed, when a push measured one.
  std::optional<double> link_bytes_per_ms;
};

// Profiles stage `stage` of `deployment` on the worker that runs its first
// replica, pushing the partition there if needed. Blocking, bounded by
// `deadline`, and given up (CANCELLED) soon after `cancelled()` turns true
// (`cancelled` may be null). The coordinator's is a PartitionProfiler
// (pool/); tests fake it.
using StageProfiler = std::function<absl::StatusOr<StageMeasurement>(
    const Deployment& deployment, int stage, const worker::ProfileRequest& request, absl::Time deadline,
    const std::function<bool()>& cancelled)>;

struct ReplanOptions {
  // The new cut must lower the largest stage cost by more than this
  // fraction of the current one, and by more than min_improvement_ms (a
  // redeploy for microseconds is churn, and such figures are noise).
  double min_improvement = 0.05;
  double min_improvement_ms = 0.1;
  // Traced runs per stage on the worker (1..20).
  int runs = 3;
  // For the whole re-plan (every stage's push and profile).
  absl::Duration timeout = absl::Seconds(60);
};

struct ReplanResult {
  // Set when the new cut is better by more than min_improvement.
  std::shared_ptr<const Deployment> deployment;
  // Both cuts under the measured costs (compute plus transfer), in ms.
  double current_max_ms = 0, current_mean_ms = 0;
  double new_max_ms = 0, new_mean_ms = 0;
  double link_bytes_per_ms = 0;
  bool link_measured = false;  // false: no worker had a link sample; the planner's default
  std::vector<std::string> workers;  // per stage: where it was measured
  std::string summary;               // one line for the log
};

// Re-plans `current` (a PIPELINE or HYBRID deployment of `model` with two
// or more stages, built by BuildDeployment with `options`) on per-node times
// measured on the workers. FAILED_PRECONDITION for a deployment of one
// stage; the profiler's error (naming the stage) when a stage cannot be
// measured; INTERNAL when a partition's nodes do not match the optimized
// graph. On any error the caller keeps the current plan.
absl::StatusOr<ReplanResult> ReplanDeployment(const LoadedModelVersion& model, const Deployment& current,
                                              const DeploymentOptions& options, const StageProfiler& profiler,
                                              const ReplanOptions& replan,
                                              const std::function<bool()>& cancelled = nullptr);

}  // namespace tessera::coordinator
