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
// Thread-safe (pure function of its arguments).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
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
};

// Steps 1 and 2: the Deployment of `model` on a cluster of that shape.
absl::StatusOr<std::shared_ptr<const Deployment>> BuildDeployment(const LoadedModelVersion& model,
                                                                  const ClusterShape& cluster,
                                                                  const DeploymentOptions& options);

}  // namespace tessera::coordinator
