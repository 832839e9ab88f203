#include "common/server_main.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/dashed_flags.h"
#include "common/flag_environment.h"
#include "common/log_flags.h"
#include "common/logging.h"
#include "common/openmp_environment.h"
#include "common/server_authorization.h"
#include "common/shutdown_signal.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

ABSL_FLAG(int, drain_seconds, 10,
          "on SIGTERM or SIGINT: seconds calls in flight may still run before they are cancelled and the server exits");

namespace tessera {
namespace {

std::string BaseName(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash == nullptr ? path : slash + 1;
}

const char* SignalName(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "signal";
  }
}

void LogSettings() {
  std::vector<std::string> keys;
  std::vector<std::string> values;
  for (const absl::CommandLineFlag* flag : ProgramFlags()) {
    keys.emplace_back(flag->Name());
    values.push_back(flag->CurrentValue());
  }
  std::vector<LogField> fields;
  for (size_t i = 0; i < keys.size(); ++i) fields.push_back({keys[i], values[i]});
  Log(LogLevel::kInfo, "starting", fields);
}

// Ends the process if the drain is interrupted by a second signal or takes
// far longer than its grace period. Detached: it lives until the process
// exits, normally long before it wakes.
void StartDrainWatchdog(absl::Duration grace) {
  std::thread([grace] {
    const int signal = WaitForShutdownSignalFor(grace + kDrainHardStopMargin);
    if (signal != 0) {
      TESSERA_LOG(kError, "second shutdown signal during the drain: exiting now", {{"signal", SignalName(signal)}});
    } else {
      TESSERA_LOG(kError, "the drain outlived its grace period: exiting now",
                  {{"grace", grace}, {"margin", kDrainHardStopMargin}});
    }
    std::_Exit(1);
  }).detach();
}

}  // namespace

void InitServerMain(int argc, char** argv, const char* usage) {
  BoundOpenMpSpinning(argv);
  BlockShutdownSignals();
  absl::SetProgramUsageMessage(usage);
  const std::string program = BaseName(argc > 0 ? argv[0] : "tessera");
  std::vector<std::string> args = UnderscoreFlagNames(argc, argv);
  if (AsksForHelp(args)) {
    std::fputs(FlagHelp(program, usage).c_str(), stdout);
    std::fflush(stdout);
    std::exit(0);
  }
  if (absl::Status status = SetFlagsFromEnvironment(ProcessEnvironment()); !status.ok()) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), std::string(status.message()).c_str());
    std::exit(1);
  }
  std::vector<char*> pointers;
  for (std::string& arg : args) pointers.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data());
  ConfigureLoggingFromFlags(program);
  LogSettings();
}

int ServeUntilSignal(const ServerMainOptions& options, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ConfigureServerSecurity(options.role, options.tls, &builder);
  if (!credentials.ok()) {
    TESSERA_LOG(kError, "bad security settings", {{"error", credentials.status()}});
    return 2;
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  int port = 0;
  builder.AddListeningPort(options.listen, *credentials, &port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    TESSERA_LOG(kError, "cannot listen", {{"listen", options.listen}});
    return 1;
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("%s: listening on %s:%d\n", options.name.c_str(), host.c_str(), port);
  std::fflush(stdout);
  TESSERA_LOG(kInfo, "serving", {{"address", absl::StrCat(host, ":", port)}, {"role", RoleName(options.role)},
                                 {"tls", !options.tls.insecure}});

  const int signal = WaitForShutdownSignal();
  const absl::Duration grace =
      options.drain_grace.value_or(absl::Seconds(std::max(0, absl::GetFlag(FLAGS_drain_seconds))));
  BeginDraining();
  if (options.on_drain) options.on_drain();
  if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService(); health != nullptr) {
    health->SetServingStatus(false);
  }
  TESSERA_LOG(kInfo, "draining: no new calls; calls in flight may finish",
              {{"signal", SignalName(signal)}, {"grace", grace}});
  StartDrainWatchdog(grace);
  const absl::Time start = absl::Now();
  server->Shutdown(absl::ToChronoTime(start + grace));
  const absl::Duration took = absl::Now() - start;
  if (took >= grace) {
    TESSERA_LOG(kWarning, "drain grace period over: calls still running were cancelled", {{"grace", grace}});
  }
  TESSERA_LOG(kInfo, "drained; exiting", {{"took", absl::Trunc(took, absl::Milliseconds(1))}});
  return 0;
}

}  // namespace tessera
