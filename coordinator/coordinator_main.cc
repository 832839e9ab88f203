// tessera-coordinator: serves the KServe v2 gRPC API (inference.
// GRPCInferenceService) and the cluster status (tessera.status.ClusterStatus)
// over mutual TLS to clients, plus grpc.health.v1 and server reflection;
// splits requests over the workers given by --workers (static host:port
// entries and dns:///NAME:PORT names, re-resolved every
// --resolve-interval-ms; see coordinator/pool/worker_discovery.h).
// Prints "tessera-coordinator: listening on HOST:PORT" once serving and
// shuts down cleanly on SIGINT or SIGTERM. With --ops-listen, also serves
// /healthz, /readyz and /metrics over HTTP (common/ops_server.h), announced
// first as "tessera-coordinator: ops listening on HOST:PORT".
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/bearer_token_auth.h"
#include "common/execution_pool.h"
#include "common/logging.h"
#include "common/ops_server.h"
#include "common/server_main.h"
#include "common/tls_flags.h"
#include "coordinator/frontend/inference_service.h"
#include "coordinator/pool/grpc_worker_client.h"
#include "coordinator/pool/host_resolver.h"
#include "coordinator/pool/partition_loader.h"
#include "coordinator/pool/partition_profiler.h"
#include "coordinator/pool/worker_discovery.h"
#include "coordinator/pool/worker_pool.h"
#include "coordinator/pool/worker_target.h"
#include "coordinator/repository/model_repository.h"
#include "coordinator/scheduler/cluster_piece_runner.h"
#include "coordinator/scheduler/metered_worker_client.h"
#include "coordinator/scheduler/stage_admission.h"
#include "coordinator/service/coordinator_backend.h"
#include "coordinator/status/cluster_status_report.h"
#include "coordinator/status/cluster_status_service.h"
#include "coordinator/service/coordinator_metrics.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:8000", "address to serve clients on (HOST:PORT; port 0 picks a free port)");
ABSL_FLAG(std::string, model_repository, "", "model repository: <dir>/<model>/config.pbtxt, <dir>/<model>/<version>/model.onnx");
ABSL_FLAG(std::string, workers, "",
          "the workers, comma-separated: host:port entries and dns:///NAME:PORT names (every address NAME "
          "resolves to, re-resolved every --resolve-interval-ms; certificates must name NAME)");
ABSL_FLAG(int64_t, resolve_interval_ms, 2000, "how often dns:/// worker names are resolved again");
ABSL_FLAG(int, threads, 0, "engine threads the workers use per Execute (0: all cores), for planning");
ABSL_FLAG(int64_t, health_interval_ms, 500, "how often every worker's Status is polled");
ABSL_FLAG(int64_t, default_timeout_ms, 60000, "deadline of requests whose client sets none");
ABSL_FLAG(int64_t, max_message_mb, 1024, "largest gRPC message accepted or sent, in MiB");
ABSL_FLAG(int64_t, max_request_tensor_mb, 256,
          "largest total size of one request's input tensors, in MiB, computed from the declared shapes before "
          "anything is allocated; beyond it RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_queued_requests_per_model, 1024,
          "requests of one model the coordinator holds at once (queued and in flight); beyond it "
          "RESOURCE_EXHAUSTED at once (0: unbounded)");
ABSL_FLAG(int, stage_in_flight, 4,
          "pieces of one pipeline stage sent to each of its workers at once; the rest wait in the coordinator");
ABSL_FLAG(std::string, stage_forwarding, "relay",
          "how pipeline micro-batches travel between stages for models whose parallelism.forwarding is not set: "
          "relay (through the coordinator) or direct (worker to worker)");
ABSL_FLAG(bool, measure_plans, true,
          "after deploying a pipeline, profile its stages on their workers and re-cut it on the measured costs");
ABSL_FLAG(int, max_attempts, 3, "attempts per piece of a request before it fails (other workers are tried)");
ABSL_FLAG(int64_t, health_deadline_ms, 400,
          "deadline of each worker Status poll; a worker that misses it is taken out and its pieces in flight "
          "replayed elsewhere (a hung worker is noticed within --health-interval-ms plus this)");
ABSL_FLAG(double, retry_budget_ratio, 0.2,
          "retry budget: tokens each first attempt of a piece earns; a replay on another worker costs one");
ABSL_FLAG(double, retry_budget_min_per_second, 10, "retry budget: tokens earned per second regardless of traffic");
ABSL_FLAG(double, retry_budget_max, 100, "retry budget: most tokens held (the budget starts full)");
ABSL_FLAG(std::string, ops_listen, "",
          "HTTP address for /healthz, /readyz and /metrics (HOST:PORT, numeric host; port 0 picks a free port); "
          "empty: none");
ABSL_FLAG(int, min_ready_workers, 1, "healthy workers needed before /readyz answers ready");
ABSL_FLAG(std::string, client_auth, "mtls",
          "how callers of --listen authenticate: mtls (a client certificate from the cluster CA) or token "
          "(server-side TLS and 'authorization: Bearer <token>' on every call, tokens from --client-tokens-file)");
ABSL_FLAG(std::string, client_tokens_file, "",
          "with --client-auth=token: file of accepted bearer tokens, one a line ('#' comments), re-read every "
          "--tls-refresh-seconds");
ABSL_FLAG(bool, strict_readiness, true,
          "/readyz needs every served model version deployed (Triton's strict readiness); when false, one is enough");

namespace tessera::coordinator {
namespace {

int Fail(absl::string_view what, const absl::Status& status) {
  TESSERA_LOG(kError, "cannot start", {{"what", what}, {"error", status}});
  return 2;
}

// --client-auth and --client-tokens-file into the server side of `tls` (the
// worker channels ignore them: coordinator to worker stays mutual TLS).
absl::Status ApplyClientAuthFlags(TlsOptions* tls) {
  const std::string mode = absl::GetFlag(FLAGS_client_auth);
  const std::string tokens_file = absl::GetFlag(FLAGS_client_tokens_file);
  if (mode == "mtls") {
    if (!tokens_file.empty()) {
      return absl::InvalidArgumentError("--client-tokens-file needs --client-auth=token");
    }
    return absl::OkStatus();
  }
  if (mode != "token") {
    return absl::InvalidArgumentError(absl::StrCat("--client-auth expects mtls or token, got '", mode, "'"));
  }
  if (tls->insecure) return absl::InvalidArgumentError("--client-auth=token needs TLS; drop --insecure");
  if (tokens_file.empty()) return absl::InvalidArgumentError("--client-auth=token needs --client-tokens-file");
  // Read once now, so that a bad file stops the coordinator before it plans
  // anything; the server reads it again and keeps watching it.
  absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> check =
      BearerTokenAuthenticator::Create({.tokens_file = tokens_file, .start_refresh_thread = false});
  if (!check.ok()) return check.status();
  tls->client_authentication = ClientAuthentication::kBearerToken;
  tls->bearer_tokens_file = tokens_file;
  return absl::OkStatus();
}

int Main() {
  absl::StatusOr<TlsOptions> tls = TlsOptionsFromFlags(NodeRole::kCoordinator);
  if (!tls.ok()) return Fail("security", tls.status());
  if (absl::Status client_auth = ApplyClientAuthFlags(&*tls); !client_auth.ok()) return Fail("security", client_auth);
  if (absl::GetFlag(FLAGS_model_repository).empty()) {
    return Fail("flags", absl::InvalidArgumentError("--model-repository is required"));
  }
  absl::StatusOr<std::vector<WorkerTarget>> targets = ParseWorkerTargets(absl::GetFlag(FLAGS_workers));
  if (!targets.ok()) return Fail("--workers", targets.status());
  SystemHostResolver resolver;
  absl::StatusOr<std::unique_ptr<WorkerDiscovery>> discovery = WorkerDiscovery::Create(
      {.targets = *targets,
       .resolver = &resolver,
       .resolve_interval = absl::Milliseconds(absl::GetFlag(FLAGS_resolve_interval_ms)),
       .on_warning = [](const absl::Status& warning) {
         TESSERA_LOG(kWarning, "worker discovery", {{"error", warning}});
       }});
  if (!discovery.ok()) return Fail("--resolve-interval-ms", discovery.status());
  if (absl::Status resolved = (*discovery)->Resolve(); !resolved.ok()) {
    TESSERA_LOG(kWarning, "worker discovery", {{"error", resolved}});
  }
  const int max_message = static_cast<int>(std::min<int64_t>(absl::GetFlag(FLAGS_max_message_mb) << 20, INT32_MAX));
  auto registry = std::make_shared<prometheus::Registry>();
  CoordinatorMetrics metrics(registry.get());

  // Workers.
  GrpcWorkerClient::Options client_options;
  client_options.max_message_bytes = max_message;
  absl::StatusOr<GrpcWorkerClientFactory> factory = MakeGrpcWorkerClientFactory(*tls, client_options);
  if (!factory.ok()) return Fail("worker channels", factory.status());
  WorkerPool::Options pool_options;
  pool_options.workers = (*discovery)->Endpoints();
  pool_options.client_factory = WrapWithMetrics(*factory, metrics.cluster());
  pool_options.health_interval = absl::Milliseconds(absl::GetFlag(FLAGS_health_interval_ms));
  pool_options.health_deadline = absl::Milliseconds(absl::GetFlag(FLAGS_health_deadline_ms));
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Create(pool_options);
  if (!pool.ok()) return Fail("workers", pool.status());
  (*pool)->PollNow();
  (*pool)->Start();
  PartitionLoader loader;
  absl::StatusOr<std::unique_ptr<RetryBudget>> retry_budget =
      RetryBudget::Create({.ratio = absl::GetFlag(FLAGS_retry_budget_ratio),
                           .min_per_second = absl::GetFlag(FLAGS_retry_budget_min_per_second),
                           .max_tokens = absl::GetFlag(FLAGS_retry_budget_max)});
  if (!retry_budget.ok()) return Fail("--retry-budget-*", retry_budget.status());
  prometheus::Counter& retries_refused =
      prometheus::BuildCounter()
          .Name("tessera_piece_retries_refused_total")
          .Help("Replays of failed pieces refused because the retry budget was exhausted")
          .Register(*registry)
          .Add({});
  ClusterPieceRunner cluster_runner(pool->get(), &loader,
                                    {.max_attempts = absl::GetFlag(FLAGS_max_attempts),
                                     .retries = metrics.cluster().retries,
                                     .retry_budget = retry_budget->get(),
                                     .retries_refused = &retries_refused});
  StageAdmission runner(&cluster_runner, {.in_flight_per_replica = std::max(absl::GetFlag(FLAGS_stage_in_flight), 1)});

  // Models.
  absl::StatusOr<std::unique_ptr<ModelRepository>> repository =
      ModelRepository::Create({.root = absl::GetFlag(FLAGS_model_repository)});
  if (!repository.ok()) return Fail("model repository", repository.status());
  if (absl::Status loaded = (*repository)->LoadAll(); !loaded.ok()) {
    TESSERA_LOG(kWarning, "some models could not be loaded", {{"error", loaded}});
  }
  CoordinatorOptions options;
  options.deployment.engine_threads = absl::GetFlag(FLAGS_threads);
  absl::StatusOr<Forwarding> forwarding = ParseForwarding(absl::GetFlag(FLAGS_stage_forwarding));
  if (!forwarding.ok()) return Fail("--stage-forwarding", forwarding.status());
  options.deployment.default_forwarding = *forwarding;
  options.default_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_default_timeout_ms));
  if (absl::GetFlag(FLAGS_max_request_tensor_mb) <= 0 || absl::GetFlag(FLAGS_max_request_tensor_mb) > (int64_t{1} << 40)) {
    return Fail("--max-request-tensor-mb", absl::InvalidArgumentError("must be in 1..2^40"));
  }
  options.tensors.max_request_bytes = absl::GetFlag(FLAGS_max_request_tensor_mb) << 20;
  options.max_requests_per_model = absl::GetFlag(FLAGS_max_queued_requests_per_model);
  options.metrics = &metrics;
  PartitionProfiler profiler(pool->get(), &loader);
  if (absl::GetFlag(FLAGS_measure_plans)) {
    // Stage s's first replica runs on position s * replicas of the healthy
    // workers (ClusterPieceRunner's placement): measure it there.
    options.stage_profiler = [&profiler](const Deployment& deployment, int stage,
                                         const worker::ProfileRequest& request, absl::Time deadline,
                                         const std::function<bool()>& cancelled) -> absl::StatusOr<StageMeasurement> {
      const StagePartition& partition = deployment.stages[stage];
      absl::StatusOr<PartitionProfile> profile =
          profiler.ProfileBlocking(LoadablePartition{partition.header, partition.onnx_bytes},
                                   stage * std::max(deployment.replicas, 1), request, deadline, cancelled);
      if (!profile.ok()) return profile.status();
      return StageMeasurement{profile->worker, std::move(profile->profile), profile->link_bytes_per_ms};
    };
  }
  auto cluster_shape = [p = pool->get()] {
    ClusterShape shape;
    for (const auto& worker : p->Healthy()) {
      ++shape.workers;
      const auto status = worker->last_status();
      const uint64_t budget = status ? status->memory_budget_bytes() : 0;
      if (budget > 0 && (shape.worker_memory_bytes == 0 || budget < shape.worker_memory_bytes)) {
        shape.worker_memory_bytes = budget;
      }
    }
    return shape;
  };
  CoordinatorBackend backend(options, repository->get(), &runner, cluster_shape);
  if (absl::Status deployed = backend.Deploy(); !deployed.ok()) {
    TESSERA_LOG(kWarning, "not every model could be deployed yet", {{"error", deployed}});
  }
  // Workers that come (back) may make undeployed models deployable.
  ExecutionPool redeploy({.slots = 1, .queue_limit = 1});
  (*pool)->OnHealthChanged([&backend, &redeploy](const WorkerPool::WorkerPtr& worker) {
    TESSERA_LOG(kInfo, worker->healthy() ? "worker up" : "worker down", {{"worker", worker->address()}});
    if (!worker->healthy() || backend.AllDeployed()) return;
    (void)redeploy.Submit([&backend] {
      absl::Status deployed = backend.Deploy();
      if (!deployed.ok()) TESSERA_LOG(kWarning, "not every model could be deployed yet", {{"error", deployed}});
    });
  });

  // Operations port.
  std::unique_ptr<OpsServer> ops;
  if (const std::string ops_listen = absl::GetFlag(FLAGS_ops_listen); !ops_listen.empty()) {
    OpsServer::Options ops_options;
    ops_options.listen = ops_listen;
    ops_options.readiness = [&backend, min_workers = absl::GetFlag(FLAGS_min_ready_workers),
                             strict = absl::GetFlag(FLAGS_strict_readiness)] {
      return backend.CheckReady(min_workers, strict);
    };
    ops_options.collectables = {registry};
    ops_options.before_scrape = [p = pool->get(), &metrics] {
      int up = 0, down = 0;
      for (const WorkerPool::WorkerPtr& worker : p->All()) ++(worker->healthy() ? up : down);
      metrics.SetWorkers(up, down);
    };
    absl::StatusOr<std::unique_ptr<OpsServer>> started = OpsServer::Start(std::move(ops_options));
    if (!started.ok()) {
      TESSERA_LOG(kError, "cannot start", {{"what", "--ops-listen"}, {"error", started.status()}});
      (*pool)->Stop();
      return 1;
    }
    ops = *std::move(started);
    ops->Announce("tessera-coordinator");
  }

  // Serve. Discovery starts last: nothing returns between here and its Stop,
  // so its thread never outlives the pool it updates.
  (*discovery)->Start([p = pool->get()](const std::vector<WorkerEndpoint>& endpoints) {
    return p->UpdateMembership(endpoints);
  });
  InferenceService service(&backend);
  ClusterStatusService status_service([&backend, p = pool->get(), version = options.version] {
    return BuildClusterStatus(backend.ServedVersions(), p->All(), version);
  });
  const int code = ServeUntilSignal(
      {.name = "tessera-coordinator", .listen = absl::GetFlag(FLAGS_listen), .role = NodeRole::kCoordinator,
       .tls = *tls, .max_message_bytes = max_message,
       .on_drain = [&ops] { if (ops) ops->SetDraining(true); }},
      {&service, &status_service});
  (*discovery)->Stop();
  ops.reset();
  (*pool)->Stop();
  return code;
}

}  // namespace
}  // namespace tessera::coordinator

int main(int argc, char** argv) {
  tessera::InitServerMain(argc, argv,
                          "the Tessera coordinator: serves KServe v2 gRPC and splits requests over workers");
  return tessera::coordinator::Main();
}
