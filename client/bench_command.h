// `tessera bench`: a load generator for a KServe v2 server (a Tessera
// coordinator, Triton, any Open Inference Protocol gRPC server), in the
// manner of Triton's perf_analyzer.
//
//   tessera bench --server ADDR (--certs DIR | --ca F --cert F --key F | --insecure) [--server-name NAME]
//       --model NAME [--version V]
//       [--concurrency-range START[:END[:STEP]]] [--request-rate R[:END[:STEP]]]
//       [--request-distribution constant|poisson] [--duration S] [--warmup S] [--batch B]
//       [--input NAME=FILE.npy]... [--random-input NAME[=DIMS]]... [--shape NAME=DIMS]...
//       [--typed-contents] [--csv FILE] [--json] [--max-outstanding N] [--timeout-ms N] [--seed N]
//
// Steps: --concurrency-range (default 1; closed loop, see load_generator.h)
// or --request-rate (open loop). STEP adds (1:8:2 -> 1,3,5,7) or, written
// xF, multiplies (1:64:x2 -> 1,2,4,...,64). Each step runs --warmup seconds
// unmeasured, then --duration seconds measured, over one channel with the
// gRPC callback API.
//
// Inputs: names, datatypes and shapes come from ModelMetadata; ModelConfig's
// max_batch_size says whether the first dim is the batch (a server without
// ModelConfig: a leading -1 is the batch). The batch dim is --batch; other
// -1 dims need --shape NAME=DIMS (the dims after the batch dim, as in
// perf_analyzer). --random-input NAME=DIMS gives an input's whole shape and
// --input NAME=FILE.npy its whole tensor, as in `tessera infer`. Inputs not
// given from a file are random (uniform, seeded by --seed), generated once
// and sent with every request.
//
// Server breakdown: ModelStatistics of the model before and after each
// measured window (model_statistics_delta.h); omitted when the server answers
// UNIMPLEMENTED or has no statistics for the model.
//
// Output: bench_report.h's table on stdout, or with --json its one JSON
// object; --csv FILE also writes the CSV. Exit status: 0 when every request
// succeeded, 1 when any failed (the report is printed all the same) or the
// setup failed, 2 for usage errors (flags, and inputs that do not fit the
// model's metadata: unknown names, dynamic dims without --shape).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/client_tls_flags.h"
#include "client/infer_command.h"
#include "client/load_generator.h"
#include "common/tensor.h"
#include "proto/inference.pb.h"

namespace tessera::client {

struct BenchOptions {
  struct ShapeOverride {
    std::string name;
    Shape dims;  // without the batch dim
  };

  std::string server;
  ClientTlsFlags tls_flags;
  std::string model;
  std::string version;                 // empty: the server's latest
  std::vector<int64_t> concurrencies;  // closed-loop steps (empty in rate mode)
  std::vector<double> rates;           // open-loop steps, requests/s (empty in concurrency mode)
  RequestDistribution distribution = RequestDistribution::kConstant;
  double duration_s = 5;
  double warmup_s = 1;
  int64_t batch = 1;
  std::vector<InferOptions::NpyInput> npy_inputs;
  std::vector<InferOptions::RandomInput> random_inputs;
  std::vector<ShapeOverride> shapes;
  bool typed_contents = false;
  bool json = false;
  std::string csv_path;
  int64_t max_outstanding = 1024;
  int64_t timeout_ms = 60000;  // per request; 0: none
  uint64_t seed = 0;
  bool help = false;
};

// "START[:END[:STEP]]" with integers >= 1; STEP "xF" (F >= 2) multiplies.
// END is included when a step lands on it. InvalidArgument naming the spec.
absl::StatusOr<std::vector<int64_t>> ParseConcurrencyRange(const std::string& spec);
// The same for request rates (positive numbers; STEP > 0, or "xF" with F > 1).
absl::StatusOr<std::vector<double>> ParseRequestRateRange(const std::string& spec);

// Parses the arguments after "bench". InvalidArgument describes a usage error.
absl::StatusOr<BenchOptions> ParseBenchArgs(const std::vector<std::string>& args);

// The shape each input is sent with, in metadata order; nullopt for an input
// read from a file (its shape is the file's). `max_batch_size` is
// ModelConfig's, nullopt when the server has no ModelConfig. InvalidArgument
// naming the input or flag for: a name the model does not declare, a dynamic
// dim without --shape, a --shape of the wrong rank or contradicting a fixed
// dim, a --batch the model cannot take.
struct ResolvedInput {
  std::string name;
  std::string datatype;
  std::optional<Shape> shape;
};
absl::StatusOr<std::vector<ResolvedInput>> ResolveBenchInputs(const BenchOptions& options,
                                                              const inference::ModelMetadataResponse& metadata,
                                                              std::optional<int64_t> max_batch_size);

std::string BenchUsage();

// Runs the subcommand with `args` (after "bench"); the report goes to `out`,
// diagnostics to `err`; returns the process exit code.
int BenchCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::client
