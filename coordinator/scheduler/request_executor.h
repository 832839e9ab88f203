// Executes one inference request on a Deployment: cuts it into data shards
// (DATA: the batch split over the replicas in proportion to their measured
// capacity) or micro-batches flowing through the pipeline stages (PIPELINE,
// HYBRID), dispatches every piece through a PieceRunner at once, and puts the
// answers back together in order.
//
// Tensors a later stage needs (skip connections, shape-subgraph results)
// stay with the request between stages: each stage receives exactly the
// tensors its partition consumes, from the request or any earlier stage.
//
// Forwarding between stages (Deployment::forwarding, pipelines of two or
// more stages): RELAY runs each stage as its own piece through the runner,
// the coordinator holding the tensors between stages. DIRECT sends each
// micro-batch as one chained piece (PieceRunner::RunChain): stage 0's
// request carries the route of the other stages, which tensors each needs
// and which are the model outputs; the workers pass the tensors on among
// themselves and the last one's answer comes back along the chain. A chain
// that fails (other than INVALID_ARGUMENT, or past the deadline), or whose
// answer lacks a timing per stage (a worker that does not forward), is
// replayed from stage 0 by RELAY. Per-stage metrics and statistics come
// from the chain's per-hop timings.
//
// Metrics (optional): each stage's worker-reported compute and queue times
// (scheduler_metrics.h). Statistics (optional): every answered piece's round
// trip, worker queue and compute times and tensor bytes, per stage
// (stage_statistics.h).
//
// Thread-safe: Infer may be called concurrently; each call is independent.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tensor.h"
#include "coordinator/scheduler/deployment.h"
#include "coordinator/scheduler/piece_runner.h"
#include "coordinator/scheduler/scheduler_metrics.h"
#include "coordinator/scheduler/stage_statistics.h"
#include "worker/engine/engine.h"

namespace tessera::coordinator {

using engine::NamedTensor;

class RequestExecutor {
 public:
  using Done = std::function<void(absl::StatusOr<std::vector<NamedTensor>>)>;

  // `runner` is borrowed and must outlive every call. `metrics` and
  // `stage_stats` may be null (nothing recorded).
  RequestExecutor(std::shared_ptr<const Deployment> deployment, PieceRunner* runner,
                  std::shared_ptr<const DeploymentMetrics> metrics = nullptr,
                  std::shared_ptr<StageStatisticsRecorder> stage_stats = nullptr)
      : deployment_(std::move(deployment)),
        runner_(runner),
        metrics_(std::move(metrics)),
        stage_stats_(std::move(stage_stats)) {}

  const Deployment& deployment() const { return *deployment_; }

  // `inputs` holds every model input once (checked by the frontend). `done`
  // receives the model outputs in deployment().model_outputs order, or the
  // first failure.
  void Infer(std::vector<NamedTensor> inputs, absl::Time deadline, const std::string& request_id, Done done) const;

 private:
  std::shared_ptr<const Deployment> deployment_;
  PieceRunner* runner_;
  std::shared_ptr<const DeploymentMetrics> metrics_;
  std::shared_ptr<StageStatisticsRecorder> stage_stats_;
};

}  // namespace tessera::coordinator
