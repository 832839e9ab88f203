// `tessera plan`: cut an ONNX model into pipeline stages with the
// coordinator's stage planner and print them.
//
//   tessera plan --model M.onnx --stages K [--batch N] [--dim NAME=VALUE]...
//                [--threads N] [--measure-runs N] [--output-dir DIR] [--json]
//
// Text output: per stage its nodes, estimated (and measured) cost, inputs
// with their sources, outputs, content id; per cut the bytes crossing it.
// --output-dir writes each stage model as stage<i>.onnx. With --json,
// stdout carries exactly one JSON object:
//   {"stages": [{"index": 0, "id": "...", "nodes": [...], "ops": [...],
//                "cost_ms":.., "estimated_ms":.., "measured_ms":.., "flops":..,
//                "bytes_in":.., "bytes_out":..,
//                "inputs": [{"name":.., "source": "request"|STAGE, "bytes":..}],
//                "outputs": [{"name":.., "bytes":..}]}],
//    "cut_bytes": [...], "outputs": [{"name":.., "source":..}],
//    "max_stage_ms":.., "mean_stage_ms":..}
// Exit codes: client/exit_codes.h.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/planner/stage_planner.h"
#include "proto/model_config.pb.h"

namespace tessera::client {

struct PlanOptions {
  std::string model_path;
  planner::PlannerOptions planner;
  // With --workers: choose the strategy as the coordinator would
  // (coordinator/service/deployment_builder.h) and plan its stage count.
  bool choose_strategy = false;
  inference::ModelParallelism parallelism;  // --strategy, --stages, --replicas, --micro-batch
  int workers = 0;
  uint64_t worker_memory_bytes = 0;  // --worker-memory-mb; 0: no budget
  std::string output_dir;  // empty: stage models are not written
  bool json = false;
  bool help = false;
};

// Parses the arguments after "plan". InvalidArgument describes a usage error.
absl::StatusOr<PlanOptions> ParsePlanArgs(const std::vector<std::string>& args);

// The --help text.
std::string PlanUsage();

// Runs the subcommand with `args` (after "plan"); returns the exit code.
int PlanCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::client
