// `tessera up`: a whole Tessera cluster on this machine, for trying things
// out: N tessera-worker processes and one tessera-coordinator in front of
// them, until SIGINT (Ctrl-C) or SIGTERM.
//
//   tessera up --model-repository DIR --workers N [--listen ADDR] [--certs DIR | --insecure]
//              [--client-auth mtls|token [--client-tokens-file F]]
//              [--worker-memory-mb M] [--threads T] [--bin-dir DIR] [--ready-timeout-s S]
//
// Steps:
//   1. Certificates: --certs DIR (ca.pem and the coordinator/worker/client
//      pairs `tessera certs` writes), or without it a fresh temporary
//      directory made with MakeClusterCertificates (its path is printed as
//      "certificates: DIR"; it is deleted on exit). --insecure: none.
//   1b. Client authentication (--client-auth, default mtls): with token, the
//      coordinator's client port takes bearer tokens instead of client
//      certificates (`tessera-coordinator --client-auth=token
//      --client-tokens-file F`, common/bearer_token_auth.h); coordinator to
//      worker stays mutual TLS. F is --client-tokens-file (read and checked
//      here before anything starts), or without it a file holding one fresh
//      random token (32 bytes from OpenSSL's CSPRNG, hex), created with mode
//      0600 in the temporary certificate directory, or in a temporary
//      directory of its own when --certs DIR is given (never written into
//      DIR). stdout gets "token-file: PATH" (for a generated file, followed
//      by " (temporary; removed when the cluster stops)"). The token itself
//      is never printed or logged. Needs TLS: not with --insecure.
//   2. Workers: `tessera-worker --listen 127.0.0.1:0` each; the port comes
//      from the line "tessera-worker: listening on HOST:PORT" on its stdout.
//   3. Coordinator: `tessera-coordinator --listen ADDR --workers h:p,...`;
//      it announces "tessera-coordinator: listening on HOST:PORT", then loads
//      the models. Ready when KServe ServerReady says ready=true, polled with
//      the client certificate (token mode: the first token of the tokens
//      file) for at most --ready-timeout-s (default 120).
//   4. stdout gets "ready: HOST:PORT" (the coordinator's address); stderr a
//      "try: tessera infer ..." line with the security flags a client needs
//      (token mode: --ca DIR/ca.pem --token-file PATH). Children's
//      further output goes to stderr, each line prefixed "[worker-I] " or
//      "[coordinator] ".
//   5. On SIGINT or SIGTERM: SIGTERM to the coordinator, then to the
//      workers, each waited for with a bound (5 s), SIGKILL for stragglers;
//      exit 0.
// A child that dies early, or later while serving, ends the whole cluster
// with a message naming it, its exit status and the tail of its stderr;
// exit 1. Children get SIGTERM if `tessera up` itself dies, even by SIGKILL
// (PR_SET_PDEATHSIG, client/process.h).
//
// The executables come from --bin-dir, else the directory of the running
// executable (/proc/self/exe): the build puts tessera, tessera-worker and
// tessera-coordinator together in ${CMAKE_BINARY_DIR}/bin.
//
// Signals: UpCommand blocks SIGINT and SIGTERM in the calling thread (and so
// in every thread it starts) and collects them with sigtimedwait; it must be
// called before the process starts other threads that leave them unblocked
// (as `tessera` main does: nothing runs before the subcommand). The
// previous mask is restored on return.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::client {

struct UpOptions {
  std::string model_repository;
  int workers = 0;
  std::string listen = "127.0.0.1:8000";
  std::string certs_dir;        // empty: fresh temporary certificates (unless insecure)
  bool insecure = false;
  bool token_auth = false;        // --client-auth=token
  std::string client_tokens_file; // empty with token_auth: a generated one-token file
  int64_t worker_memory_mb = -1;  // -1: the worker's default
  int threads = -1;               // -1: the binaries' default
  std::string bin_dir;          // empty: the directory of /proc/self/exe
  int ready_timeout_s = 120;
  bool help = false;
};

// Parses the arguments after "up" ("--flag value" or "--flag=value").
// InvalidArgument describes a usage error.
absl::StatusOr<UpOptions> ParseUpArgs(const std::vector<std::string>& args);

// The --help text.
std::string UpUsage();

// Runs the subcommand with `args` (after "up"): "certificates: DIR",
// "token-file: PATH" and "ready: ADDR" go to `out`, progress and the children's output to `err`.
// Returns the process exit code once the cluster has stopped.
int UpCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::client
