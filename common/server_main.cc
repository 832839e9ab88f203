#include "common/server_main.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/dashed_flags.h"
#include "common/openmp_environment.h"
#include "common/server_authorization.h"
#include "common/shutdown_signal.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

namespace tessera {

void InitServerMain(int argc, char** argv, const char* usage) {
  BoundOpenMpSpinning(argv);
  BlockShutdownSignals();
  absl::SetProgramUsageMessage(usage);
  std::vector<std::string> args = UnderscoreFlagNames(argc, argv);
  std::vector<char*> pointers;
  for (std::string& arg : args) pointers.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data());
}

int ServeUntilSignal(const ServerMainOptions& options, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ConfigureServerSecurity(options.role, options.tls, &builder);
  if (!credentials.ok()) {
    std::fprintf(stderr, "%s: %s\n", options.name.c_str(), std::string(credentials.status().message()).c_str());
    return 2;
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  int port = 0;
  builder.AddListeningPort(options.listen, *credentials, &port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "%s: cannot listen on %s\n", options.name.c_str(), options.listen.c_str());
    return 1;
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("%s: listening on %s:%d\n", options.name.c_str(), host.c_str(), port);
  std::fflush(stdout);

  const int signal = WaitForShutdownSignal();
  std::fprintf(stderr, "%s: signal %d, shutting down\n", options.name.c_str(), signal);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}

}  // namespace tessera
