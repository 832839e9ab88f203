// tessera-worker: a stateless worker. Serves tessera.worker.Worker over
// mutual TLS (only coordinators may call it), plus grpc.health.v1 and server
// reflection. Prints "tessera-worker: listening on HOST:PORT" once serving
// (with the real port when --listen asks for port 0) and shuts down cleanly
// on SIGINT or SIGTERM.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/dashed_flags.h"
#include "common/openmp_environment.h"
#include "common/server_authorization.h"
#include "common/shutdown_signal.h"
#include "common/tls_flags.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "worker/worker_core.h"
#include "worker/worker_service.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:8001", "address to serve on (HOST:PORT; port 0 picks a free port)");
ABSL_FLAG(int64_t, worker_memory_mb, 0, "memory budget for cached partitions in MiB; 0: unbounded");
ABSL_FLAG(int, threads, 0, "engine threads per Execute; 0: all cores");
ABSL_FLAG(int, max_concurrent, 1, "Executes running at once");
ABSL_FLAG(int64_t, queue_limit, 256, "Executes waiting beyond the running ones before RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_message_mb, 1024, "largest gRPC message accepted or sent, in MiB");

namespace tessera::worker {
namespace {

int Main() {
  absl::StatusOr<TlsOptions> tls = TlsOptionsFromFlags(NodeRole::kWorker);
  if (!tls.ok()) {
    std::cerr << "tessera-worker: " << tls.status().message() << "\n";
    return 2;
  }
  WorkerCore::Options options;
  options.memory_budget_bytes = static_cast<uint64_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_worker_memory_mb)))
                                << 20;
  options.intra_op_threads = absl::GetFlag(FLAGS_threads);
  options.max_concurrent_executes = absl::GetFlag(FLAGS_max_concurrent);
  options.queue_limit = absl::GetFlag(FLAGS_queue_limit);
  WorkerCore core(options);
  WorkerService service(&core);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ConfigureServerSecurity(NodeRole::kWorker, *tls, &builder);
  if (!credentials.ok()) {
    std::cerr << "tessera-worker: " << credentials.status().message() << "\n";
    return 2;
  }
  const int max_message = static_cast<int>(std::min<int64_t>(absl::GetFlag(FLAGS_max_message_mb) << 20, INT32_MAX));
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  int port = 0;
  const std::string listen = absl::GetFlag(FLAGS_listen);
  builder.AddListeningPort(listen, *credentials, &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "tessera-worker: cannot listen on " << listen << "\n";
    return 1;
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::printf("tessera-worker: listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);

  const int signal = WaitForShutdownSignal();
  std::fprintf(stderr, "tessera-worker: signal %d, shutting down\n", signal);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}

}  // namespace
}  // namespace tessera::worker

int main(int argc, char** argv) {
  tessera::BoundOpenMpSpinning(argv);
  tessera::BlockShutdownSignals();
  absl::SetProgramUsageMessage("a Tessera worker: runs model partitions for the coordinators");
  std::vector<std::string> args = tessera::UnderscoreFlagNames(argc, argv);
  std::vector<char*> arg_pointers;
  for (std::string& arg : args) arg_pointers.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(arg_pointers.size()), arg_pointers.data());
  return tessera::worker::Main();
}
