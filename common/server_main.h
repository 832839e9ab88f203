// What every Tessera server binary does once its services exist: build a
// gRPC server with the role's mutual-TLS credentials and access policy,
// grpc.health.v1 and server reflection, listen, announce
// "<name>: listening on HOST:PORT" on stdout (the real port when the address
// asks for port 0; launchers and tests read this line), then serve until
// SIGINT or SIGTERM (BlockShutdownSignals must have run first) and shut down
// with a bounded grace period.
#pragma once

#include <string>
#include <vector>

#include "common/node_role.h"
#include "common/tls_credentials.h"
#include "grpcpp/impl/codegen/service_type.h"

namespace tessera {

struct ServerMainOptions {
  std::string name;    // program name for messages, e.g. "tessera-worker"
  std::string listen;  // HOST:PORT
  NodeRole role = NodeRole::kWorker;
  TlsOptions tls;
  int max_message_bytes = 1 << 30;
};

// First thing in a server's main: bounds OpenMP spinning (may re-execute
// the binary, see openmp_environment.h), blocks the shutdown signals for all
// threads to come, and parses the absl flags, spelled with dashes or
// underscores (dashed_flags.h). Exits on --help or a bad flag.
void InitServerMain(int argc, char** argv, const char* usage);

// Returns the process exit code: 0 after a clean shutdown, 1 when the server
// cannot start, 2 for bad security settings.
int ServeUntilSignal(const ServerMainOptions& options, const std::vector<grpc::Service*>& services);

}  // namespace tessera
