#include "client/run_command.h"

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/exit_codes.h"
#include "client/flag_argument.h"
#include "client/json_text.h"
#include "client/latency_stats.h"
#include "common/npy.h"

namespace tessera::client {
namespace {

using engine::Engine;
using engine::EngineOptions;
using engine::NamedTensor;
using engine::TensorInfo;

constexpr int kPreviewValues = 6;
// Random inputs larger than this are refused rather than risking the process.
constexpr int64_t kMaxRandomInputBytes = int64_t{16} << 30;

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::StatusOr<int> ParseCount(absl::string_view flag, absl::string_view value, int minimum) {
  int n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < minimum) {
    return Usage(absl::StrCat(flag, " expects an integer >= ", minimum, ", got '", value, "'"));
  }
  return n;
}

// Splits "NAME=VALUE" for --input / --random-input.
absl::StatusOr<std::pair<std::string, std::string>> SplitAssignment(absl::string_view flag,
                                                                    absl::string_view value,
                                                                    absl::string_view example) {
  const size_t eq = value.rfind('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return Usage(absl::StrCat(flag, " expects NAME=", example, ", got '", value, "'"));
  }
  return std::make_pair(std::string(value.substr(0, eq)), std::string(value.substr(eq + 1)));
}

bool IsDynamic(const Shape& shape) {
  for (int64_t d : shape) {
    if (d < 0) return true;
  }
  return false;
}

std::string DeclaredShape(const Shape& shape) {
  std::vector<std::string> dims;
  for (int64_t d : shape) dims.push_back(d < 0 ? "?" : absl::StrCat(d));
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

// Checks a given input against the model's declaration.
absl::Status CheckFitsDeclaration(const TensorInfo& info, DataType dtype, const Shape& shape,
                                  absl::string_view source) {
  if (dtype != info.dtype) {
    return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' expects ", DataTypeName(info.dtype),
                                                   " but ", source, " holds ", DataTypeName(dtype)));
  }
  // An empty declared shape is a scalar or an unknown rank (TensorInfo cannot
  // tell them apart); the engine checks those itself.
  if (info.shape.empty()) return absl::OkStatus();
  bool fits = shape.size() == info.shape.size();
  for (size_t i = 0; fits && i < info.shape.size(); ++i) {
    if (info.shape[i] >= 0 && info.shape[i] != shape[i]) fits = false;
  }
  if (!fits) {
    return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' expects shape ",
                                                   DeclaredShape(info.shape), " but ", source, " has shape ",
                                                   ShapeToString(shape)));
  }
  return absl::OkStatus();
}

std::string ModelInputList(const std::vector<TensorInfo>& inputs) {
  std::vector<std::string> parts;
  for (const TensorInfo& info : inputs) {
    parts.push_back(absl::StrCat(info.name, " ", DataTypeName(info.dtype), DeclaredShape(info.shape)));
  }
  return absl::StrJoin(parts, ", ");
}

const TensorInfo* FindInput(const std::vector<TensorInfo>& inputs, const std::string& name) {
  for (const TensorInfo& info : inputs) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

// Builds one tensor per model input, in the model's order.
absl::StatusOr<std::vector<NamedTensor>> PrepareInputs(const RunOptions& options, const Engine& engine,
                                                       std::ostream& err) {
  const std::vector<TensorInfo>& declared = engine.inputs();
  absl::flat_hash_map<std::string, Tensor> given;
  auto unknown = [&](const std::string& name) {
    return absl::InvalidArgumentError(absl::StrCat("the model has no input named '", name,
                                                   "'; its inputs are: ", ModelInputList(declared)));
  };
  for (const RunOptions::NpyInput& input : options.npy_inputs) {
    const TensorInfo* info = FindInput(declared, input.name);
    if (info == nullptr) return unknown(input.name);
    absl::StatusOr<Tensor> tensor = ReadNpyFile(input.path);
    if (!tensor.ok()) {
      return absl::Status(tensor.status().code(),
                          absl::StrCat("input '", input.name, "': ", tensor.status().message()));
    }
    if (absl::Status s = CheckFitsDeclaration(*info, tensor->dtype(), tensor->shape(), input.path); !s.ok()) {
      return s;
    }
    given[input.name] = *std::move(tensor);
  }
  std::mt19937_64 rng(options.seed);
  for (const RunOptions::RandomInput& input : options.random_inputs) {
    const TensorInfo* info = FindInput(declared, input.name);
    if (info == nullptr) return unknown(input.name);
    const std::string source = absl::StrCat("--random-input ", input.name);
    if (absl::Status s = CheckFitsDeclaration(*info, info->dtype, input.shape, source); !s.ok()) return s;
    if (absl::Status s = ValidateShape(input.shape, info->dtype, kMaxRandomInputBytes); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(source, ": ", s.message()));
    }
    given[input.name] = MakeRandomTensor(info->dtype, input.shape, options.distribution, rng);
  }
  std::vector<NamedTensor> inputs;
  for (const TensorInfo& info : declared) {
    auto it = given.find(info.name);
    if (it != given.end()) {
      inputs.push_back({info.name, it->second});
      continue;
    }
    if (IsDynamic(info.shape)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", info.name, "' has the dynamic shape ", DeclaredShape(info.shape),
          "; give it with --input ", info.name, "=FILE.npy or --random-input ", info.name, "=DIMS"));
    }
    err << "note: input '" << info.name << "' not given; using random " << DataTypeName(info.dtype) << " "
        << ShapeToString(info.shape) << "\n";
    inputs.push_back({info.name, MakeRandomTensor(info.dtype, info.shape, options.distribution, rng)});
  }
  return inputs;
}

std::string PreviewValues(const Tensor& tensor) {
  std::vector<std::string> values;
  const int64_t n = tensor.num_elements();
  const bool is_float = tensor.dtype() == DataType::kFloat32 || tensor.dtype() == DataType::kFloat64;
  for (int64_t i = 0; i < n && i < kPreviewValues; ++i) {
    values.push_back(is_float ? absl::StrFormat("%.6g", tensor.GetAsDouble(i))
                              : absl::StrCat(tensor.GetAsInt64(i)));
  }
  if (n > kPreviewValues) values.push_back(absl::StrCat("... (", n, " values)"));
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

absl::Status WriteOutputs(const std::string& directory, const std::vector<TensorInfo>& infos,
                          const std::vector<Tensor>& outputs) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create output directory '", directory, "': ", error.message()));
  }
  std::set<std::string> used;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string base = OutputFileName(infos[i].name);
    const std::string stem = base.substr(0, base.size() - 4);
    std::string file = base;
    // Two names can sanitize alike ("a/b", "a_b"): keep both.
    for (int suffix = 1; used.count(file) > 0; ++suffix) file = absl::StrCat(stem, "_", suffix, ".npy");
    used.insert(file);
    const std::string path = (std::filesystem::path(directory) / file).string();
    if (absl::Status s = WriteNpyFile(path, outputs[i]); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string JsonReport(const std::vector<TensorInfo>& infos, const std::vector<Tensor>& outputs,
                       const RunOptions& options, const LatencyStats& stats) {
  std::vector<std::string> entries;
  for (size_t i = 0; i < outputs.size(); ++i) {
    entries.push_back(absl::StrCat(JsonQuote(infos[i].name), ": {\"shape\": [",
                                   absl::StrJoin(outputs[i].shape(), ", "), "], \"dtype\": ",
                                   JsonQuote(DataTypeName(outputs[i].dtype())), "}"));
  }
  std::string json = absl::StrCat("{\"outputs\": {", absl::StrJoin(entries, ", "), "}");
  if (options.iterations > 0) {
    absl::StrAppend(&json, ", \"latency_ms\": {\"min\": ", JsonNumber(stats.min), ", \"p50\": ",
                    JsonNumber(stats.p50), ", \"p90\": ", JsonNumber(stats.p90), ", \"p99\": ",
                    JsonNumber(stats.p99), ", \"mean\": ", JsonNumber(stats.mean),
                    "}, \"iterations\": ", options.iterations);
  }
  absl::StrAppend(&json, "}\n");
  return json;
}

std::string TextReport(const std::vector<TensorInfo>& infos, const std::vector<Tensor>& outputs,
                       const RunOptions& options, const LatencyStats& stats, double load_ms) {
  std::string text = absl::StrFormat("model: %s (loaded in %.1f ms)\n", options.model_path, load_ms);
  absl::StrAppend(&text, "outputs:\n");
  for (size_t i = 0; i < outputs.size(); ++i) {
    absl::StrAppend(&text, "  ", infos[i].name, "  ", DataTypeName(outputs[i].dtype()), " ",
                    ShapeToString(outputs[i].shape()), "  ", PreviewValues(outputs[i]), "\n");
  }
  if (!options.output_dir.empty()) absl::StrAppend(&text, "outputs written to ", options.output_dir, "/\n");
  if (options.iterations > 0) {
    const std::string threads =
        options.threads == 0 ? std::string("all cores") : absl::StrCat(options.threads, " threads");
    absl::StrAppend(&text, absl::StrFormat("latency over %d iterations (%d warmup, %s): min %.3f ms  "
                                           "p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  mean %.3f ms\n",
                                           options.iterations, options.effective_warmup(), threads, stats.min,
                                           stats.p50, stats.p90, stats.p99, stats.mean));
  }
  return text;
}

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

int Fail(std::ostream& err, const absl::Status& status) {
  err << "tessera run: " << status.message() << "\n";
  return kExitRuntimeError;
}

}  // namespace

std::string RunUsage() {
  return R"(usage: tessera run --model M.onnx [--input NAME=FILE.npy]... [--random-input NAME=DIMS]...
                   [--output-dir DIR] [--threads N] [--iterations N] [--warmup N] [--json] [--profile] [--no-optimize]
                   [--seed N] [--random-dist uniform|normal]

Runs an ONNX model on the local Tessera engine.

  --model PATH            the .onnx file (required)
  --input NAME=FILE.npy   feed input NAME from a NumPy .npy file (repeatable); its
                          dtype must be the model's declared one
  --random-input NAME=DIMS
                          feed input NAME with random data of shape DIMS, e.g.
                          1x3x224x224 (repeatable); floats uniform in [-1,1) (or
                          normal with --random-dist normal), integers in [0,10)
                          Inputs given neither way are random-filled if their
                          shape is static (a note goes to stderr), else an error.
  --output-dir DIR        write each output to DIR/NAME.npy ('/' in names becomes '_')
  --threads N             intra-op threads (0 = all cores; default 0)
  --iterations N          time N runs and report min/p50/p90/p99/mean latency
  --warmup N              untimed runs first (default 1 with --iterations, else 0)
  --profile               print time per operator type to stderr after the runs
  --no-optimize           skip constant folding, fusion and layout passes (to measure them)
  --json                  print exactly one JSON object on stdout:
                          {"outputs": {NAME: {"shape": [..], "dtype": ".."}},
                           "latency_ms": {"min","p50","p90","p99","mean"}, "iterations": N}
                          (latency_ms and iterations only with --iterations)
  --seed N                seed for random inputs (default 0)
  --help                  this text

Exit status: 0 success, 1 runtime error (files, model, inputs, inference),
2 usage error (malformed command line).
)";
}

absl::StatusOr<RunOptions> ParseRunArgs(const std::vector<std::string>& args) {
  RunOptions options;
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
    if (flag == "--json") {
      if (has_value) return Usage("--json takes no value");
      options.json = true;
      continue;
    }
    if (flag == "--no-optimize") {
      if (has_value) return Usage("--no-optimize takes no value");
      options.optimize = false;
      continue;
    }
    if (flag == "--profile") {
      if (has_value) return Usage("--profile takes no value");
      options.profile = true;
      continue;
    }
    static const std::set<std::string> kValueFlags = {"--model",      "--input",   "--random-input", "--output-dir",
                                                      "--threads",    "--iterations", "--warmup",    "--seed",
                                                      "--random-dist"};
    if (kValueFlags.count(flag) == 0) return Usage(absl::StrCat("unknown flag '", flag, "'"));
    if (absl::Status taken = parsed->TakeValue(args, i); !taken.ok()) return taken;
    if (flag == "--model") {
      if (value.empty()) return Usage("--model needs a path");
      options.model_path = value;
    } else if (flag == "--input") {
      absl::StatusOr<std::pair<std::string, std::string>> parts = SplitAssignment(flag, value, "FILE.npy");
      if (!parts.ok()) return parts.status();
      if (parts->second.empty()) return Usage(absl::StrCat("--input ", parts->first, "= needs a file"));
      if (!named.insert(parts->first).second) return Usage(absl::StrCat("input '", parts->first, "' given twice"));
      options.npy_inputs.push_back({parts->first, parts->second});
    } else if (flag == "--random-input") {
      absl::StatusOr<std::pair<std::string, std::string>> parts = SplitAssignment(flag, value, "1x3x224x224");
      if (!parts.ok()) return parts.status();
      absl::StatusOr<Shape> shape = ParseShapeSpec(parts->second);
      if (!shape.ok()) return Usage(absl::StrCat("--random-input ", parts->first, ": ", shape.status().message()));
      if (!named.insert(parts->first).second) return Usage(absl::StrCat("input '", parts->first, "' given twice"));
      options.random_inputs.push_back({parts->first, *std::move(shape)});
    } else if (flag == "--output-dir") {
      if (value.empty()) return Usage("--output-dir needs a directory");
      options.output_dir = value;
    } else if (flag == "--threads") {
      absl::StatusOr<int> n = ParseCount(flag, value, 0);
      if (!n.ok()) return n.status();
      options.threads = *n;
    } else if (flag == "--iterations") {
      absl::StatusOr<int> n = ParseCount(flag, value, 1);
      if (!n.ok()) return n.status();
      options.iterations = *n;
    } else if (flag == "--warmup") {
      absl::StatusOr<int> n = ParseCount(flag, value, 0);
      if (!n.ok()) return n.status();
      options.warmup = *n;
    } else if (flag == "--seed") {
      if (!absl::SimpleAtoi(value, &options.seed)) {
        return Usage(absl::StrCat("--seed expects a non-negative integer, got '", value, "'"));
      }
    } else if (flag == "--random-dist") {
      if (value == "uniform") options.distribution = RandomDistribution::kUniform;
      else if (value == "normal") options.distribution = RandomDistribution::kNormal;
      else return Usage(absl::StrCat("--random-dist expects uniform or normal, got '", value, "'"));
    }
  }
  if (options.model_path.empty()) return Usage("--model is required");
  return options;
}

std::string OutputFileName(const std::string& output_name) {
  if (output_name.empty() || output_name == "." || output_name == "..") return "_.npy";
  std::string name;
  name.reserve(output_name.size() + 4);
  for (char c : output_name) name.push_back(c == '/' || c == '\\' ? '_' : c);
  name.append(".npy");
  return name;
}

int RunCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return RunCommand(args, out, err, [](const std::string& path, const EngineOptions& options) {
    return Engine::LoadFromFile(path, options);
  });
}

int RunCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
               const EngineLoader& load_engine) {
  absl::StatusOr<RunOptions> parsed = ParseRunArgs(args);
  if (!parsed.ok()) {
    err << "tessera run: " << parsed.status().message() << "\nTry 'tessera run --help'.\n";
    return kExitUsageError;
  }
  const RunOptions& options = *parsed;
  if (options.help) {
    out << RunUsage();
    return kExitOk;
  }

  std::error_code error;
  if (!std::filesystem::is_regular_file(options.model_path, error)) {
    return Fail(err, absl::NotFoundError(absl::StrCat("cannot open model '", options.model_path,
                                                      "': no such file")));
  }
  EngineOptions engine_options;
  engine_options.intra_op_threads = options.threads;
  engine_options.profile = options.profile;
  engine_options.optimize = options.optimize;
  const auto load_start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<Engine>> engine = load_engine(options.model_path, engine_options);
  if (!engine.ok()) {
    return Fail(err, absl::Status(engine.status().code(), absl::StrCat("cannot load model '", options.model_path,
                                                                       "': ", engine.status().message())));
  }
  const double load_ms = MillisecondsSince(load_start);

  absl::StatusOr<std::vector<NamedTensor>> inputs = PrepareInputs(options, **engine, err);
  if (!inputs.ok()) return Fail(err, inputs.status());

  std::vector<Tensor> outputs;
  auto run_once = [&]() -> absl::Status {
    absl::StatusOr<std::vector<Tensor>> result = (*engine)->Run(*inputs);
    if (!result.ok()) {
      return absl::Status(result.status().code(), absl::StrCat("inference failed: ", result.status().message()));
    }
    outputs = *std::move(result);
    return absl::OkStatus();
  };
  for (int i = 0; i < options.effective_warmup(); ++i) {
    if (absl::Status s = run_once(); !s.ok()) return Fail(err, s);
  }
  std::vector<double> latencies;
  if (options.iterations > 0) {
    for (int i = 0; i < options.iterations; ++i) {
      const auto start = std::chrono::steady_clock::now();
      if (absl::Status s = run_once(); !s.ok()) return Fail(err, s);
      latencies.push_back(MillisecondsSince(start));
    }
  } else if (absl::Status s = run_once(); !s.ok()) {
    return Fail(err, s);
  }
  const std::vector<TensorInfo>& output_infos = (*engine)->outputs();
  if (outputs.size() != output_infos.size()) {
    return Fail(err, absl::InternalError(absl::StrCat("the engine returned ", outputs.size(),
                                                      " outputs for a model declaring ", output_infos.size())));
  }
  if (!options.output_dir.empty()) {
    if (absl::Status s = WriteOutputs(options.output_dir, output_infos, outputs); !s.ok()) return Fail(err, s);
  }
  const LatencyStats stats = SummarizeLatencies(latencies);
  out << (options.json ? JsonReport(output_infos, outputs, options, stats)
                       : TextReport(output_infos, outputs, options, stats, load_ms));
  out.flush();
  if (options.profile) {
    err << "time per operator type over all timed and warm-up runs (the first run, which plans, is not timed):\n";
    for (const engine::OpProfile& p : (*engine)->Profile()) {
      err << absl::StrFormat("  %-28s %8d calls %12.3f ms\n", p.op_type, p.calls, p.total_ms);
    }
  }
  return kExitOk;
}

}  // namespace tessera::client
