#include "coordinator/service/coordinator_backend.h"

#include <set>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "coordinator/repository/model_override.h"
#include "worker/engine/model_validator.h"

namespace tessera::coordinator {
namespace {

uint64_t Nanos(absl::Duration d) { return static_cast<uint64_t>(absl::ToInt64Nanoseconds(d)); }

// A request about one model that names none.
absl::Status NoModelNamed(absl::string_view rpc) {
  return absl::InvalidArgumentError(absl::StrCat(rpc, " names no model (model name is empty)"));
}

}  // namespace

CoordinatorBackend::CoordinatorBackend(CoordinatorOptions options, ModelRepository* repository, PieceRunner* runner,
                                       std::function<ClusterShape()> cluster_shape)
    : options_(std::move(options)),
      owned_metrics_(options_.metrics == nullptr ? std::make_unique<CoordinatorMetrics>() : nullptr),
      metrics_(options_.metrics != nullptr ? options_.metrics : owned_metrics_.get()),
      repository_(repository),
      runner_(runner),
      cluster_shape_(std::move(cluster_shape)) {}

CoordinatorBackend::~CoordinatorBackend() {
  stopping_.store(true);  // queued re-plans return at once
  std::map<Key, Served> served;
  {
    absl::MutexLock lock(&mu_);
    served.swap(served_);
  }
  served.clear();
}

void CoordinatorBackend::Duration::Add(absl::Duration d) {
  ++count;
  ns += Nanos(d);
}

absl::Status CoordinatorBackend::Deploy(const std::string& name) {
  absl::MutexLock deploy_lock(&deploy_mu_);
  // The versions to serve now.
  std::vector<std::shared_ptr<const LoadedModelVersion>> wanted;
  std::set<std::string> names;
  if (name.empty()) {
    for (const ModelIndexEntry& entry : repository_->Index(/*ready_only=*/true)) names.insert(entry.name);
  } else {
    names.insert(name);
  }
  for (const std::string& model_name : names) {
    for (int64_t version : repository_->ReadyVersions(model_name)) {
      absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> model =
          repository_->Get(model_name, absl::StrCat(version));
      if (model.ok()) wanted.push_back(*std::move(model));
    }
  }
  // Build outside the state lock: planning takes a while. A version whose
  // model object did not change keeps its deployment.
  std::map<Key, Served> built;
  std::vector<std::string> failures;
  std::vector<std::pair<Key, std::shared_ptr<const Deployment>>> replans;  // new pipelines to measure
  const ClusterShape cluster = cluster_shape_();
  for (const auto& model : wanted) {
    const Key key{model->name, model->version};
    {
      absl::MutexLock lock(&mu_);
      auto it = served_.find(key);
      if (it != served_.end() && it->second.model == model && it->second.deployment != nullptr) {
        built[key] = it->second;
        continue;
      }
    }
    Served served;
    served.model = model;
    absl::StatusOr<std::shared_ptr<const Deployment>> deployment =
        BuildDeployment(*model, cluster, options_.deployment);
    served.metrics = metrics_->ForVersion(model->name, model->version,
                                          deployment.ok() ? static_cast<int>((*deployment)->stages.size()) : 0);
    if (deployment.ok()) {
      runner_->Prepare(**deployment);
      Attach(key, *deployment, &served);  // a new Served: a new batcher
      if (Replannable(**deployment)) replans.emplace_back(key, *deployment);
    } else {
      served.unavailable_reason = std::string(deployment.status().message());
      failures.push_back(served.unavailable_reason);
    }
    built[key] = std::move(served);
  }
  absl::MutexLock lock(&mu_);
  for (auto it = served_.begin(); it != served_.end();) {
    const bool in_scope = name.empty() || it->first.first == name;
    if (in_scope && !built.contains(it->first)) {
      it = served_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [key, served] : built) served_[key] = std::move(served);
  // Measured re-planning, in the background (after this Deploy when it runs
  // there itself).
  for (auto& [key, deployment] : replans) {
    absl::Status queued = admin_.Submit([this, key = key, deployment = deployment] { Replan(key, deployment); });
    if (!queued.ok()) {
      TESSERA_LOG(kWarning, "re-planning not started: the plan stays estimated",
                  {{"model", key.first}, {"version", key.second}, {"error", queued}});
    }
  }
  if (!failures.empty()) return absl::FailedPreconditionError(absl::StrJoin(failures, "; "));
  return absl::OkStatus();
}

void CoordinatorBackend::Attach(const Key& key, std::shared_ptr<const Deployment> deployment, Served* served) {
  const std::shared_ptr<const LoadedModelVersion>& model = served->model;
  served->deployment = deployment;
  served->plan_source = Replannable(*deployment) ? kPlanEstimated : "";
  served->stage_stats = std::make_shared<StageStatisticsRecorder>(static_cast<int>(deployment->stages.size()));
  served->executor =
      std::make_shared<const RequestExecutor>(deployment, runner_, served->metrics->stages, served->stage_stats);
  if (served->batcher != nullptr) {
    // A re-plan: the batcher (and what it has queued) stays; its next
    // batches run on the new executor.
    served->batch_executor->Set(served->executor);
    return;
  }
  if (model->config.has_dynamic_batching() && model->signature.max_batch_size > 0) {
    served->batch_executor = std::make_shared<ExecutorSlot>();
    served->batch_executor->Set(served->executor);
    served->batcher = std::make_shared<DynamicBatcher>(
        DynamicBatcherOptions::FromConfig(model->name, model->version_string(), model->signature.max_batch_size,
                                          model->config.dynamic_batching()),
        [slot = served->batch_executor](std::vector<NamedTensor> inputs, absl::Time deadline,
                                        const std::string& request_id, RequestExecutor::Done done) {
          slot->Get()->Infer(std::move(inputs), deadline, request_id, std::move(done));
        },
        [this, key](const DynamicBatcher::Execution& execution) {
          if (execution.status.ok()) RecordExecution(key, execution.rows, execution.infer);
        });
  }
}

bool CoordinatorBackend::Replannable(const Deployment& deployment) const {
  return options_.stage_profiler != nullptr && deployment.strategy != Strategy::kData &&
         deployment.stages.size() >= 2;
}

void CoordinatorBackend::Replan(const Key& key, const std::shared_ptr<const Deployment>& current) {
  if (stopping_.load()) return;
  std::shared_ptr<const LoadedModelVersion> model;
  {
    absl::MutexLock lock(&mu_);
    auto it = served_.find(key);
    if (it == served_.end() || it->second.deployment != current) return;  // replaced meanwhile
    model = it->second.model;
  }
  // Given up soon when the backend is going away.
  absl::StatusOr<ReplanResult> result = ReplanDeployment(*model, *current, options_.deployment,
                                                         options_.stage_profiler, options_.replan,
                                                         [this] { return stopping_.load(); });
  if (!result.ok()) {
    TESSERA_LOG(kWarning, "re-planning on measured costs failed: keeping the estimated plan",
                {{"model", key.first}, {"version", key.second}, {"error", result.status()}});
    absl::MutexLock lock(&mu_);
    auto it = served_.find(key);
    if (it != served_.end() && it->second.deployment == current) {
      it->second.plan_source = absl::StrCat(kPlanEstimated, " (measuring failed)");
    }
    return;
  }
  TESSERA_LOG(kInfo, "re-planned on costs measured on the workers",
              {{"model", key.first}, {"version", key.second}, {"result", result->summary}});
  if (result->deployment == nullptr) {
    absl::MutexLock lock(&mu_);
    auto it = served_.find(key);
    if (it != served_.end() && it->second.deployment == current) it->second.plan_source = kPlanMeasuredKept;
    return;
  }
  if (stopping_.load()) return;
  runner_->Prepare(*result->deployment);
  absl::MutexLock deploy_lock(&deploy_mu_);
  Served replanned;
  {
    absl::MutexLock lock(&mu_);
    auto it = served_.find(key);
    if (it == served_.end() || it->second.deployment != current) return;
    replanned = it->second;
  }
  Attach(key, result->deployment, &replanned);
  replanned.plan_source = kPlanMeasured;
  Served old;
  {
    absl::MutexLock lock(&mu_);
    auto it = served_.find(key);
    if (it == served_.end() || it->second.deployment != current) return;
    old = std::move(it->second);
    it->second = std::move(replanned);
  }
  // `old` (its executor) goes here, outside the locks; requests already
  // running on it finish on the old partitions.
}

absl::StatusOr<std::shared_ptr<const Deployment>> CoordinatorBackend::DeploymentOf(const std::string& name,
                                                                                   const std::string& version) const {
  absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> model = repository_->Get(name, version);
  if (!model.ok()) return model.status();
  absl::MutexLock lock(&mu_);
  auto it = served_.find({(*model)->name, (*model)->version});
  if (it == served_.end() || it->second.deployment == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        name, " version ", (*model)->version, " is not deployed",
        it == served_.end() ? std::string() : absl::StrCat(": ", it->second.unavailable_reason)));
  }
  return it->second.deployment;
}

bool CoordinatorBackend::ServerReady() {
  if (cluster_shape_().workers == 0) return false;
  absl::MutexLock lock(&mu_);
  if (served_.empty()) return true;
  for (const auto& [key, served] : served_) {
    if (served.deployment != nullptr) return true;
  }
  return false;
}

std::vector<CoordinatorBackend::ServedVersion> CoordinatorBackend::ServedVersions() const {
  std::vector<ServedVersion> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [key, served] : served_) {
    out.push_back({.name = key.first,
                   .version = key.second,
                   .deployment = served.deployment,
                   .unavailable_reason = served.unavailable_reason,
                   .plan_source = served.plan_source});
  }
  return out;
}

bool CoordinatorBackend::AllDeployed() const {
  absl::MutexLock lock(&mu_);
  for (const auto& [key, served] : served_) {
    if (served.deployment == nullptr) return false;
  }
  return true;
}

absl::Status CoordinatorBackend::CheckReady(int min_workers, bool strict) const {
  const int workers = cluster_shape_().workers;
  if (workers < min_workers) {
    return absl::UnavailableError(absl::StrCat(workers, " healthy worker", workers == 1 ? "" : "s", ", ",
                                               min_workers, " needed"));
  }
  absl::MutexLock lock(&mu_);
  if (served_.empty()) return absl::UnavailableError("no model is served");
  std::vector<std::string> undeployed;
  for (const auto& [key, served] : served_) {
    if (served.deployment == nullptr) {
      undeployed.push_back(absl::StrCat(key.first, " version ", key.second, ": ", served.unavailable_reason));
    }
  }
  if (undeployed.empty() || (!strict && undeployed.size() < served_.size())) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("not deployed: ", absl::StrJoin(undeployed, "; ")));
}

inference::ServerMetadataResponse CoordinatorBackend::ServerMetadata() {
  inference::ServerMetadataResponse response;
  response.set_name("tessera");
  response.set_version(options_.version);
  for (const char* extension : {"model_repository", "statistics", "model_configuration"}) {
    response.add_extensions(std::string(extension));
  }
  return response;
}

absl::StatusOr<bool> CoordinatorBackend::ModelReady(const inference::ModelReadyRequest& request) {
  if (request.name().empty()) return NoModelNamed("ModelReady");
  absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> model =
      repository_->Get(request.name(), request.version());
  if (!model.ok()) return model.status();
  absl::MutexLock lock(&mu_);
  auto it = served_.find({(*model)->name, (*model)->version});
  return it != served_.end() && it->second.deployment != nullptr;
}

absl::StatusOr<inference::ModelMetadataResponse> CoordinatorBackend::ModelMetadata(
    const inference::ModelMetadataRequest& request) {
  if (request.name().empty()) return NoModelNamed("ModelMetadata");
  absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> model =
      repository_->Get(request.name(), request.version());
  if (!model.ok()) return model.status();
  return MakeModelMetadata(**model, repository_->ReadyVersions(request.name()));
}

absl::StatusOr<inference::ModelConfigResponse> CoordinatorBackend::ModelConfig(
    const inference::ModelConfigRequest& request) {
  if (request.name().empty()) return NoModelNamed("ModelConfig");
  absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> model =
      repository_->Get(request.name(), request.version());
  if (!model.ok()) return model.status();
  inference::ModelConfigResponse response;
  *response.mutable_config() = (*model)->config;
  return response;
}

absl::StatusOr<inference::ModelStatisticsResponse> CoordinatorBackend::ModelStatistics(
    const inference::ModelStatisticsRequest& request) {
  int64_t version = -1;
  if (!request.version().empty() && !absl::SimpleAtoi(request.version(), &version)) {
    return absl::InvalidArgumentError(absl::StrCat("version '", request.version(), "' is not a number"));
  }
  if (!request.name().empty() && repository_->ReadyVersions(request.name()).empty()) {
    return absl::NotFoundError(absl::StrCat("no model '", request.name(), "' is served"));
  }
  inference::ModelStatisticsResponse response;
  absl::MutexLock lock(&mu_);
  for (const auto& [key, served] : served_) {
    if (!request.name().empty() && key.first != request.name()) continue;
    if (version >= 0 && key.second != version) continue;
    inference::ModelStatistics* s = response.add_model_stats();
    s->set_name(key.first);
    s->set_version(absl::StrCat(key.second));
    if (served.stage_stats != nullptr) {
      const std::vector<StageStatisticsRecorder::Stage> stages = served.stage_stats->Snapshot();
      for (size_t i = 0; i < stages.size(); ++i) {
        const StageStatisticsRecorder::Stage& stage = stages[i];
        inference::StageStatistics* out = s->add_stage_stats();
        out->set_stage(static_cast<uint32_t>(i + 1));
        out->set_workers(stage.workers);
        const std::pair<inference::StatisticDuration*, uint64_t> durations[] = {
            {out->mutable_dispatch(), stage.dispatch_ns},
            {out->mutable_queue(), stage.queue_ns},
            {out->mutable_compute(), stage.compute_ns},
            {out->mutable_transfer(), stage.transfer_ns}};
        for (const auto& [duration, ns] : durations) {
          duration->set_count(stage.pieces);
          duration->set_ns(ns);
        }
        out->set_bytes_sent(stage.bytes_sent);
        out->set_bytes_received(stage.bytes_received);
      }
    }
    auto it = stats_.find(key);
    if (it == stats_.end()) continue;
    const Stats& stats = it->second;
    s->set_last_inference(stats.last_inference_ms);
    s->set_inference_count(stats.inference_count);
    s->set_execution_count(stats.execution_count);
    auto set = [](inference::StatisticDuration* out, const Duration& d) {
      out->set_count(d.count);
      out->set_ns(d.ns);
    };
    inference::InferStatistics* infer = s->mutable_inference_stats();
    set(infer->mutable_success(), stats.success);
    set(infer->mutable_fail(), stats.fail);
    set(infer->mutable_queue(), stats.queue);
    set(infer->mutable_compute_input(), stats.compute_input);
    set(infer->mutable_compute_infer(), stats.compute_infer);
    set(infer->mutable_compute_output(), stats.compute_output);
    for (const auto& [size, d] : stats.batches) {
      inference::InferBatchStatistics* batch = s->add_batch_stats();
      batch->set_batch_size(static_cast<uint64_t>(size));
      set(batch->mutable_compute_infer(), d);
    }
  }
  return response;
}

absl::StatusOr<inference::RepositoryIndexResponse> CoordinatorBackend::RepositoryIndex(
    const inference::RepositoryIndexRequest& request) {
  inference::RepositoryIndexResponse response;
  for (const ModelIndexEntry& entry : repository_->Index(request.ready())) {
    auto* model = response.add_models();
    model->set_name(entry.name);
    model->set_version(entry.version);
    model->set_state(std::string(ModelVersionStateName(entry.state)));
    model->set_reason(entry.reason);
  }
  return response;
}

void CoordinatorBackend::Record(const Key& key, CoordinatorMetrics::Version& metrics, const absl::Status& status,
                                absl::Duration duration, int64_t samples, const RequestTimings& timings) {
  const bool ok = status.ok();
  metrics.requests.Record(status);
  metrics.request_seconds->Observe(absl::ToDoubleSeconds(duration));
  if (ok) metrics.batch_size->Observe(static_cast<double>(std::max<int64_t>(samples, 1)));
  metrics.in_flight->Decrement();
  absl::MutexLock lock(&mu_);
  Stats& stats = stats_[key];
  if (ok) {
    stats.success.Add(duration);
    stats.queue.Add(timings.queue);
    stats.compute_input.Add(timings.compute_input);
    stats.compute_output.Add(timings.compute_output);
    stats.inference_count += static_cast<uint64_t>(std::max<int64_t>(samples, 1));
    stats.last_inference_ms = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
  } else {
    stats.fail.Add(duration);
  }
}

void CoordinatorBackend::RecordExecution(const Key& key, int64_t rows, absl::Duration infer) {
  absl::MutexLock lock(&mu_);
  Stats& stats = stats_[key];
  ++stats.execution_count;
  stats.compute_infer.Add(infer);
  stats.batches[std::max<int64_t>(rows, 1)].Add(infer);
}

void CoordinatorBackend::ModelInfer(inference::ModelInferRequest* request, absl::Time deadline,
                                    Done<inference::ModelInferResponse> done) {
  const absl::Time start = absl::Now();
  if (request->model_name().empty()) {
    metrics_->unknown_model_requests().Record(NoModelNamed("ModelInfer"));
    return done(NoModelNamed("ModelInfer"));
  }
  absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> model =
      repository_->Get(request->model_name(), request->model_version());
  if (!model.ok()) {
    metrics_->unknown_model_requests().Record(model.status());
    return done(model.status());
  }
  const Key key{(*model)->name, (*model)->version};
  std::shared_ptr<const RequestExecutor> executor;
  std::shared_ptr<DynamicBatcher> batcher;
  std::string reason;
  std::shared_ptr<CoordinatorMetrics::Version> metrics;
  {
    absl::MutexLock lock(&mu_);
    auto it = served_.find(key);
    if (it != served_.end()) {
      executor = it->second.executor;
      batcher = it->second.batcher;
      reason = it->second.unavailable_reason;
      metrics = it->second.metrics;
    }
  }
  // A version loaded but not yet deployed (rare): its series on the fly.
  if (metrics == nullptr) metrics = metrics_->ForVersion(key.first, key.second, 0);
  metrics->in_flight->Increment();
  absl::StatusOr<std::unique_ptr<ModelAdmission::Ticket>> admitted = admission_.Admit(key.first);
  if (!admitted.ok()) {
    Record(key, *metrics, admitted.status(), absl::Now() - start, 0);
    return done(admitted.status());
  }
  // The slot is given back just before the answer goes out.
  done = [ticket = std::shared_ptr<ModelAdmission::Ticket>(*std::move(admitted)),
          done = std::move(done)](absl::StatusOr<inference::ModelInferResponse> result) {
    ticket->Release();
    done(std::move(result));
  };
  auto fail = [this, key, metrics, start, done](absl::Status status) {
    Record(key, *metrics, status, absl::Now() - start, 0);
    done(std::move(status));
  };
  if (executor == nullptr) {
    return fail(absl::UnavailableError(absl::StrCat(key.first, " version ", key.second, " is not deployed",
                                                    reason.empty() ? "" : ": ", reason)));
  }
  const absl::Time decode_start = absl::Now();
  absl::StatusOr<InferRequestParameters> parameters = CheckInferRequestParameters(*request);
  if (!parameters.ok()) return fail(parameters.status());
  absl::StatusOr<std::vector<NamedTensor>> inputs =
      DecodeInferInputs(request, (*model)->signature, options_.tensors);
  if (!inputs.ok()) return fail(inputs.status());
  absl::StatusOr<std::vector<std::string>> requested = RequestedOutputNames(*request, (*model)->signature);
  if (!requested.ok()) return fail(requested.status());
  const absl::Duration compute_input = absl::Now() - decode_start;
  const int64_t samples = (*model)->signature.max_batch_size > 0 && !inputs->empty() && (*inputs)[0].tensor.rank() > 0
                              ? (*inputs)[0].tensor.dim(0)
                              : 1;
  deadline = std::min({deadline, start + options_.default_timeout, start + parameters->timeout});
  // The answer (from the executor or the batcher): encode and reply.
  auto finish = [this, key, metrics, start, samples, compute_input, request, model = *model,
                 requested = *std::move(requested), done, tensors = options_.tensors](
                    absl::StatusOr<std::vector<NamedTensor>> outputs, absl::Duration queue) {
    if (!outputs.ok()) {
      Record(key, *metrics, outputs.status(), absl::Now() - start, 0);
      return done(outputs.status());
    }
    const absl::Time encode_start = absl::Now();
    // Moved, so that each output's bytes have one holder and move on into
    // the response (requested names are distinct).
    std::vector<NamedTensor> selected;
    for (const std::string& name : requested) {
      for (NamedTensor& output : *outputs) {
        if (output.name == name) selected.push_back(std::move(output));
      }
    }
    outputs->clear();
    inference::ModelInferResponse response;
    absl::Status encoded = EncodeInferOutputs(model->signature, *request, std::move(selected), &response, tensors);
    const absl::Time end = absl::Now();
    Record(key, *metrics, encoded, end - start, samples,
           {.queue = queue, .compute_input = compute_input, .compute_output = end - encode_start});
    if (!encoded.ok()) return done(encoded);
    done(std::move(response));
  };
  if (batcher != nullptr) {
    return batcher->Enqueue(*std::move(inputs), deadline, request->id(),
                            [finish = std::move(finish)](DynamicBatcher::Result result) {
                              finish(std::move(result.outputs), result.queue);
                            });
  }
  const absl::Time infer_start = absl::Now();
  executor->Infer(*std::move(inputs), deadline, request->id(),
                  [this, key, samples, infer_start,
                   finish = std::move(finish)](absl::StatusOr<std::vector<NamedTensor>> outputs) {
                    if (outputs.ok()) RecordExecution(key, samples, absl::Now() - infer_start);
                    finish(std::move(outputs), absl::ZeroDuration());
                  });
}

void CoordinatorBackend::RepositoryModelLoad(const inference::RepositoryModelLoadRequest* request,
                                             Done<inference::RepositoryModelLoadResponse> done) {
  absl::StatusOr<std::optional<ModelOverride>> given =
      ModelOverrideFromParameters(request->parameters(), engine::kMaxModelBytes);
  if (!given.ok()) return done(given.status());
  auto model = std::make_shared<std::optional<ModelOverride>>(*std::move(given));
  absl::Status queued = admin_.Submit([this, request, done, model] {
    absl::Status loaded = model->has_value() ? repository_->LoadOverride(request->model_name(), std::move(**model))
                                             : repository_->Load(request->model_name());
    if (!loaded.ok()) return done(loaded);
    absl::Status deployed = Deploy(request->model_name());
    if (!deployed.ok()) return done(deployed);
    done(inference::RepositoryModelLoadResponse());
  });
  if (!queued.ok()) done(queued);
}

void CoordinatorBackend::RepositoryModelUnload(const inference::RepositoryModelUnloadRequest* request,
                                               Done<inference::RepositoryModelUnloadResponse> done) {
  absl::Status queued = admin_.Submit([this, request, done] {
    absl::Status unloaded = repository_->Unload(request->model_name());
    if (!unloaded.ok()) return done(unloaded);
    absl::Status deployed = Deploy(request->model_name());
    if (!deployed.ok()) return done(deployed);
    done(inference::RepositoryModelUnloadResponse());
  });
  if (!queued.ok()) done(queued);
}

}  // namespace tessera::coordinator
