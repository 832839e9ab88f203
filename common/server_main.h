// What every Tessera server binary does once its services exist: build a
// gRPC server with the role's mutual-TLS credentials and access policy,
// grpc.health.v1 and server reflection, listen, announce
// "<name>: listening on HOST:PORT" on stdout (the real port when the address
// asks for port 0; launchers and tests read this line; it is the only thing
// written to stdout), then serve until SIGINT or SIGTERM
// (BlockShutdownSignals must have run first) and drain:
//
//   1. IsDraining() turns true (shutdown_signal.h) and options.on_drain runs,
//      so the ops port's /readyz can answer 503;
//   2. grpc.health.v1 reports NOT_SERVING for every service;
//   3. the server stops accepting: the listening socket closes and new calls
//      on open connections are refused (UNAVAILABLE);
//   4. calls in flight run to completion for up to the grace period
//      (--drain-seconds, default 10); those still running then are cancelled;
//   5. ServeUntilSignal returns 0 and the binary exits 0.
//
// A second SIGINT or SIGTERM during the drain, or a drain that outlives the
// grace period by more than kDrainHardStopMargin (a handler that ignores
// cancellation), ends the process at once with exit code 1.
//
// Diagnostics go to the log (logging.h) on stderr.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/node_role.h"
#include "common/tls_credentials.h"
#include "grpcpp/impl/codegen/service_type.h"

namespace tessera {

inline constexpr absl::Duration kDrainHardStopMargin = absl::Seconds(5);

struct ServerMainOptions {
  std::string name;    // program name for messages, e.g. "tessera-worker"
  std::string listen;  // HOST:PORT
  NodeRole role = NodeRole::kWorker;
  TlsOptions tls;
  int max_message_bytes = 1 << 30;
  // How long calls in flight may run once a shutdown signal arrived; unset:
  // --drain-seconds.
  std::optional<absl::Duration> drain_grace;
  // Called once, on the serving thread, when draining begins (before the
  // server stops accepting). Optional; IsDraining() tells the same.
  std::function<void()> on_drain;
};

// First thing in a server's main: bounds OpenMP spinning (may re-execute
// the binary, see openmp_environment.h), blocks the shutdown signals for all
// threads to come, and parses the absl flags: first from TESSERA_* environment
// variables, then from the command line, which wins (flag_environment.h);
// spelled with dashes or underscores (dashed_flags.h). Configures the log
// from --log-level and --log-format (log_flags.h) with argv[0]'s base name
// as the program, and logs the flags' values. --help (or -h) prints every
// flag with its variable and default on stdout and exits 0; a bad flag or
// variable exits 1 with a message naming it.
void InitServerMain(int argc, char** argv, const char* usage);

// Returns the process exit code: 0 after a clean shutdown (drained), 1 when
// the server cannot start, 2 for bad security settings.
int ServeUntilSignal(const ServerMainOptions& options, const std::vector<grpc::Service*>& services);

}  // namespace tessera
