// `tessera infer`: one KServe v2 ModelInfer call to a Tessera coordinator
// (or any KServe v2 / Triton gRPC server) over mutual TLS.
//
//   tessera infer --server ADDR (--certs DIR | --ca F --cert F --key F | --insecure) [--server-name NAME]
//                 --model NAME [--version V] [--input NAME=FILE.npy]... [--random-input NAME[=DIMS]]...
//                 [--output NAME]... [--output-dir DIR] [--json] [--timeout-ms N] [--typed-contents]
//                 [--seed N]
//
// The client presents DIR/client.pem (key DIR/client.key) and checks the
// server against DIR/ca.pem; --ca/--cert/--key name the files one by one.
// Inputs travel as raw_input_contents (little-endian bytes), or with
// --typed-contents in the typed `contents` fields. --random-input fills
// uniform random data (floats in [-1,1), integers in [0,10)) of the datatype
// the server's ModelMetadata declares; without DIMS the declared shape is
// used with every -1 taken as 1. When no input is given at all, every model
// input is random-filled that way (with a note on stderr).
//
// Output (stdout): per output its name, KServe datatype, shape and first
// values, plus the round-trip latency; with --json exactly one object
//   {"model_name": .., "model_version": .., "outputs": {NAME: {"shape": [..],
//    "datatype": "FP32"}}, "latency_ms": x}
// --output-dir writes each output to DIR/NAME.npy (OutputFileName).
//
// Errors: a failed call prints the gRPC status code name and message on
// stderr ("tessera infer: UNAVAILABLE: ...") and exits 1; usage errors exit
// 2 (client/exit_codes.h). --timeout-ms bounds each call (default 60000;
// 0: no deadline).
#pragma once

#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "client/client_tls_flags.h"
#include "common/tensor.h"
#include "common/tls_credentials.h"
#include "proto/inference.pb.h"

namespace tessera::client {

struct InferOptions {
  struct NpyInput {
    std::string name;
    std::string path;
  };
  struct RandomInput {
    std::string name;
    bool has_shape = false;  // false: the shape from ModelMetadata, -1 -> 1
    Shape shape;
  };

  std::string server;                // host:port
  ClientTlsFlags tls_flags;          // --certs | --ca/--cert/--key | --insecure, --server-name
  std::string model;
  std::string version;               // empty: the server's latest
  std::vector<NpyInput> npy_inputs;
  std::vector<RandomInput> random_inputs;
  std::vector<std::string> outputs;  // empty: all of the model's
  std::string output_dir;
  bool json = false;
  bool typed_contents = false;
  int64_t timeout_ms = 60000;        // 0: no deadline
  int64_t iterations = 1;            // timed calls
  int64_t warmup = 0;                // untimed calls before them
  uint64_t seed = 0;
  bool help = false;

  // The client-role TLS options these flags describe.
  TlsOptions tls() const { return tls_flags.ToTlsOptions(); }
};

// Parses the arguments after "infer" ("--flag value" or "--flag=value").
// InvalidArgument describes a usage error.
absl::StatusOr<InferOptions> ParseInferArgs(const std::vector<std::string>& args);

// The --help text.
std::string InferUsage();

// The input flags `tessera infer` and `tessera bench` share: --input
// NAME=FILE.npy (appended to `npy`) and --random-input NAME[=DIMS] (to
// `random`); `named` holds the input names given so far. Returns nullopt
// when `flag` is neither, else OK or InvalidArgument naming the problem
// (a malformed value, an input given twice).
absl::optional<absl::Status> ParseInputFlag(const std::string& flag, const std::string& value,
                                            std::set<std::string>* named, std::vector<InferOptions::NpyInput>* npy,
                                            std::vector<InferOptions::RandomInput>* random);

// "CALL failed: CODE: message" for a failed call to a server, with a hint
// when the TLS handshake failed, a plaintext connection was closed
// (`insecure`) or the server's policy refused the certificate's role. Shared
// by the commands that call a KServe server.
absl::Status ServerCallError(const grpc::Status& status, absl::string_view call, bool insecure);

// "x FP32[-1,4], n INT64[2]": the inputs `metadata` declares, for messages.
std::string DeclaredInputsSummary(const inference::ModelMetadataResponse& metadata);

// Runs the subcommand with `args` (after "infer"); results go to `out`,
// diagnostics to `err`; returns the process exit code.
int InferCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::client
