// tessera-worker: a stateless worker. Serves tessera.worker.Worker over
// mutual TLS (coordinators may call it; other workers only Execute, for DIRECT
// stage forwarding, which this worker also does through worker/peer_client.h), plus grpc.health.v1 and server
// reflection. Prints "tessera-worker: listening on HOST:PORT" once serving
// (with the real port when --listen asks for port 0) and shuts down cleanly
// on SIGINT or SIGTERM. With --ops-listen, also serves /healthz, /readyz
// and /metrics over HTTP (common/ops_server.h), announced first as
// "tessera-worker: ops listening on HOST:PORT".
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "common/logging.h"
#include "common/ops_server.h"
#include "common/server_main.h"
#include "common/tls_flags.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/registry.h"
#include "worker/worker_core.h"
#include "worker/worker_metrics.h"
#include "worker/peer_client.h"
#include "worker/worker_service.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:8001", "address to serve on (HOST:PORT; port 0 picks a free port)");
ABSL_FLAG(int64_t, worker_memory_mb, 0, "memory budget for cached partitions in MiB; 0: unbounded");
ABSL_FLAG(int, threads, 0, "engine threads per Execute; 0: all cores");
ABSL_FLAG(int, max_concurrent, 1, "Executes running at once");
ABSL_FLAG(int64_t, queue_limit, 256, "Executes waiting beyond the running ones before RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_message_mb, 1024, "largest gRPC message accepted or sent, in MiB");
ABSL_FLAG(std::string, ops_listen, "",
          "HTTP address for /healthz, /readyz and /metrics (HOST:PORT, numeric host; port 0 picks a free port); "
          "empty: none");

namespace tessera::worker {
namespace {

int Main() {
  absl::StatusOr<TlsOptions> tls = TlsOptionsFromFlags(NodeRole::kWorker);
  if (!tls.ok()) {
    TESSERA_LOG(kError, "cannot start", {{"what", "security"}, {"error", tls.status()}});
    return 2;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  WorkerMetrics metrics(registry.get());
  WorkerCore::Options options;
  options.metrics = &metrics;
  options.memory_budget_bytes = static_cast<uint64_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_worker_memory_mb)))
                                << 20;
  options.intra_op_threads = absl::GetFlag(FLAGS_threads);
  options.max_concurrent_executes = absl::GetFlag(FLAGS_max_concurrent);
  options.queue_limit = absl::GetFlag(FLAGS_queue_limit);
  // Chained Executes (DIRECT stage forwarding) call the next stage's worker
  // with this worker's own certificate.
  const int max_message_bytes =
      static_cast<int>(std::min<int64_t>(absl::GetFlag(FLAGS_max_message_mb) << 20, INT32_MAX));
  absl::StatusOr<std::unique_ptr<GrpcPeerClient>> peers = GrpcPeerClient::Create(*tls, max_message_bytes);
  if (!peers.ok()) {
    TESSERA_LOG(kError, "cannot start", {{"what", "peer client"}, {"error", peers.status()}});
    return 2;
  }
  options.peers = peers->get();
  WorkerCore core(options);
  WorkerService service(&core);

  // Operations port: ready while serving (the gRPC server starts next).
  std::unique_ptr<OpsServer> ops;
  if (const std::string ops_listen = absl::GetFlag(FLAGS_ops_listen); !ops_listen.empty()) {
    absl::StatusOr<std::unique_ptr<OpsServer>> started =
        OpsServer::Start({.listen = ops_listen, .collectables = {registry}});
    if (!started.ok()) {
      TESSERA_LOG(kError, "cannot start", {{"what", "--ops-listen"}, {"error", started.status()}});
      return 1;
    }
    ops = *std::move(started);
    ops->Announce("tessera-worker");
  }

  return ServeUntilSignal({.name = "tessera-worker",
                           .listen = absl::GetFlag(FLAGS_listen),
                           .role = NodeRole::kWorker,
                           .tls = *tls,
                           .max_message_bytes = max_message_bytes,
                           .on_drain = [&ops] { if (ops) ops->SetDraining(true); }},
                          {&service});
}

}  // namespace
}  // namespace tessera::worker

int main(int argc, char** argv) {
  tessera::InitServerMain(argc, argv, "a Tessera worker: runs model partitions for the coordinators");
  return tessera::worker::Main();
}
