#include "client/cli.h"

#include "client/bench_command.h"
#include "client/certs_command.h"
#include "client/compare_command.h"
#include "client/exit_codes.h"
#include "client/infer_command.h"
#include "client/plan_command.h"
#include "client/run_command.h"
#include "client/status_command.h"
#include "client/up_command.h"

namespace tessera::client {
namespace {

constexpr char kUsage[] = R"(usage: tessera <command> [options]

commands:
  run     run an ONNX model on the local engine (inputs from .npy or random),
          print outputs and latency; see 'tessera run --help'
  certs   create a cluster CA and mTLS certificates for each role;
          see 'tessera certs --help'
  compare compare two .npy tensors (bit-identical, or the relative difference)
  plan    cut an ONNX model into pipeline stages and print them;
          see 'tessera plan --help'
  infer   send one KServe v2 inference request to a server over mutual TLS;
          see 'tessera infer --help'
  bench   measure a KServe v2 server under load (perf_analyzer-like); see 'tessera bench --help'
  up      start a local cluster (workers and a coordinator) until Ctrl-C;
          see 'tessera up --help'
  status  show a coordinator's models, their plans and its workers' health
          and load; see 'tessera status --help'
  help    this text
)";

}  // namespace

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUsage;
    return kExitUsageError;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "run") return RunCommand(rest, out, err);
  if (command == "certs") return CertsCommand(rest, out, err);
  if (command == "compare") return CompareCommand(rest, out, err);
  if (command == "plan") return PlanCommand(rest, out, err);
  if (command == "infer") return InferCommand(rest, out, err);
  if (command == "bench") return BenchCommand(rest, out, err);
  if (command == "up") return UpCommand(rest, out, err);
  if (command == "status") return StatusCommand(rest, out, err);
  if (command == "help" || command == "--help" || command == "-h") {
    out << kUsage;
    return kExitOk;
  }
  err << "tessera: unknown command '" << command << "'\n" << kUsage;
  return kExitUsageError;
}

}  // namespace tessera::client
