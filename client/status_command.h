// `tessera status`: what a coordinator serves and how its workers are doing,
// from tessera.status.ClusterStatus/GetStatus (proto/cluster_status.proto).
//
//   tessera status --server ADDR (--certs DIR | --ca F --cert F --key F | --insecure)
//                  [--server-name NAME] [--json] [--timeout-ms N]
//
// Text output (default): a table of models (name, version, ready, strategy,
// stages, replicas, micro-batch; then per stage its partition and the
// workers holding it, or why the model is not ready) and a table of workers
// (address, certificate name when it is not the address, healthy, pieces in
// flight, memory used / budget, samples per second, utilization, executes,
// partitions loaded; then the last error of unhealthy ones).
// With --json, stdout carries exactly one object:
//   {"version": "..",
//    "models": [{"name", "version", "ready", "reason",
//                "plan": {"strategy", "stages", "replicas", "micro_batch_size",
//                         "placements": [{"stage", "partition_id", "partition_bytes", "workers": [..]}]}}],
//    "workers": [{"address", "tls_server_name", "healthy", "last_error", "in_flight",
//                 "memory_in_use_bytes", "memory_budget_bytes", "samples_per_second",
//                 "utilization", "executes_total", "executes_failed", "cpu_cores",
//                 "partitions": [{"partition_id", "model_name", "model_version", "stage",
//                                 "stage_count", "memory_bytes", "execute_count"}]}]}
// ("plan" is null for a model that is not ready.)
// Exit codes: client/exit_codes.h (1 when the call fails: its gRPC status
// code and message go to stderr).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/client_tls_flags.h"
#include "common/tls_credentials.h"
#include "proto/cluster_status.pb.h"

namespace tessera::client {

struct StatusOptions {
  std::string server;
  ClientTlsFlags tls_flags;  // --certs | --ca/--cert/--key | --insecure, --server-name
  bool json = false;
  int64_t timeout_ms = 10000;  // 0: no deadline
  bool help = false;

  // The client-role TLS options these flags describe.
  TlsOptions tls() const { return tls_flags.ToTlsOptions(); }
};

// Parses the arguments after "status". InvalidArgument describes a usage error.
absl::StatusOr<StatusOptions> ParseStatusArgs(const std::vector<std::string>& args);

std::string StatusUsage();

// The two renderings of a snapshot described above.
std::string FormatStatusText(const status::GetStatusResponse& snapshot);
std::string FormatStatusJson(const status::GetStatusResponse& snapshot);

// Runs the subcommand with `args` (after "status"); returns the exit code.
int StatusCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::client
