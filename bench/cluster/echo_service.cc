// tessera-echo: the echo chain's processes (bench/cluster/echo_chain.h).
//
//   tessera-echo --mode=server --listen 127.0.0.1:0 --certs DIR        (worker certificate)
//   tessera-echo --mode=relay  --listen 127.0.0.1:0 --certs DIR --upstream HOST:PORT
//                                                                      (coordinator certificate)
//
// Like the real servers: mutual TLS from --certs DIR (or --ca/--cert/--key;
// --insecure for plaintext), the role's authorization policy, grpc.health.v1
// and reflection; prints "tessera-echo: listening on HOST:PORT" on stdout
// once serving; SIGTERM/SIGINT drain for up to --drain-seconds and exit 0.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/cluster/echo_chain.h"
#include "common/logging.h"
#include "common/node_role.h"
#include "common/server_authorization.h"
#include "common/server_main.h"
#include "common/shutdown_signal.h"
#include "common/tls_flags.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

ABSL_FLAG(std::string, mode, "server", "server (echo the inputs back) or relay (forward to --upstream)");
ABSL_FLAG(std::string, listen, "127.0.0.1:0", "address to serve on (HOST:PORT; port 0 picks a free port)");
ABSL_FLAG(std::string, upstream, "", "relay: the echo server's HOST:PORT");
ABSL_FLAG(std::string, upstream_server_name, "",
          "relay: name the upstream's certificate must carry when it differs from the dialled host");
ABSL_FLAG(std::string, model, "echo", "server: the model name served");
ABSL_FLAG(std::string, echo_output, "x=y", "server: INPUT=OUTPUT[,INPUT=OUTPUT...]: how inputs are renamed as outputs");
ABSL_FLAG(int64_t, features, 16, "server: F in the metadata's dims [-1, F]");
ABSL_FLAG(int64_t, max_message_mb, 1024, "largest gRPC message accepted or sent, in MiB");

namespace tessera::bench {
namespace {

constexpr char kName[] = "tessera-echo";

int Fail(absl::string_view what, const absl::Status& status, int code = 2) {
  std::fprintf(stderr, "%s: %s: %s\n", kName, std::string(what).c_str(), std::string(status.message()).c_str());
  return code;
}

int Run() {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "server" && mode != "relay") {
    return Fail("--mode", absl::InvalidArgumentError(absl::StrCat("must be server or relay, got '", mode, "'")));
  }
  const bool relay = mode == "relay";
  const NodeRole role = relay ? NodeRole::kCoordinator : NodeRole::kWorker;
  absl::StatusOr<TlsOptions> tls = TlsOptionsFromFlags(role);
  if (!tls.ok()) return Fail("security", tls.status());
  const int max_message =
      static_cast<int>(std::clamp<int64_t>(absl::GetFlag(FLAGS_max_message_mb), 1, 2047) << 20);

  std::unique_ptr<grpc::Service> service;
  if (relay) {
    const std::string upstream = absl::GetFlag(FLAGS_upstream);
    if (upstream.empty()) return Fail("--upstream", absl::InvalidArgumentError("relay mode needs --upstream HOST:PORT"));
    TlsOptions channel_tls = *tls;
    channel_tls.expected_server_name = absl::GetFlag(FLAGS_upstream_server_name);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeRelayChannel(upstream, channel_tls, max_message);
    if (!channel.ok()) return Fail("upstream channel", channel.status());
    service = std::make_unique<RelayInferenceService>(inference::GRPCInferenceService::NewStub(*channel));
  } else {
    absl::StatusOr<EchoMapping> mapping = ParseEchoMapping(absl::GetFlag(FLAGS_echo_output));
    if (!mapping.ok()) return Fail("--echo-output", mapping.status());
    if (absl::GetFlag(FLAGS_features) < 1) {
      return Fail("--features", absl::InvalidArgumentError("must be at least 1"));
    }
    service = std::make_unique<EchoInferenceService>(
        EchoModel{.name = absl::GetFlag(FLAGS_model), .mapping = *mapping, .features = absl::GetFlag(FLAGS_features)});
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials;
  if (relay || tls->insecure) {
    // The relay stands where the coordinator does: its real policy.
    credentials = ConfigureServerSecurity(role, *tls, &builder);
  } else {
    // The worker's policy, allowing the inference service to coordinators.
    credentials = MakeServerCredentials(*tls);
    if (credentials.ok()) {
      auto provider = MakeAuthorizationPolicyProvider(EchoServerAuthorizationPolicy());
      if (!provider.ok()) return Fail("authorization policy", provider.status());
      builder.experimental().SetAuthorizationPolicyProvider(*provider);
    }
  }
  if (!credentials.ok()) return Fail("security", credentials.status());
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  const std::string listen = absl::GetFlag(FLAGS_listen);
  int port = 0;
  builder.AddListeningPort(listen, *credentials, &port);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) return Fail("listen", absl::UnavailableError(absl::StrCat("cannot listen on ", listen)), 1);
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::printf("%s: listening on %s:%d\n", kName, host.c_str(), port);
  std::fflush(stdout);
  TESSERA_LOG(kInfo, "serving", {{"address", absl::StrCat(host, ":", port)}, {"mode", mode},
                                 {"role", RoleName(role)}, {"tls", !tls->insecure}});

  WaitForShutdownSignal();
  BeginDraining();
  if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService(); health != nullptr) {
    health->SetServingStatus(false);
  }
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  TESSERA_LOG(kInfo, "stopped", {});
  return 0;
}

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) {
  tessera::InitServerMain(argc, argv,
                          "tessera-echo --mode=server|relay [--upstream HOST:PORT] --listen HOST:PORT "
                          "(--certs DIR | --ca F --cert F --key F | --insecure)");
  return tessera::bench::Run();
}
