// The coordinator behind the KServe frontend: the model repository, one
// Deployment (strategy, stage partitions) per served model version, a
// RequestExecutor per deployment, and per-version statistics.
//
// ModelInfer: find the version (NOT_FOUND), admit it under the model's
// bound of requests held at once (RESOURCE_EXHAUSTED at once beyond
// CoordinatorOptions::max_requests_per_model), check and decode the request
// against its signature (INVALID_ARGUMENT naming the problem), run it on the
// deployment with the client's deadline (or the default timeout, or the
// request's "timeout" parameter, whichever comes first), encode the
// requested outputs. A version that is served but not deployed (too few
// workers for its stages, say) is UNAVAILABLE with the reason. A version
// whose config has `dynamic_batching` sends its decoded requests through its
// own DynamicBatcher (dynamic_batcher.h), which merges them into executions
// of up to max_batch_size rows; the batcher is built with the deployment and
// goes with it.
//
// Statistics (ModelStatistics, Triton's meanings): inference_count counts
// samples, execution_count executions (a merged batch is one execution);
// inference_stats.success/fail count requests; for successful requests
// queue (time in the batcher; a 0-duration entry per request when not
// batched), compute_input (decoding and checking the request) and
// compute_output (encoding the answer) count requests, compute_infer
// (handing the request or merged batch to the executor until its answer)
// counts executions, as do batch_stats (per executed batch size, count and
// compute_infer). stage_stats (the Tessera extension): per stage of the
// current deployment, its pieces' round trips split into worker queue,
// compute and transfer, and tensor bytes (stage_statistics.h); `workers` is
// 0 because worker identity is not visible to the executor.
//
// RepositoryModelLoad without parameters (re)reads the model from the
// repository directory; with Triton's overrides ("config" JSON and
// "file:<version>/model.onnx" bytes, repository/model_override.h) it loads
// the model the client sent, through the same validation
// (ModelRepository::LoadOverride); bad parameters are INVALID_ARGUMENT, a
// bad model the repository's error (INVALID_ARGUMENT, UNIMPLEMENTED, ...
// naming the model, version and problem), and other models are untouched.
// Only client certificates may call it (the coordinator's authorization
// policy); the model bytes are bounded by --max-message-mb.
//
// Deployments are built when a model is loaded (at start, and by
// RepositoryModelLoad, which runs on a background thread), from the
// cluster's shape at that moment. A PIPELINE or HYBRID deployment of two or
// more stages is planned on estimated costs first; when
// CoordinatorOptions::stage_profiler is set, a re-plan is then queued on
// the background thread: every stage is profiled on its worker and the
// model is cut again on the measured costs (ReplanDeployment in
// deployment_builder.h), and a better cut replaces the deployment (once;
// requests already running finish on the old one, requests queued in the
// dynamic batcher run on the new one; the old partitions stay in the
// workers' caches until evicted). Failures keep the current plan and are
// logged; ServedVersion::plan_source says which it is.
//
// Metrics (coordinator_metrics.h): every ModelInfer is counted by model,
// version and outcome, with its latency, batch size and in-flight count;
// the handles are resolved per version when it is deployed. Readiness
// (the ops port's /readyz) is CheckReady.
//
// Thread-safe. Borrowed: the repository and the piece runner must outlive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/execution_pool.h"
#include "coordinator/frontend/inference_backend.h"
#include "coordinator/frontend/kserve_tensors.h"
#include "coordinator/repository/model_repository.h"
#include "coordinator/scheduler/dynamic_batcher.h"
#include "coordinator/scheduler/piece_runner.h"
#include "coordinator/scheduler/request_executor.h"
#include "coordinator/scheduler/stage_statistics.h"
#include "coordinator/service/coordinator_metrics.h"
#include "coordinator/service/deployment_builder.h"
#include "coordinator/service/model_admission.h"

namespace tessera::coordinator {

struct CoordinatorOptions {
  DeploymentOptions deployment;
  // Deadline of requests whose client set none.
  absl::Duration default_timeout = absl::Seconds(60);
  KServeTensorOptions tensors;
  // Requests of one model (all versions) held at once, from admission to
  // answer (decoding, batcher queue, workers, encoding); beyond it
  // ModelInfer is RESOURCE_EXHAUSTED at once (model_admission.h). <= 0:
  // unbounded.
  int64_t max_requests_per_model = 1024;
  std::string version = "dev";
  // Borrowed; must outlive the backend. Null: metrics nothing exposes.
  CoordinatorMetrics* metrics = nullptr;
  // Measures pipeline stages on the workers; empty: plans stay estimated.
  StageProfiler stage_profiler;
  ReplanOptions replan;
};

// ServedVersion::plan_source of a pipeline: planned on estimated costs (also
// while the re-plan is pending or when it failed, with the reason in
// parentheses), re-cut on costs measured on the workers, or measured on the
// workers with the estimated cut kept (the re-cut was not better enough).
inline constexpr char kPlanEstimated[] = "estimated";
inline constexpr char kPlanMeasured[] = "measured on workers";
inline constexpr char kPlanMeasuredKept[] = "measured on workers (estimated cut kept)";

class CoordinatorBackend : public InferenceBackend {
 public:
  CoordinatorBackend(CoordinatorOptions options, ModelRepository* repository, PieceRunner* runner,
                     std::function<ClusterShape()> cluster_shape);
  // Fails the requests still queued in batchers (UNAVAILABLE) while the
  // statistics they record into still exist.
  ~CoordinatorBackend() override;

  // (Re)builds the deployments of every ready version of `name` (all models
  // when empty) and drops those of versions no longer served. The error
  // lists the versions that could not be deployed; the others are deployed.
  absl::Status Deploy(const std::string& name = "");

  // The deployment serving name/version ("" = latest ready), for tests and
  // `tessera status`.
  absl::StatusOr<std::shared_ptr<const Deployment>> DeploymentOf(const std::string& name,
                                                                 const std::string& version) const;

  // A served model version as `tessera status` reports it.
  struct ServedVersion {
    std::string name;
    int64_t version = 0;
    std::shared_ptr<const Deployment> deployment;  // null when not deployed
    std::string unavailable_reason;
    // Pipelines of two or more stages with a stage profiler: kPlanEstimated,
    // kPlanMeasured, ...; empty otherwise.
    std::string plan_source;
  };
  // Snapshot of every served version, by name then version.
  std::vector<ServedVersion> ServedVersions() const;

  // Ready: at least one healthy worker, and a model version deployed (or no
  // model to serve). A version that cannot be deployed (too few workers for
  // its stages) is not ready (ModelReady false, ModelInfer UNAVAILABLE with
  // the reason) without making the whole server unready.
  bool ServerReady() override;
  // Every served version has a deployment.
  bool AllDeployed() const;
  // Ready for the ops port: at least `min_workers` healthy workers, at
  // least one model version deployed, and, when `strict` (Triton's strict
  // readiness), every served version deployed. UNAVAILABLE with the reason
  // otherwise.
  absl::Status CheckReady(int min_workers, bool strict = true) const;
  inference::ServerMetadataResponse ServerMetadata() override;
  absl::StatusOr<bool> ModelReady(const inference::ModelReadyRequest& request) override;
  absl::StatusOr<inference::ModelMetadataResponse> ModelMetadata(
      const inference::ModelMetadataRequest& request) override;
  absl::StatusOr<inference::ModelConfigResponse> ModelConfig(const inference::ModelConfigRequest& request) override;
  absl::StatusOr<inference::ModelStatisticsResponse> ModelStatistics(
      const inference::ModelStatisticsRequest& request) override;
  absl::StatusOr<inference::RepositoryIndexResponse> RepositoryIndex(
      const inference::RepositoryIndexRequest& request) override;
  void ModelInfer(inference::ModelInferRequest* request, absl::Time deadline,
                  Done<inference::ModelInferResponse> done) override;
  void RepositoryModelLoad(const inference::RepositoryModelLoadRequest* request,
                           Done<inference::RepositoryModelLoadResponse> done) override;
  void RepositoryModelUnload(const inference::RepositoryModelUnloadRequest* request,
                             Done<inference::RepositoryModelUnloadResponse> done) override;

 private:
  // The executor a batcher runs its batches on, replaced by a re-plan.
  class ExecutorSlot {
   public:
    std::shared_ptr<const RequestExecutor> Get() const {
      absl::MutexLock lock(&mu_);
      return executor_;
    }
    void Set(std::shared_ptr<const RequestExecutor> executor) {
      absl::MutexLock lock(&mu_);
      executor_ = std::move(executor);
    }

   private:
    mutable absl::Mutex mu_;
    std::shared_ptr<const RequestExecutor> executor_ ABSL_GUARDED_BY(mu_);
  };
  struct Served {
    std::shared_ptr<const LoadedModelVersion> model;
    std::shared_ptr<const Deployment> deployment;  // null when it could not be deployed
    std::shared_ptr<const RequestExecutor> executor;
    // Set when the config has dynamic_batching; built with the deployment.
    std::shared_ptr<DynamicBatcher> batcher;
    std::shared_ptr<ExecutorSlot> batch_executor;  // with `batcher`
    std::shared_ptr<StageStatisticsRecorder> stage_stats;
    std::string unavailable_reason;
    std::shared_ptr<CoordinatorMetrics::Version> metrics;
    std::string plan_source;
  };
  // A count and cumulative nanoseconds (StatisticDuration).
  struct Duration {
    uint64_t count = 0, ns = 0;
    void Add(absl::Duration d);
  };
  struct Stats {
    Duration success, fail;
    Duration queue, compute_input, compute_infer, compute_output;
    std::map<int64_t, Duration> batches;  // compute_infer by executed batch size
    uint64_t inference_count = 0;  // samples
    uint64_t execution_count = 0;
    uint64_t last_inference_ms = 0;
  };
  // Where a successful request's time went.
  struct RequestTimings {
    absl::Duration queue, compute_input, compute_output;
  };
  using Key = std::pair<std::string, int64_t>;  // name, version

  // One ModelInfer of `key` finished: statistics and metrics. `timings`
  // only for a success.
  void Record(const Key& key, CoordinatorMetrics::Version& metrics, const absl::Status& status,
              absl::Duration duration, int64_t samples, const RequestTimings& timings = {});
  // One successful execution of `rows` rows of `key` took `infer`.
  void RecordExecution(const Key& key, int64_t rows, absl::Duration infer);
  // Fills `served` (model and metrics set) for `deployment`: executor,
  // statistics, and a batcher when the config asks for one; a `served` that
  // has a batcher (a re-plan) keeps it and points it at the new executor.
  void Attach(const Key& key, std::shared_ptr<const Deployment> deployment, Served* served);
  bool Replannable(const Deployment& deployment) const;
  // The background re-plan of `current` (see the header comment).
  void Replan(const Key& key, const std::shared_ptr<const Deployment>& current);

  const CoordinatorOptions options_;
  // Before everything that may still hold tickets when it goes.
  ModelAdmission admission_{options_.max_requests_per_model};
  std::unique_ptr<CoordinatorMetrics> owned_metrics_;  // when options_.metrics is null
  CoordinatorMetrics* const metrics_;
  ModelRepository* const repository_;
  PieceRunner* const runner_;
  const std::function<ClusterShape()> cluster_shape_;

  absl::Mutex deploy_mu_;  // serialises Deploy
  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(deploy_mu_);
  std::map<Key, Served> served_ ABSL_GUARDED_BY(mu_);
  std::map<Key, Stats> stats_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stopping_{false};
  // Repository loads and unloads (slow: reading, validating, planning) run
  // here, off the gRPC threads, one at a time. Declared last: destroyed
  // first, finishing queued work while everything else still exists.
  ExecutionPool admin_{{.slots = 1, .queue_limit = 64}};
};

}  // namespace tessera::coordinator
