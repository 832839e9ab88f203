// `tessera run`: load an ONNX model into the local engine, run it on inputs
// from .npy files or random data, and report outputs and latency.
//
//   tessera run --model M.onnx [--input NAME=FILE.npy]... [--random-input NAME=1x3x224x224]...
//               [--output-dir DIR] [--threads N] [--iterations N] [--warmup N] [--json]
//               [--seed N] [--random-dist uniform|normal]
//
// Model inputs given neither way are random-filled when their shape is fully
// static (with a note on stderr) and an error otherwise. With --json, stdout
// carries exactly one JSON object:
//   {"outputs": {NAME: {"shape": [...], "dtype": "float32"}},
//    "latency_ms": {"min":..,"p50":..,"p90":..,"p99":..,"mean":..}, "iterations": N}
// where latency_ms and iterations appear only with --iterations. Diagnostics
// always go to stderr. Exit codes: client/exit_codes.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/random_tensor.h"
#include "common/tensor.h"
#include "worker/engine/engine.h"

namespace tessera::client {

struct RunOptions {
  struct NpyInput {
    std::string name;
    std::string path;
  };
  struct RandomInput {
    std::string name;
    Shape shape;
  };

  std::string model_path;
  std::vector<NpyInput> npy_inputs;
  std::vector<RandomInput> random_inputs;
  std::string output_dir;  // empty: outputs are not written
  int threads = 0;         // EngineOptions::intra_op_threads; 0 = all cores
  int iterations = 0;      // timed runs; 0 = one untimed run, no latency report
  int warmup = -1;         // untimed runs first; -1 = 1 with iterations, else 0
  bool json = false;
  bool optimize = true;    // EngineOptions::optimize
  bool profile = false;    // EngineOptions::profile; per-op times on stderr
  bool help = false;
  uint64_t seed = 0;
  RandomDistribution distribution = RandomDistribution::kUniform;

  int effective_warmup() const { return warmup >= 0 ? warmup : (iterations > 0 ? 1 : 0); }
};

// Parses the arguments after "run". InvalidArgument describes a usage error.
// Accepts "--flag value" and "--flag=value".
absl::StatusOr<RunOptions> ParseRunArgs(const std::vector<std::string>& args);

// The --help text.
std::string RunUsage();

// Loads a model; the seam lets tests substitute a fake engine.
using EngineLoader = std::function<absl::StatusOr<std::unique_ptr<engine::Engine>>(
    const std::string& path, const engine::EngineOptions& options)>;

// Runs the subcommand with `args` (after "run"), writing results to `out` and
// diagnostics to `err`; returns the process exit code. The first form loads
// with engine::Engine::LoadFromFile.
int RunCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
               const EngineLoader& load_engine);

// The file name `tessera run --output-dir` uses for an output: the name with
// '/' and '\' replaced by '_' ("_" for an empty name, "." or ".."), plus ".npy".
std::string OutputFileName(const std::string& output_name);

}  // namespace tessera::client
