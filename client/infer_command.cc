#include "client/infer_command.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <system_error>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/exit_codes.h"
#include "client/flag_argument.h"
#include "client/latency_stats.h"
#include "client/json_text.h"
#include "client/kserve_request.h"
#include "client/random_tensor.h"
#include "client/run_command.h"
#include "common/kserve_datatype.h"
#include "common/npy.h"
#include "coordinator/frontend/kserve_tensors.h"
#include "proto/inference.grpc.pb.h"

namespace tessera::client {
namespace {

constexpr int kPreviewValues = 6;
constexpr int kMaxMessageBytes = 1 << 30;
// Random inputs larger than this are refused (a request is at most 1 GiB).
constexpr int64_t kMaxRandomInputBytes = int64_t{1} << 30;

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

// "ModelInfer failed: UNAVAILABLE: failed to connect ..." for a failed call,
// with a hint when the connection itself was refused for security reasons.
absl::Status CallError(const grpc::Status& status, absl::string_view call, bool insecure) {
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string message =
      absl::StrCat(call, " failed: ", absl::StatusCodeToString(code), ": ", status.error_message());
  if (code == absl::StatusCode::kUnavailable && absl::StrContains(status.error_message(), "handshake failed")) {
    absl::StrAppend(&message, "\n(the TLS handshake failed: the client certificate and CA must come from the "
                              "server's cluster, and the server's certificate must name the host dialled or "
                              "--server-name)");
  } else if (code == absl::StatusCode::kUnavailable && insecure &&
             absl::StrContains(status.error_message(), "Socket closed")) {
    absl::StrAppend(&message, "\n(the server closed the plaintext connection: it may require TLS; give --certs)");
  } else if (code == absl::StatusCode::kUnauthenticated) {
    absl::StrAppend(&message, "\n(the server wants a bearer token: give --token-file F with a token from its "
                              "--client-tokens-file)");
  } else if (code == absl::StatusCode::kPermissionDenied) {
    absl::StrAppend(&message, "\n(the server's policy refuses this certificate's role; use the client "
                              "certificate, DIR/client.pem)");
  }
  return absl::Status(code, message);
}

void SetDeadline(const InferOptions& options, grpc::ClientContext* context) {
  if (options.timeout_ms > 0) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(options.timeout_ms));
  }
}

absl::StatusOr<inference::ModelMetadataResponse> FetchMetadata(inference::GRPCInferenceService::Stub& stub,
                                                               const InferOptions& options) {
  inference::ModelMetadataRequest request;
  request.set_name(options.model);
  request.set_version(options.version);
  inference::ModelMetadataResponse response;
  grpc::ClientContext context;
  SetDeadline(options, &context);
  grpc::Status status = stub.ModelMetadata(&context, request, &response);
  if (!status.ok()) return CallError(status, "ModelMetadata", options.tls_flags.insecure);
  return response;
}

std::string DeclaredInputs(const inference::ModelMetadataResponse& metadata) {
  std::vector<std::string> parts;
  for (const auto& input : metadata.inputs()) {
    parts.push_back(absl::StrCat(input.name(), " ", input.datatype(), "[", absl::StrJoin(input.shape(), ","), "]"));
  }
  return absl::StrJoin(parts, ", ");
}

// A random tensor for `input` as the metadata declares it.
absl::StatusOr<Tensor> RandomInputTensor(const InferOptions::RandomInput& input,
                                         const inference::ModelMetadataResponse& metadata, std::mt19937_64& rng) {
  const inference::ModelMetadataResponse::TensorMetadata* declared = nullptr;
  for (const auto& candidate : metadata.inputs()) {
    if (candidate.name() == input.name) declared = &candidate;
  }
  if (declared == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("model '", metadata.name(), "' has no input named '", input.name,
                                                   "'; its inputs are: ", DeclaredInputs(metadata)));
  }
  absl::StatusOr<DataType> dtype = DataTypeFromKServe(declared->datatype());
  if (!dtype.ok()) {
    return absl::Status(dtype.status().code(),
                        absl::StrCat("cannot make random data for input '", input.name, "': ", dtype.status().message()));
  }
  Shape shape = input.shape;
  if (!input.has_shape) {
    shape.clear();
    for (int64_t d : declared->shape()) shape.push_back(d < 0 ? 1 : d);
  }
  const std::string source = absl::StrCat("--random-input ", input.name);
  if (absl::Status s = ValidateShape(shape, *dtype, kMaxRandomInputBytes); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(source, ": ", s.message()));
  }
  return MakeRandomTensor(*dtype, shape, RandomDistribution::kUniform, rng);
}

absl::StatusOr<inference::ModelInferRequest> BuildRequest(const InferOptions& options,
                                                          inference::GRPCInferenceService::Stub& stub,
                                                          std::ostream& err) {
  inference::ModelInferRequest request;
  request.set_model_name(options.model);
  request.set_model_version(options.version);
  const InferContents contents = options.typed_contents ? InferContents::kTyped : InferContents::kRaw;
  for (const InferOptions::NpyInput& input : options.npy_inputs) {
    absl::StatusOr<Tensor> tensor = ReadNpyFile(input.path);
    if (!tensor.ok()) {
      return absl::Status(tensor.status().code(),
                          absl::StrCat("input '", input.name, "': ", tensor.status().message()));
    }
    AddInferInput(input.name, *tensor, contents, &request);
  }
  std::vector<InferOptions::RandomInput> random = options.random_inputs;
  const bool fill_all = options.npy_inputs.empty() && random.empty();
  if (!random.empty() || fill_all) {
    absl::StatusOr<inference::ModelMetadataResponse> metadata = FetchMetadata(stub, options);
    if (!metadata.ok()) return metadata.status();
    if (fill_all) {
      for (const auto& declared : metadata->inputs()) {
        random.push_back({declared.name(), false, {}});
        err << "note: no input given; using random " << declared.datatype() << " data for '" << declared.name()
            << "'\n";
      }
    }
    std::mt19937_64 rng(options.seed);
    for (const InferOptions::RandomInput& input : random) {
      absl::StatusOr<Tensor> tensor = RandomInputTensor(input, *metadata, rng);
      if (!tensor.ok()) return tensor.status();
      AddInferInput(input.name, *tensor, contents, &request);
    }
  }
  for (const std::string& name : options.outputs) request.add_outputs()->set_name(name);
  return request;
}

std::string PreviewValues(const Tensor& tensor) {
  std::vector<std::string> values;
  const int64_t n = tensor.num_elements();
  const bool is_float = tensor.dtype() == DataType::kFloat32 || tensor.dtype() == DataType::kFloat64;
  for (int64_t i = 0; i < n && i < kPreviewValues; ++i) {
    values.push_back(is_float ? absl::StrFormat("%.6g", tensor.GetAsDouble(i)) : absl::StrCat(tensor.GetAsInt64(i)));
  }
  if (n > kPreviewValues) values.push_back(absl::StrCat("... (", n, " values)"));
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

absl::Status WriteOutputs(const std::string& directory, const std::vector<engine::NamedTensor>& outputs) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create output directory '", directory, "': ", error.message()));
  }
  std::set<std::string> used;
  for (const engine::NamedTensor& output : outputs) {
    const std::string base = OutputFileName(output.name);
    const std::string stem = base.substr(0, base.size() - 4);
    std::string file = base;
    for (int suffix = 1; used.count(file) > 0; ++suffix) file = absl::StrCat(stem, "_", suffix, ".npy");
    used.insert(file);
    if (absl::Status s = WriteNpyFile((std::filesystem::path(directory) / file).string(), output.tensor); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

std::string JsonReport(const inference::ModelInferResponse& response,
                       const std::vector<engine::NamedTensor>& outputs, double latency_ms) {
  std::vector<std::string> entries;
  for (const engine::NamedTensor& output : outputs) {
    entries.push_back(absl::StrCat(JsonQuote(output.name), ": {\"shape\": [", absl::StrJoin(output.tensor.shape(), ", "),
                                   "], \"datatype\": ", JsonQuote(KServeDatatype(output.tensor.dtype())), "}"));
  }
  return absl::StrCat("{\"model_name\": ", JsonQuote(response.model_name()),
                      ", \"model_version\": ", JsonQuote(response.model_version()), ", \"outputs\": {",
                      absl::StrJoin(entries, ", "), "}, \"latency_ms\": ", JsonNumber(latency_ms), "}\n");
}

std::string TextReport(const InferOptions& options, const inference::ModelInferResponse& response,
                       const std::vector<engine::NamedTensor>& outputs, double latency_ms) {
  std::string text = absl::StrFormat("model: %s version %s at %s (%.3f ms)\n", response.model_name(),
                                     response.model_version().empty() ? "?" : response.model_version(),
                                     options.server, latency_ms);
  absl::StrAppend(&text, "outputs:\n");
  for (const engine::NamedTensor& output : outputs) {
    absl::StrAppend(&text, "  ", output.name, "  ", KServeDatatype(output.tensor.dtype()), " ",
                    ShapeToString(output.tensor.shape()), "  ", PreviewValues(output.tensor), "\n");
  }
  if (!options.output_dir.empty()) absl::StrAppend(&text, "outputs written to ", options.output_dir, "/\n");
  return text;
}

int Fail(std::ostream& err, const absl::Status& status) {
  err << "tessera infer: " << status.message() << "\n";
  return kExitRuntimeError;
}

}  // namespace

absl::Status ServerCallError(const grpc::Status& status, absl::string_view call, bool insecure) {
  return CallError(status, call, insecure);
}

std::string DeclaredInputsSummary(const inference::ModelMetadataResponse& metadata) {
  return DeclaredInputs(metadata);
}

std::string InferUsage() {
  return R"(usage: tessera infer --server ADDR (--certs DIR | --ca F --cert F --key F | --insecure)
                     [--server-name NAME] [--token-file F] --model NAME [--version V]
                     [--input NAME=FILE.npy]... [--random-input NAME[=DIMS]]...
                     [--output NAME]... [--output-dir DIR] [--json] [--timeout-ms N]
                     [--typed-contents] [--seed N] [--iterations N] [--warmup N]

Sends one KServe v2 ModelInfer request to a Tessera coordinator (or any KServe
v2 / Triton gRPC server) and prints the outputs.

  --server ADDR           host:port of the server (required)
  --certs DIR             mutual TLS with DIR/client.pem, DIR/client.key and the
                          cluster CA DIR/ca.pem (`tessera certs` writes them)
  --ca F --cert F --key F the same three files named one by one
  --insecure              plaintext, no authentication (local experiments only)
  --server-name NAME      the name the server certificate must carry, when it
                          differs from the host in --server
  --token-file F          a coordinator started with --client-auth=token: send
                          the bearer token read from F (never on the command
                          line) instead of a client certificate; trust the
                          server with --ca F alone or --certs DIR (its ca.pem)
  --model NAME            the model to run (required)
  --version V             the model version (default: the server's latest)
  --input NAME=FILE.npy   input NAME from a NumPy .npy file (repeatable)
  --random-input NAME[=DIMS]
                          input NAME as uniform random data of the datatype the
                          server declares (ModelMetadata), shape DIMS (e.g.
                          1x3x32x32) or, without DIMS, the declared shape with
                          -1 taken as 1 (repeatable). With no --input and no
                          --random-input at all, every input is random.
  --output NAME           request only this output (repeatable; default: all)
  --output-dir DIR        write each output to DIR/NAME.npy ('/' in names becomes '_')
  --json                  print exactly one JSON object on stdout:
                          {"model_name": .., "model_version": .., "outputs":
                           {NAME: {"shape": [..], "datatype": ".."}}, "latency_ms": x}
  --timeout-ms N          deadline of each call in ms (default 60000; 0: none)
  --iterations N          send the request N times over one connection and
                          print latency percentiles (latency_ms in --json is
                          then the median); default 1
  --warmup N              untimed calls before those (default 0)
  --typed-contents        send inputs in the typed `contents` fields instead of
                          raw_input_contents
  --seed N                seed for random inputs (default 0)
  --help                  this text

Exit status: 0 success, 1 runtime error (files, connection, the server's
refusal: its gRPC status code and message go to stderr), 2 usage error.
)";
}

absl::optional<absl::Status> ParseInputFlag(const std::string& flag, const std::string& value,
                                            std::set<std::string>* named, std::vector<InferOptions::NpyInput>* npy,
                                            std::vector<InferOptions::RandomInput>* random) {
  if (flag == "--input") {
    const size_t eq = value.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == value.size()) {
      return Usage(absl::StrCat("--input expects NAME=FILE.npy, got '", value, "'"));
    }
    const std::string name = value.substr(0, eq);
    if (!named->insert(name).second) return Usage(absl::StrCat("input '", name, "' given twice"));
    npy->push_back({name, value.substr(eq + 1)});
    return absl::OkStatus();
  }
  if (flag == "--random-input") {
    InferOptions::RandomInput input;
    const size_t eq = value.rfind('=');
    input.name = value.substr(0, eq);
    if (input.name.empty()) return Usage(absl::StrCat("--random-input expects NAME[=DIMS], got '", value, "'"));
    if (eq != std::string::npos) {
      absl::StatusOr<Shape> shape = ParseShapeSpec(value.substr(eq + 1));
      if (!shape.ok()) return Usage(absl::StrCat("--random-input ", input.name, ": ", shape.status().message()));
      input.has_shape = true;
      input.shape = *std::move(shape);
    }
    if (!named->insert(input.name).second) return Usage(absl::StrCat("input '", input.name, "' given twice"));
    random->push_back(std::move(input));
    return absl::OkStatus();
  }
  return absl::nullopt;
}

absl::StatusOr<InferOptions> ParseInferArgs(const std::vector<std::string>& args) {
  InferOptions options;
  std::set<std::string> named;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::StatusOr<FlagArgument> parsed = FlagArgument::Split(args[i]);
    if (!parsed.ok()) return parsed.status();
    const std::string& flag = parsed->flag;
    const std::string& value = parsed->value;
    const bool has_value = parsed->has_value;
    if (parsed->is_help()) {
      options.help = true;
      return options;
    }
    if (flag == "--json" || flag == "--insecure" || flag == "--typed-contents") {
      if (has_value) return Usage(absl::StrCat(flag, " takes no value"));
      if (flag == "--json") options.json = true;
      if (flag == "--insecure") options.tls_flags.insecure = true;
      if (flag == "--typed-contents") options.typed_contents = true;
      continue;
    }
    static const std::set<std::string> kValueFlags = {
        "--server", "--certs",  "--ca",           "--cert",   "--key",        "--server-name", "--model",
        "--token-file",
        "--version", "--input", "--random-input", "--output", "--output-dir", "--timeout-ms",  "--seed",
        "--iterations", "--warmup"};
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
    } else if (absl::optional<absl::Status> input =
                   ParseInputFlag(flag, value, &named, &options.npy_inputs, &options.random_inputs)) {
      if (!input->ok()) return *input;
    } else if (flag == "--output") {
      options.outputs.push_back(value);
    } else if (flag == "--output-dir") {
      options.output_dir = value;
    } else if (flag == "--timeout-ms") {
      if (!absl::SimpleAtoi(value, &options.timeout_ms) || options.timeout_ms < 0) {
        return Usage(absl::StrCat("--timeout-ms expects an integer >= 0, got '", value, "'"));
      }
    } else if (flag == "--iterations" || flag == "--warmup") {
      int64_t n = 0;
      const int64_t minimum = flag == "--iterations" ? 1 : 0;
      if (!absl::SimpleAtoi(value, &n) || n < minimum) {
        return Usage(absl::StrCat(flag, " expects an integer >= ", minimum, ", got '", value, "'"));
      }
      (flag == "--iterations" ? options.iterations : options.warmup) = n;
    } else if (flag == "--seed") {
      if (!absl::SimpleAtoi(value, &options.seed)) {
        return Usage(absl::StrCat("--seed expects a non-negative integer, got '", value, "'"));
      }
    }
  }
  if (options.server.empty()) return Usage("--server is required");
  if (options.model.empty()) return Usage("--model is required");
  if (absl::Status tls = options.tls_flags.Check(); !tls.ok()) return tls;
  return options;
}

int InferCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<InferOptions> parsed = ParseInferArgs(args);
  if (!parsed.ok()) {
    err << "tessera infer: " << parsed.status().message() << "\nTry 'tessera infer --help'.\n";
    return kExitUsageError;
  }
  const InferOptions& options = *parsed;
  if (options.help) {
    out << InferUsage();
    return kExitOk;
  }
  const TlsOptions tls = options.tls();
  if (!tls.insecure) {
    if (absl::Status s = ValidateTlsFiles(tls.files); !s.ok()) return Fail(err, s);
  }
  grpc::ChannelArguments channel_arguments;
  channel_arguments.SetMaxReceiveMessageSize(kMaxMessageBytes);
  channel_arguments.SetMaxSendMessageSize(kMaxMessageBytes);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options.server, tls, channel_arguments);
  if (!channel.ok()) return Fail(err, channel.status());
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub = inference::GRPCInferenceService::NewStub(*channel);

  absl::StatusOr<inference::ModelInferRequest> request = BuildRequest(options, *stub, err);
  if (!request.ok()) return Fail(err, request.status());

  // Warm-up calls, then the timed ones over the same channel; the last
  // answer is the one reported.
  inference::ModelInferResponse response;
  std::vector<double> latencies;
  for (int64_t i = 0; i < options.warmup + options.iterations; ++i) {
    response.Clear();
    grpc::ClientContext context;
    SetDeadline(options, &context);
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status = stub->ModelInfer(&context, *request, &response);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!status.ok()) return Fail(err, CallError(status, "ModelInfer", options.tls_flags.insecure));
    if (i >= options.warmup) latencies.push_back(ms);
  }
  const LatencyStats stats = SummarizeLatencies(latencies);
  const double latency_ms = options.iterations == 1 ? latencies[0] : stats.p50;

  absl::StatusOr<std::vector<engine::NamedTensor>> outputs = coordinator::DecodeInferOutputs(response);
  if (!outputs.ok()) {
    return Fail(err, absl::Status(outputs.status().code(),
                                  absl::StrCat("malformed response: ", outputs.status().message())));
  }
  if (!options.output_dir.empty()) {
    if (absl::Status s = WriteOutputs(options.output_dir, *outputs); !s.ok()) return Fail(err, s);
  }
  out << (options.json ? JsonReport(response, *outputs, latency_ms) : TextReport(options, response, *outputs, latency_ms));
  if (options.iterations > 1 && !options.json) {
    out << absl::StrFormat("latency over %d calls (%d warm-up): min %.3f ms  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms\n",
                           options.iterations, options.warmup, stats.min, stats.p50, stats.p90, stats.p99);
  }
  out.flush();
  return kExitOk;
}

}  // namespace tessera::client
