#include "client/bench_command.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/bench_report.h"
#include "client/exit_codes.h"
#include "client/flag_argument.h"
#include "client/kserve_request.h"
#include "client/model_statistics_delta.h"
#include "client/random_tensor.h"
#include "common/grpc_status.h"
#include "common/kserve_datatype.h"
#include "common/npy.h"
#include "common/tls_credentials.h"
#include "proto/inference.grpc.pb.h"

namespace tessera::client {
namespace {

constexpr int kMaxMessageBytes = 1 << 30;
constexpr int64_t kMaxRandomInputBytes = int64_t{1} << 30;
constexpr size_t kMaxSteps = 1000;
constexpr int64_t kMaxConcurrency = 100000;

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

// START, END and STEP of a range spec as text; `factor` when STEP is "xF".
struct RangeParts {
  std::string start, end, step;
  bool geometric = false;
};

absl::StatusOr<RangeParts> SplitRange(const std::string& spec, absl::string_view flag) {
  std::vector<std::string> parts = absl::StrSplit(spec, ':');
  if (parts.empty() || parts.size() > 3) {
    return Usage(absl::StrCat(flag, " expects START[:END[:STEP]], got '", spec, "'"));
  }
  RangeParts range;
  range.start = parts[0];
  range.end = parts.size() > 1 ? parts[1] : parts[0];
  range.step = parts.size() > 2 ? parts[2] : "1";
  if (!range.step.empty() && range.step[0] == 'x') {
    range.geometric = true;
    range.step.erase(0, 1);
  }
  return range;
}

absl::Status RangeError(absl::string_view flag, const std::string& spec, absl::string_view why) {
  return Usage(absl::StrCat(flag, " '", spec, "': ", why));
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> ParseConcurrencyRange(const std::string& spec) {
  constexpr absl::string_view kFlag = "--concurrency-range";
  absl::StatusOr<RangeParts> parts = SplitRange(spec, kFlag);
  if (!parts.ok()) return parts.status();
  int64_t start = 0, end = 0, step = 0;
  if (!absl::SimpleAtoi(parts->start, &start) || !absl::SimpleAtoi(parts->end, &end) ||
      !absl::SimpleAtoi(parts->step, &step)) {
    return RangeError(kFlag, spec, "START, END and STEP must be integers (STEP may be xF)");
  }
  if (start < 1) return RangeError(kFlag, spec, "START must be >= 1");
  if (end < start) return RangeError(kFlag, spec, "END must be >= START");
  if (end > kMaxConcurrency) return RangeError(kFlag, spec, absl::StrCat("END must be <= ", kMaxConcurrency));
  if (parts->geometric ? step < 2 : step < 1) {
    return RangeError(kFlag, spec, parts->geometric ? "the factor xF needs F >= 2" : "STEP must be >= 1");
  }
  std::vector<int64_t> values;
  for (int64_t v = start; v <= end; v = parts->geometric ? v * step : v + step) {
    values.push_back(v);
    if (values.size() > kMaxSteps) return RangeError(kFlag, spec, absl::StrCat("more than ", kMaxSteps, " steps"));
  }
  return values;
}

absl::StatusOr<std::vector<double>> ParseRequestRateRange(const std::string& spec) {
  constexpr absl::string_view kFlag = "--request-rate";
  absl::StatusOr<RangeParts> parts = SplitRange(spec, kFlag);
  if (!parts.ok()) return parts.status();
  double start = 0, end = 0, step = 0;
  if (!absl::SimpleAtod(parts->start, &start) || !absl::SimpleAtod(parts->end, &end) ||
      !absl::SimpleAtod(parts->step, &step) || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step)) {
    return RangeError(kFlag, spec, "START, END and STEP must be numbers (STEP may be xF)");
  }
  if (start <= 0) return RangeError(kFlag, spec, "the rate must be > 0");
  if (end < start) return RangeError(kFlag, spec, "END must be >= START");
  if (parts->geometric ? step <= 1 : step <= 0) {
    return RangeError(kFlag, spec, parts->geometric ? "the factor xF needs F > 1" : "STEP must be > 0");
  }
  std::vector<double> values;
  // A small tolerance keeps END when repeated additions land just above it.
  const double limit = end * (1 + 1e-9);
  for (int64_t i = 0;; ++i) {
    const double v =
        parts->geometric ? start * std::pow(step, static_cast<double>(i)) : start + step * static_cast<double>(i);
    if (v > limit) break;
    values.push_back(v);
    if (values.size() > kMaxSteps) return RangeError(kFlag, spec, absl::StrCat("more than ", kMaxSteps, " steps"));
  }
  return values;
}

std::string BenchUsage() {
  return R"(usage: tessera bench --server ADDR (--certs DIR | --ca F --cert F --key F | --insecure)
                     [--server-name NAME] [--token-file F] --model NAME [--version V]
                     [--concurrency-range START[:END[:STEP]]] [--request-rate R[:END[:STEP]]]
                     [--request-distribution constant|poisson] [--duration S] [--warmup S]
                     [--batch B] [--input NAME=FILE.npy]... [--random-input NAME[=DIMS]]...
                     [--shape NAME=DIMS]... [--typed-contents] [--csv FILE] [--json]
                     [--max-outstanding N] [--timeout-ms N] [--seed N]

Measures a KServe v2 server (a Tessera coordinator, Triton, ...) under load,
as Triton's perf_analyzer does: throughput, latency percentiles and the
server's own breakdown (ModelStatistics) for each step of load.

  --server ADDR, --certs DIR, --ca F --cert F --key F, --insecure, --server-name NAME,
  --token-file F
                          as for `tessera infer`
  --model NAME            the model to measure (required)
  --version V             the model version (default: the server's latest)
  --concurrency-range START[:END[:STEP]]
                          closed loop: keep N requests outstanding, for N from
                          START to END by STEP (1:8:2 -> 1,3,5,7; STEP xF
                          multiplies: 1:64:x2 -> 1,2,4,...,64). Default 1.
  --request-rate R[:END[:STEP]]
                          open loop instead: send R requests/s (a range as above)
  --request-distribution constant|poisson
                          spacing of open-loop requests (default constant)
  --max-outstanding N     open loop: at most N requests in flight; a request due
                          beyond that is not sent and counted as delayed (default 1024)
  --duration S            measured seconds per step (default 5)
  --warmup S              unmeasured seconds before each step's window (default 1)
  --batch B               the batch dim of every input (default 1)
  --shape NAME=DIMS       dims of input NAME after the batch dim (e.g. 3x224x224),
                          needed when the model declares them dynamic (-1)
  --input NAME=FILE.npy   input NAME from a NumPy file, as is (repeatable)
  --random-input NAME[=DIMS]
                          input NAME random, with the whole shape DIMS when given
                          (inputs not named anywhere are random too)
  --typed-contents        send inputs in the typed `contents` fields
  --csv FILE              also write one CSV row per step (latencies in us)
  --json                  print one JSON object {model, batch, steps: [...]}
                          instead of the table
  --timeout-ms N          deadline of each request (default 60000; 0: none)
  --seed N                seed of the random inputs and Poisson gaps (default 0)
  --help                  this text

Exit status: 0 when every request succeeded, 1 when any failed (the report
is still printed) or the server could not be used, 2 usage error.
)";
}

absl::StatusOr<BenchOptions> ParseBenchArgs(const std::vector<std::string>& args) {
  BenchOptions options;
  std::set<std::string> named;
  bool has_concurrency = false;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::StatusOr<FlagArgument> parsed = FlagArgument::Split(args[i]);
    if (!parsed.ok()) return parsed.status();
    const std::string& flag = parsed->flag;
    const std::string& value = parsed->value;
    if (parsed->is_help()) {
      options.help = true;
      return options;
    }
    if (flag == "--json" || flag == "--insecure" || flag == "--typed-contents") {
      if (parsed->has_value) return Usage(absl::StrCat(flag, " takes no value"));
      if (flag == "--json") options.json = true;
      if (flag == "--insecure") options.tls_flags.insecure = true;
      if (flag == "--typed-contents") options.typed_contents = true;
      continue;
    }
    static const std::set<std::string> kValueFlags = {"--server",
                                                      "--certs",
                                                      "--ca",
                                                      "--cert",
                                                      "--key",
                                                      "--server-name",
                                                      "--token-file",
                                                      "--model",
                                                      "--version",
                                                      "--concurrency-range",
                                                      "--request-rate",
                                                      "--request-distribution",
                                                      "--duration",
                                                      "--warmup",
                                                      "--batch",
                                                      "--input",
                                                      "--random-input",
                                                      "--shape",
                                                      "--csv",
                                                      "--max-outstanding",
                                                      "--timeout-ms",
                                                      "--seed"};
    if (kValueFlags.count(flag) == 0) return Usage(absl::StrCat("unknown flag '", flag, "'"));
    if (absl::Status taken = parsed->TakeValue(args, i); !taken.ok()) return taken;
    if (value.empty() && flag != "--version") return Usage(absl::StrCat(flag, " needs a non-empty value"));
    if (options.tls_flags.SetValue(flag, value)) {
      continue;
    } else if (flag == "--server") {
      options.server = value;
    } else if (flag == "--model") {
      options.model = value;
    } else if (flag == "--version") {
      options.version = value;
    } else if (flag == "--concurrency-range") {
      absl::StatusOr<std::vector<int64_t>> range = ParseConcurrencyRange(value);
      if (!range.ok()) return range.status();
      options.concurrencies = *std::move(range);
      has_concurrency = true;
    } else if (flag == "--request-rate") {
      absl::StatusOr<std::vector<double>> range = ParseRequestRateRange(value);
      if (!range.ok()) return range.status();
      options.rates = *std::move(range);
    } else if (flag == "--request-distribution") {
      if (value == "constant") {
        options.distribution = RequestDistribution::kConstant;
      } else if (value == "poisson") {
        options.distribution = RequestDistribution::kPoisson;
      } else {
        return Usage(absl::StrCat("--request-distribution expects constant or poisson, got '", value, "'"));
      }
    } else if (flag == "--duration" || flag == "--warmup") {
      double seconds = 0;
      const bool is_duration = flag == "--duration";
      if (!absl::SimpleAtod(value, &seconds) || !std::isfinite(seconds) || (is_duration ? seconds <= 0 : seconds < 0) ||
          seconds > 86400) {
        return Usage(absl::StrCat(flag, " expects seconds ", is_duration ? "> 0" : ">= 0", " (at most 86400), got '",
                                  value, "'"));
      }
      (is_duration ? options.duration_s : options.warmup_s) = seconds;
    } else if (flag == "--batch" || flag == "--max-outstanding") {
      int64_t n = 0;
      if (!absl::SimpleAtoi(value, &n) || n < 1) {
        return Usage(absl::StrCat(flag, " expects an integer >= 1, got '", value, "'"));
      }
      (flag == "--batch" ? options.batch : options.max_outstanding) = n;
    } else if (absl::optional<absl::Status> input =
                   ParseInputFlag(flag, value, &named, &options.npy_inputs, &options.random_inputs)) {
      if (!input->ok()) return *input;
    } else if (flag == "--shape") {
      const size_t eq = value.rfind('=');
      if (eq == std::string::npos || eq == 0)
        return Usage(absl::StrCat("--shape expects NAME=DIMS, got '", value, "'"));
      BenchOptions::ShapeOverride shape;
      shape.name = value.substr(0, eq);
      absl::StatusOr<Shape> dims = ParseShapeSpec(value.substr(eq + 1));
      if (!dims.ok()) return Usage(absl::StrCat("--shape ", shape.name, ": ", dims.status().message()));
      shape.dims = *std::move(dims);
      for (const BenchOptions::ShapeOverride& other : options.shapes) {
        if (other.name == shape.name) return Usage(absl::StrCat("--shape for input '", shape.name, "' given twice"));
      }
      options.shapes.push_back(std::move(shape));
    } else if (flag == "--csv") {
      options.csv_path = value;
    } else if (flag == "--timeout-ms") {
      if (!absl::SimpleAtoi(value, &options.timeout_ms) || options.timeout_ms < 0) {
        return Usage(absl::StrCat("--timeout-ms expects an integer >= 0, got '", value, "'"));
      }
    } else if (flag == "--seed") {
      if (!absl::SimpleAtoi(value, &options.seed)) {
        return Usage(absl::StrCat("--seed expects a non-negative integer, got '", value, "'"));
      }
    }
  }
  if (options.server.empty()) return Usage("--server is required");
  if (options.model.empty()) return Usage("--model is required");
  if (absl::Status tls = options.tls_flags.Check(); !tls.ok()) return tls;
  if (has_concurrency && !options.rates.empty()) {
    return Usage("--concurrency-range and --request-rate exclude each other (closed loop or open loop)");
  }
  if (options.rates.empty() && options.concurrencies.empty()) options.concurrencies = {1};
  return options;
}

absl::StatusOr<std::vector<ResolvedInput>> ResolveBenchInputs(const BenchOptions& options,
                                                              const inference::ModelMetadataResponse& metadata,
                                                              std::optional<int64_t> max_batch_size) {
  std::set<std::string> declared;
  for (const auto& input : metadata.inputs()) declared.insert(input.name());
  auto check_name = [&](const std::string& name, absl::string_view flag) -> absl::Status {
    if (declared.count(name) > 0) return absl::OkStatus();
    return Usage(absl::StrCat(flag, " names input '", name, "', but model '", options.model,
                              "' has no such input; its inputs are: ", DeclaredInputsSummary(metadata)));
  };
  std::map<std::string, const InferOptions::RandomInput*> random;
  std::set<std::string> from_file;
  std::map<std::string, const Shape*> overrides;
  for (const auto& input : options.npy_inputs) {
    if (absl::Status s = check_name(input.name, "--input"); !s.ok()) return s;
    from_file.insert(input.name);
  }
  for (const auto& input : options.random_inputs) {
    if (absl::Status s = check_name(input.name, "--random-input"); !s.ok()) return s;
    random[input.name] = &input;
  }
  for (const auto& shape : options.shapes) {
    if (absl::Status s = check_name(shape.name, "--shape"); !s.ok()) return s;
    auto it = random.find(shape.name);
    if (from_file.count(shape.name) > 0 || (it != random.end() && it->second->has_shape)) {
      return Usage(absl::StrCat("--shape ", shape.name,
                                " conflicts with the whole shape that --input or "
                                "--random-input DIMS already gives that input"));
    }
    overrides[shape.name] = &shape.dims;
  }
  if (max_batch_size.has_value()) {
    if (*max_batch_size == 0 && options.batch != 1) {
      return Usage(
          absl::StrCat("--batch ", options.batch, ": model '", options.model, "' does not batch (max_batch_size 0)"));
    }
    if (*max_batch_size > 0 && options.batch > *max_batch_size) {
      return Usage(absl::StrCat("--batch ", options.batch, " exceeds model '", options.model, "''s max_batch_size ",
                                *max_batch_size));
    }
  }

  std::vector<ResolvedInput> resolved;
  bool any_batch_dim = false;
  bool any_generated = false;
  for (const auto& input : metadata.inputs()) {
    ResolvedInput out;
    out.name = input.name();
    out.datatype = input.datatype();
    if (from_file.count(input.name()) > 0) {
      resolved.push_back(std::move(out));
      continue;
    }
    auto r = random.find(input.name());
    if (r != random.end() && r->second->has_shape) {
      out.shape = r->second->shape;
      resolved.push_back(std::move(out));
      continue;
    }
    any_generated = true;
    const std::vector<int64_t> dims(input.shape().begin(), input.shape().end());
    const bool has_batch = max_batch_size.has_value() ? *max_batch_size > 0 : (!dims.empty() && dims[0] == -1);
    if (has_batch && dims.empty()) {
      return Usage(absl::StrCat("input '", input.name(), "' of a batching model declares no dims"));
    }
    any_batch_dim = any_batch_dim || has_batch;
    const std::vector<int64_t> rest(dims.begin() + (has_batch ? 1 : 0), dims.end());
    Shape shape;
    if (has_batch) shape.push_back(options.batch);
    auto o = overrides.find(input.name());
    if (o != overrides.end()) {
      const Shape& given = *o->second;
      if (given.size() != rest.size()) {
        return Usage(absl::StrCat("--shape ", input.name(), " gives ", given.size(), " dims, but the input has ",
                                  rest.size(), " after the batch dim: [", absl::StrJoin(rest, ","), "]"));
      }
      for (size_t d = 0; d < rest.size(); ++d) {
        if (rest[d] >= 0 && rest[d] != given[d]) {
          return Usage(
              absl::StrCat("--shape ", input.name(), ": dim ", d, " is fixed at ", rest[d], ", not ", given[d]));
        }
        shape.push_back(given[d]);
      }
    } else {
      for (int64_t d : rest) {
        if (d < 0) {
          return Usage(absl::StrCat("input '", input.name(), "' has dynamic dims [", absl::StrJoin(dims, ","),
                                    "]; give their sizes with --shape ", input.name(),
                                    "=DIMS (the dims after the "
                                    "batch dim)"));
        }
        shape.push_back(d);
      }
    }
    out.shape = std::move(shape);
    resolved.push_back(std::move(out));
  }
  if (!max_batch_size.has_value() && options.batch != 1 && any_generated && !any_batch_dim) {
    return Usage(absl::StrCat("--batch ", options.batch, ": no input of model '", options.model,
                              "' has a leading dynamic (batch) dim"));
  }
  return resolved;
}

namespace {

int Fail(std::ostream& err, const absl::Status& status) {
  err << "tessera bench: " << status.message() << "\n";
  return kExitRuntimeError;
}

void SetDeadline(int64_t timeout_ms, grpc::ClientContext* context) {
  if (timeout_ms > 0) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
}

// The request every call sends: inputs generated or read once.
absl::StatusOr<inference::ModelInferRequest> BuildRequest(const BenchOptions& options,
                                                          const std::vector<ResolvedInput>& inputs) {
  inference::ModelInferRequest request;
  request.set_model_name(options.model);
  request.set_model_version(options.version);
  const InferContents contents = options.typed_contents ? InferContents::kTyped : InferContents::kRaw;
  std::mt19937_64 rng(options.seed);
  for (const ResolvedInput& input : inputs) {
    if (!input.shape.has_value()) {
      std::string path;
      for (const auto& npy : options.npy_inputs) {
        if (npy.name == input.name) path = npy.path;
      }
      absl::StatusOr<Tensor> tensor = ReadNpyFile(path);
      if (!tensor.ok()) {
        return absl::Status(tensor.status().code(),
                            absl::StrCat("input '", input.name, "': ", tensor.status().message()));
      }
      AddInferInput(input.name, *tensor, contents, &request);
      continue;
    }
    absl::StatusOr<DataType> dtype = DataTypeFromKServe(input.datatype);
    if (!dtype.ok()) {
      return absl::Status(dtype.status().code(), absl::StrCat("cannot make random data for input '", input.name,
                                                              "': ", dtype.status().message()));
    }
    if (absl::Status s = ValidateShape(*input.shape, *dtype, kMaxRandomInputBytes); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("input '", input.name, "': ", s.message()));
    }
    AddInferInput(input.name, MakeRandomTensor(*dtype, *input.shape, RandomDistribution::kUniform, rng), contents,
                  &request);
  }
  return request;
}

// ModelStatistics snapshots of the benchmarked model (model_statistics_delta.h
// turns two of them into the breakdown).
class StatisticsProbe {
 public:
  StatisticsProbe(inference::GRPCInferenceService::Stub* stub, const BenchOptions& options)
      : stub_(stub), options_(options) {}

  // Whether the server answers ModelStatistics at all; a note on `err` when
  // it fails other than with UNIMPLEMENTED (which is just a plain server).
  // No entry for the model yet is fine: it may have served nothing so far.
  bool Probe(std::ostream& err) {
    absl::StatusOr<inference::ModelStatistics> stats = Fetch();
    if (stats.ok() || stats.status().code() == absl::StatusCode::kNotFound) return true;
    if (stats.status().code() != absl::StatusCode::kUnimplemented) {
      err << "tessera bench: note: no server breakdown: " << stats.status().message() << "\n";
    }
    return false;
  }

  absl::StatusOr<inference::ModelStatistics> Fetch() {
    inference::ModelStatisticsRequest request;
    request.set_name(options_.model);
    request.set_version(options_.version);
    inference::ModelStatisticsResponse response;
    grpc::ClientContext context;
    SetDeadline(options_.timeout_ms == 0 ? 10000 : std::min<int64_t>(options_.timeout_ms, 10000), &context);
    grpc::Status status = stub_->ModelStatistics(&context, request, &response);
    if (!status.ok()) return ServerCallError(status, "ModelStatistics", options_.tls_flags.insecure);
    return SelectModelStatistics(response, options_.model, options_.version);
  }

 private:
  inference::GRPCInferenceService::Stub* stub_;
  const BenchOptions& options_;
};

// One in-flight ModelInfer: its context and response live until its callback.
struct InferCall {
  grpc::ClientContext context;
  inference::ModelInferResponse response;
};

}  // namespace

int BenchCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<BenchOptions> parsed = ParseBenchArgs(args);
  if (!parsed.ok()) {
    err << "tessera bench: " << parsed.status().message() << "\nTry 'tessera bench --help'.\n";
    return kExitUsageError;
  }
  const BenchOptions& options = *parsed;
  if (options.help) {
    out << BenchUsage();
    return kExitOk;
  }
  const TlsOptions tls = options.tls_flags.ToTlsOptions();
  if (!tls.insecure) {
    if (absl::Status s = ValidateTlsFiles(tls.files); !s.ok()) return Fail(err, s);
  }
  grpc::ChannelArguments channel_arguments;
  channel_arguments.SetMaxReceiveMessageSize(kMaxMessageBytes);
  channel_arguments.SetMaxSendMessageSize(kMaxMessageBytes);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options.server, tls, channel_arguments);
  if (!channel.ok()) return Fail(err, channel.status());
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub = inference::GRPCInferenceService::NewStub(*channel);

  inference::ModelMetadataResponse metadata;
  {
    inference::ModelMetadataRequest request;
    request.set_name(options.model);
    request.set_version(options.version);
    grpc::ClientContext context;
    SetDeadline(options.timeout_ms, &context);
    grpc::Status status = stub->ModelMetadata(&context, request, &metadata);
    if (!status.ok()) return Fail(err, ServerCallError(status, "ModelMetadata", options.tls_flags.insecure));
  }
  std::optional<int64_t> max_batch_size;
  {
    inference::ModelConfigRequest request;
    request.set_name(options.model);
    request.set_version(options.version);
    inference::ModelConfigResponse config;
    grpc::ClientContext context;
    SetDeadline(options.timeout_ms, &context);
    grpc::Status status = stub->ModelConfig(&context, request, &config);
    if (status.ok()) {
      max_batch_size = config.config().max_batch_size();
    } else if (status.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
      return Fail(err, ServerCallError(status, "ModelConfig", options.tls_flags.insecure));
    }
  }
  absl::StatusOr<std::vector<ResolvedInput>> inputs = ResolveBenchInputs(options, metadata, max_batch_size);
  if (!inputs.ok()) {
    err << "tessera bench: " << inputs.status().message() << "\nTry 'tessera bench --help'.\n";
    return kExitUsageError;
  }
  absl::StatusOr<inference::ModelInferRequest> request = BuildRequest(options, *inputs);
  if (!request.ok()) return Fail(err, request.status());

  StatisticsProbe statistics(stub.get(), options);
  const bool with_statistics = statistics.Probe(err);

  inference::GRPCInferenceService::Stub* raw_stub = stub.get();
  const inference::ModelInferRequest* shared_request = &*request;
  const int64_t timeout_ms = options.timeout_ms;
  const StartRequestFn start = [raw_stub, shared_request, timeout_ms](RequestDone done) {
    auto call = std::make_shared<InferCall>();
    SetDeadline(timeout_ms, &call->context);
    raw_stub->async()->ModelInfer(&call->context, shared_request, &call->response,
                                  [call, done = std::move(done)](grpc::Status status) {
                                    done(status.ok() ? absl::OkStatus() : FromGrpcStatus(status));
                                  });
  };

  BenchReport report;
  report.model = options.model;
  report.batch = options.batch;
  report.rate_mode = !options.rates.empty();
  const size_t steps = report.rate_mode ? options.rates.size() : options.concurrencies.size();
  int64_t total_errors = 0;
  for (size_t i = 0; i < steps; ++i) {
    LoadStepOptions step;
    if (report.rate_mode) {
      step.rate = options.rates[i];
    } else {
      step.concurrency = options.concurrencies[i];
    }
    step.distribution = options.distribution;
    step.max_outstanding = options.max_outstanding;
    step.warmup = absl::Seconds(options.warmup_s);
    step.duration = absl::Seconds(options.duration_s);
    step.seed = options.seed + i;
    absl::StatusOr<inference::ModelStatistics> before, after;
    if (with_statistics) {
      step.on_window_start = [&] {
        before = statistics.Fetch();
        // No entry yet: the model has served nothing, all counters zero.
        if (before.status().code() == absl::StatusCode::kNotFound) before = inference::ModelStatistics();
      };
      step.on_window_end = [&] { after = statistics.Fetch(); };
    }
    LoadStepResult result;
    if (absl::Status s = RunLoadStep(start, step, &result); !s.ok()) return Fail(err, s);
    BenchStepReport summary = SummarizeStep(result, options.batch);
    summary.concurrency = step.concurrency;
    summary.rate = step.rate;
    if (with_statistics) {
      if (before.ok() && after.ok()) {
        summary.has_server = true;
        summary.server = ComputeServerBreakdown(*before, *after);
      } else {
        err << "tessera bench: note: no server breakdown for step " << i + 1 << ": "
            << (before.ok() ? after.status() : before.status()).message() << "\n";
      }
    }
    total_errors += summary.errors;
    report.steps.push_back(std::move(summary));
  }

  out << (options.json ? FormatBenchJson(report) : FormatBenchTable(report));
  out.flush();
  if (!options.csv_path.empty()) {
    std::ofstream csv(options.csv_path, std::ios::binary | std::ios::trunc);
    csv << FormatBenchCsv(report);
    csv.close();
    if (!csv) {
      return Fail(err, absl::PermissionDeniedError(absl::StrCat("cannot write --csv file '", options.csv_path, "'")));
    }
  }
  if (total_errors > 0) {
    err << "tessera bench: " << total_errors << " request(s) failed\n";
    return kExitRuntimeError;
  }
  return kExitOk;
}

}  // namespace tessera::client
