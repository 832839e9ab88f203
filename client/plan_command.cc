#include "client/plan_command.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/exit_codes.h"
#include "client/flag_argument.h"
#include "coordinator/service/deployment_builder.h"
#include "client/json_text.h"

namespace tessera::client {
namespace {

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::StatusOr<int64_t> ParseInt(absl::string_view flag, absl::string_view value, int64_t minimum) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < minimum) {
    return Usage(absl::StrCat(flag, " expects an integer >= ", minimum, ", got '", value, "'"));
  }
  return n;
}

int Fail(std::ostream& err, const absl::Status& status) {
  err << "tessera plan: " << status.message() << "\n";
  return kExitRuntimeError;
}

std::string Source(int stage) { return stage == planner::kFromRequest ? JsonQuote("request") : absl::StrCat(stage); }

std::string PlanToJson(const planner::PipelinePlan& plan) {
  std::vector<std::string> stages;
  for (const auto& s : plan.stages) {
    std::vector<std::string> nodes, ops, inputs, outputs;
    for (const auto& n : s.node_names) nodes.push_back(JsonQuote(n));
    for (const auto& o : s.op_types) ops.push_back(JsonQuote(o));
    for (const auto& in : s.inputs) {
      inputs.push_back(absl::StrCat("{\"name\": ", JsonQuote(in.name), ", \"source\": ", Source(in.source_stage),
                                    ", \"bytes\": ", in.bytes, "}"));
    }
    for (const auto& o : s.outputs) {
      outputs.push_back(absl::StrCat("{\"name\": ", JsonQuote(o.name), ", \"bytes\": ", o.bytes, "}"));
    }
    stages.push_back(absl::StrCat(
        "{\"index\": ", s.index, ", \"id\": ", JsonQuote(s.content_id), ", \"nodes\": [", absl::StrJoin(nodes, ", "),
        "], \"ops\": [", absl::StrJoin(ops, ", "), "], \"cost_ms\": ", JsonNumber(s.cost_ms),
        ", \"estimated_ms\": ", JsonNumber(s.estimated_ms),
        ", \"measured_ms\": ", s.measured_ms.has_value() ? JsonNumber(*s.measured_ms) : "null",
        ", \"flops\": ", JsonNumber(s.flops), ", \"bytes_in\": ", s.bytes_in, ", \"bytes_out\": ", s.bytes_out,
        ", \"inputs\": [", absl::StrJoin(inputs, ", "), "], \"outputs\": [", absl::StrJoin(outputs, ", "), "]}"));
  }
  std::vector<std::string> outputs;
  for (const auto& o : plan.outputs) {
    outputs.push_back(absl::StrCat("{\"name\": ", JsonQuote(o.name), ", \"source\": ", Source(o.source_stage), "}"));
  }
  return absl::StrCat("{\"stages\": [", absl::StrJoin(stages, ", "), "], \"cut_bytes\": [",
                      absl::StrJoin(plan.cut_bytes, ", "), "], \"outputs\": [", absl::StrJoin(outputs, ", "),
                      "], \"max_stage_ms\": ", JsonNumber(plan.MaxStageCost()),
                      ", \"mean_stage_ms\": ", JsonNumber(plan.MeanStageCost()), "}\n");
}

}  // namespace

std::string PlanUsage() {
  return R"(usage: tessera plan --model M.onnx --stages K [options]
       tessera plan --model M.onnx --workers N [--strategy S] [--worker-memory-mb M] [options]

Cuts the model (as the engine optimizes it) into K consecutive pipeline stages
that balance cost and keep the bytes crossing each cut small, and prints them.
With --workers, first chooses the strategy and stage count the coordinator
would for a cluster of N workers (as the model's config.pbtxt `parallelism`
block would ask: --strategy AUTO picks from the model's size against the
workers' memory budget and their number) and prints that choice.

options:
  --model PATH          ONNX model (required)
  --stages K            number of stages (>= 1; required without --workers;
                        with it, 0 or absent lets the strategy choose)
  --workers N           size of the cluster to plan for
  --strategy S          AUTO (default), DATA, PIPELINE or HYBRID (with --workers)
  --replicas R          replicas per stage for HYBRID/DATA (0: choose)
  --micro-batch N       micro-batch size the plan reports (0: none)
  --worker-memory-mb M  each worker's partition budget (0: unbounded)
  --batch N             sample batch for dynamic dimension 0 (default 1)
  --dim NAME=VALUE      sample value of a named dynamic dimension (repeatable)
  --other-dim N         sample value of other dynamic dimensions (default 16)
  --threads N           engine threads; 0 = all cores (default 0)
  --measure-runs N      traced runs for measured node times; 0 = plan on the
                        FLOP/byte estimate only (default 3)
  --output-dir DIR      write each stage model as DIR/stage<i>.onnx
  --json                one JSON object on stdout
)";
}

absl::StatusOr<PlanOptions> ParsePlanArgs(const std::vector<std::string>& args) {
  PlanOptions options;
  bool has_stages = false;
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
    static const std::set<std::string> kValueFlags = {
        "--model",      "--stages",      "--batch",    "--dim",        "--other-dim",       "--threads",
        "--measure-runs", "--output-dir", "--workers", "--strategy",   "--worker-memory-mb", "--replicas",
        "--micro-batch"};
    if (kValueFlags.count(flag) == 0) return Usage(absl::StrCat("unknown flag '", flag, "'"));
    if (absl::Status taken = parsed->TakeValue(args, i); !taken.ok()) return taken;
    if (flag == "--model") {
      if (value.empty()) return Usage("--model needs a path");
      options.model_path = value;
    } else if (flag == "--stages") {
      absl::StatusOr<int64_t> n = ParseInt(flag, value, 0);
      if (!n.ok()) return n.status();
      if (*n > 1 << 20) return Usage("--stages is too large");
      options.planner.stages = static_cast<int>(*n);
      options.parallelism.set_stages(static_cast<uint32_t>(*n));
      has_stages = *n > 0;
    } else if (flag == "--workers") {
      absl::StatusOr<int64_t> n = ParseInt(flag, value, 1);
      if (!n.ok()) return n.status();
      options.workers = static_cast<int>(std::min<int64_t>(*n, 1 << 16));
      options.choose_strategy = true;
    } else if (flag == "--strategy") {
      inference::ModelParallelism::Strategy strategy;
      if (!inference::ModelParallelism::Strategy_Parse(value, &strategy)) {
        return Usage(absl::StrCat("--strategy expects AUTO, DATA, PIPELINE or HYBRID, got '", value, "'"));
      }
      options.parallelism.set_strategy(strategy);
    } else if (flag == "--replicas") {
      absl::StatusOr<int64_t> n = ParseInt(flag, value, 0);
      if (!n.ok()) return n.status();
      options.parallelism.set_replicas(static_cast<uint32_t>(std::min<int64_t>(*n, 1 << 16)));
    } else if (flag == "--micro-batch") {
      absl::StatusOr<int64_t> n = ParseInt(flag, value, 0);
      if (!n.ok()) return n.status();
      options.parallelism.set_micro_batch_size(static_cast<uint32_t>(std::min<int64_t>(*n, 1 << 30)));
    } else if (flag == "--worker-memory-mb") {
      absl::StatusOr<int64_t> n = ParseInt(flag, value, 0);
      if (!n.ok()) return n.status();
      options.worker_memory_bytes = static_cast<uint64_t>(std::min<int64_t>(*n, int64_t{1} << 40)) << 20;
    } else if (flag == "--batch") {
      absl::StatusOr<int64_t> n = ParseInt(flag, value, 1);
      if (!n.ok()) return n.status();
      options.planner.batch = *n;
    } else if (flag == "--other-dim") {
      absl::StatusOr<int64_t> n = ParseInt(flag, value, 1);
      if (!n.ok()) return n.status();
      options.planner.other_dim = *n;
    } else if (flag == "--dim") {
      const size_t eq = value.rfind('=');
      if (eq == std::string::npos || eq == 0) return Usage(absl::StrCat("--dim expects NAME=VALUE, got '", value, "'"));
      absl::StatusOr<int64_t> n = ParseInt("--dim", value.substr(eq + 1), 1);
      if (!n.ok()) return n.status();
      options.planner.dims[value.substr(0, eq)] = *n;
    } else if (flag == "--threads") {
      absl::StatusOr<int64_t> n = ParseInt(flag, value, 0);
      if (!n.ok()) return n.status();
      options.planner.threads = static_cast<int>(std::min<int64_t>(*n, 1024));
    } else if (flag == "--measure-runs") {
      absl::StatusOr<int64_t> n = ParseInt(flag, value, 0);
      if (!n.ok()) return n.status();
      options.planner.measure_runs = static_cast<int>(std::min<int64_t>(*n, 1000));
    } else if (flag == "--output-dir") {
      if (value.empty()) return Usage("--output-dir needs a directory");
      options.output_dir = value;
    }
  }
  if (options.model_path.empty()) return Usage("--model is required");
  if (!has_stages && !options.choose_strategy) return Usage("--stages is required (or --workers)");
  return options;
}

int PlanCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<PlanOptions> parsed = ParsePlanArgs(args);
  if (!parsed.ok()) {
    err << "tessera plan: " << parsed.status().message() << "\nTry 'tessera plan --help'.\n";
    return kExitUsageError;
  }
  const PlanOptions& options = *parsed;
  if (options.help) {
    out << PlanUsage();
    return kExitOk;
  }
  std::ifstream file(options.model_path, std::ios::binary);
  std::error_code error;
  if (!file || !std::filesystem::is_regular_file(options.model_path, error)) {
    return Fail(err, absl::NotFoundError(absl::StrCat("cannot open model '", options.model_path, "'")));
  }
  std::stringstream buffer;
  buffer << file.rdbuf();
  const std::string model_bytes = buffer.str();  // one copy of the model; str() copies on every call
  planner::PlannerOptions planner_options = options.planner;
  std::string choice_text, choice_json;
  if (options.choose_strategy) {
    absl::StatusOr<coordinator::StrategyChoice> choice = coordinator::ChooseStrategy(
        options.parallelism, model_bytes.size(),
        {.workers = options.workers, .worker_memory_bytes = options.worker_memory_bytes});
    if (!choice.ok()) return Fail(err, choice.status());
    planner_options.stages = choice->stages;
    choice_text = absl::StrCat("strategy: ", coordinator::StrategyName(choice->strategy), ", ", choice->stages,
                               " stage(s) x ", choice->replicas, " replica(s) on ", options.workers, " workers",
                               choice->micro_batch_size > 0 ? absl::StrCat(", micro-batches of ", choice->micro_batch_size)
                                                            : std::string(),
                               "\n  why: ", choice->reason, "\n\n");
    choice_json = absl::StrCat("\"strategy\": {\"name\": ", JsonQuote(coordinator::StrategyName(choice->strategy)),
                               ", \"stages\": ", choice->stages, ", \"replicas\": ", choice->replicas,
                               ", \"micro_batch_size\": ", choice->micro_batch_size,
                               ", \"reason\": ", JsonQuote(choice->reason), "}, ");
  }
  absl::StatusOr<planner::PipelinePlan> plan = planner::PlanPipeline(model_bytes, planner_options);
  if (!plan.ok()) {
    return Fail(err, absl::Status(plan.status().code(), absl::StrCat("cannot plan '", options.model_path,
                                                                     "': ", plan.status().message())));
  }
  if (!options.output_dir.empty()) {
    std::filesystem::create_directories(options.output_dir, error);
    for (const auto& stage : plan->stages) {
      const std::string path = (std::filesystem::path(options.output_dir) / absl::StrCat("stage", stage.index, ".onnx")).string();
      std::ofstream f(path, std::ios::binary);
      f << stage.model;
      if (!f) return Fail(err, absl::InternalError(absl::StrCat("cannot write '", path, "'")));
    }
  }
  if (options.json) {
    std::string json = PlanToJson(*plan);
    if (!choice_json.empty()) json.insert(1, choice_json);
    out << json;
  } else {
    out << choice_text << planner::PlanToText(*plan);
  }
  return kExitOk;
}

}  // namespace tessera::client
