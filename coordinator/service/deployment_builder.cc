#include "coordinator/service/deployment_builder.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tessera::coordinator {

namespace {

// The Deployment of `plan`'s stages.
std::shared_ptr<const Deployment> MakeDeployment(const LoadedModelVersion& model, Strategy strategy, int replicas,
                                                 int64_t micro_batch_size, planner::PipelinePlan plan,
                                                 const DeploymentOptions& options) {
  auto deployment = std::make_shared<Deployment>();
  deployment->model_name = model.name;
  deployment->model_version = model.version_string();
  deployment->strategy = strategy;
  deployment->replicas = replicas;
  deployment->micro_batch_size = micro_batch_size;
  switch (model.config.parallelism().forwarding()) {
    case inference::ModelParallelism::RELAY: deployment->forwarding = Forwarding::kRelay; break;
    case inference::ModelParallelism::DIRECT: deployment->forwarding = Forwarding::kDirect; break;
    default: deployment->forwarding = options.default_forwarding;
  }
  deployment->has_batch_axis = model.signature.max_batch_size > 0;
  for (const TensorSpec& input : model.signature.inputs) deployment->model_inputs.push_back(input.name);
  for (const TensorSpec& output : model.signature.outputs) deployment->model_outputs.push_back(output.name);
  const int count = static_cast<int>(plan.stages.size());
  for (planner::PlannedStage& planned : plan.stages) {
    StagePartition stage;
    stage.id = planned.content_id;
    stage.onnx_bytes = std::make_shared<const std::string>(std::move(planned.model));
    stage.header.set_partition_id(stage.id);
    stage.header.set_total_bytes(stage.onnx_bytes->size());
    stage.header.set_model_name(model.name);
    stage.header.set_model_version(deployment->model_version);
    stage.header.set_stage_index(planned.index);
    stage.header.set_stage_count(count);
    stage.header.set_intra_op_threads(options.engine_threads > 0 ? options.engine_threads : 0);
    for (const planner::TensorRoute& route : planned.inputs) stage.inputs.push_back(route.name);
    for (const planner::TensorRoute& route : planned.outputs) stage.outputs.push_back(route.name);
    deployment->stages.push_back(std::move(stage));
  }
  return std::shared_ptr<const Deployment>(std::move(deployment));
}

}  // namespace

absl::StatusOr<StrategyChoice> ChooseStrategy(const inference::ModelParallelism& parallelism, uint64_t model_bytes,
                                              const ClusterShape& cluster) {
  StrategyChoice choice;
  choice.micro_batch_size = parallelism.micro_batch_size();
  const int workers = std::max(cluster.workers, 0);
  const int stages = static_cast<int>(parallelism.stages());
  const int replicas = static_cast<int>(parallelism.replicas());
  switch (parallelism.strategy()) {
    case inference::ModelParallelism::DATA:
      choice.strategy = Strategy::kData;
      choice.reason = "parallelism DATA";
      break;
    case inference::ModelParallelism::PIPELINE:
      choice.strategy = Strategy::kPipeline;
      choice.stages = stages > 0 ? stages : std::max(workers, 1);
      choice.reason = stages > 0 ? "parallelism PIPELINE" : "parallelism PIPELINE, one stage per worker";
      break;
    case inference::ModelParallelism::HYBRID:
      choice.strategy = Strategy::kHybrid;
      choice.stages = stages > 0 ? stages : 2;
      choice.replicas = replicas > 0 ? replicas : std::max(1, workers / choice.stages);
      choice.reason = "parallelism HYBRID";
      break;
    default: {  // AUTO
      const uint64_t budget = cluster.worker_memory_bytes;
      if (budget == 0 || model_bytes <= budget) {
        choice.strategy = Strategy::kData;
        choice.reason = budget == 0 ? "AUTO: the workers set no memory budget, so every worker holds the model"
                                    : absl::StrCat("AUTO: the model (", model_bytes,
                                                   " bytes) fits one worker's budget (", budget, " bytes)");
        break;
      }
      // Stage sizes are balanced on cost, not bytes; leave a quarter of
      // headroom so the largest partition still fits.
      const uint64_t usable = budget - budget / 4;
      choice.stages = static_cast<int>((model_bytes + usable - 1) / usable);
      choice.replicas = workers / choice.stages >= 2 ? workers / choice.stages : 1;
      choice.strategy = choice.replicas >= 2 ? Strategy::kHybrid : Strategy::kPipeline;
      choice.reason = absl::StrCat("AUTO: the model (", model_bytes, " bytes) exceeds one worker's budget (", budget,
                                   " bytes): ", choice.stages, " stages", choice.replicas >= 2 ? " x " : "",
                                   choice.replicas >= 2 ? absl::StrCat(choice.replicas, " replicas") : "");
    }
  }
  const int needed = choice.strategy == Strategy::kData ? 1 : choice.stages * choice.replicas;
  if (workers < needed) {
    return absl::FailedPreconditionError(absl::StrCat(StrategyName(choice.strategy), " with ", choice.stages,
                                                      " stages x ", choice.replicas, " replicas needs ", needed,
                                                      " workers; ", workers, " are available (", choice.reason, ")"));
  }
  if (choice.strategy == Strategy::kData) {
    choice.stages = 1;
    choice.replicas = replicas > 0 ? std::min(replicas, workers) : workers;
  }
  return choice;
}

absl::StatusOr<std::shared_ptr<const Deployment>> BuildDeployment(const LoadedModelVersion& model,
                                                                  const ClusterShape& cluster,
                                                                  const DeploymentOptions& options) {
  absl::StatusOr<StrategyChoice> choice =
      ChooseStrategy(model.config.parallelism(), model.model_bytes.size(), cluster);
  if (!choice.ok()) {
    return absl::Status(choice.status().code(),
                        absl::StrCat(model.name, " version ", model.version, ": ", choice.status().message()));
  }
  planner::PlannerOptions planner_options;
  planner_options.stages = choice->stages;
  planner_options.threads = options.engine_threads;
  planner_options.measure_runs = choice->stages > 1 ? options.planning_runs : 0;
  absl::StatusOr<planner::PipelinePlan> plan = planner::PlanPipeline(model.model_bytes, planner_options);
  if (!plan.ok()) {
    return absl::Status(plan.status().code(), absl::StrCat(model.name, " version ", model.version,
                                                           ": planning ", choice->stages, " stages failed: ",
                                                           plan.status().message()));
  }
  return MakeDeployment(model, choice->strategy, choice->replicas, choice->micro_batch_size, *std::move(plan),
                        options);
}

namespace {

double Max(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

}  // namespace

absl::StatusOr<ReplanResult> ReplanDeployment(const LoadedModelVersion& model, const Deployment& current,
                                              const DeploymentOptions& options, const StageProfiler& profiler,
                                              const ReplanOptions& replan,
                                              const std::function<bool()>& cancelled) {
  const int stages = static_cast<int>(current.stages.size());
  if (current.strategy == Strategy::kData || stages < 2) {
    return absl::FailedPreconditionError("only pipelines of two or more stages are re-planned");
  }
  if (!profiler) return absl::FailedPreconditionError("no stage profiler");
  const absl::Time deadline = absl::Now() + replan.timeout;
  planner::PlannerOptions planner_options;
  planner_options.stages = stages;
  planner_options.threads = options.engine_threads;
  planner_options.measure_runs = 0;  // shapes only: the costs come from the workers
  absl::StatusOr<planner::PreparedModel> prepared = planner::PrepareModel(model.model_bytes, planner_options);
  if (!prepared.ok()) return prepared.status();
  const auto& graph = prepared->optimized.graph();

  // Profile every stage and lay its node times onto the optimized graph.
  ReplanResult result;
  std::vector<int> bounds = {0};
  std::vector<double> links;
  for (int s = 0; s < stages; ++s) {
    worker::ProfileRequest request;
    request.set_partition_id(current.stages[s].id);
    request.set_runs(static_cast<uint32_t>(std::clamp(replan.runs, 1, 20)));
    for (const std::string& input : current.stages[s].inputs) {
      auto it = prepared->tensors.find(input);
      if (it == prepared->tensors.end()) continue;  // the worker binds it
      worker::ProfileInputShape* shape = request.add_inputs();
      shape->set_name(input);
      for (int64_t d : it->second.shape) shape->add_shape(d);
    }
    if (cancelled && cancelled()) return absl::CancelledError("re-planning was cancelled");
    absl::StatusOr<StageMeasurement> measured = profiler(current, s, request, deadline, cancelled);
    if (!measured.ok()) {
      return absl::Status(measured.status().code(),
                          absl::StrCat("stage ", s, ": ", measured.status().message()));
    }
    result.workers.push_back(measured->worker);
    if (measured->link_bytes_per_ms.has_value() && *measured->link_bytes_per_ms > 0) {
      links.push_back(*measured->link_bytes_per_ms);
    }
    const int first = bounds.back();
    for (int i = 0; i < measured->profile.nodes_size(); ++i) {
      const worker::NodeTime& node = measured->profile.nodes(i);
      if (first + i >= graph.node_size() || graph.node(first + i).name() != node.name()) {
        return absl::InternalError(absl::StrCat(
            "stage ", s, " node ", i, " is '", node.name(), "', the optimized graph has '",
            first + i < graph.node_size() ? graph.node(first + i).name() : std::string("(none)"), "' there"));
      }
      if (!(node.ms() >= 0) || !std::isfinite(node.ms())) {
        return absl::InternalError(absl::StrCat("stage ", s, " node '", node.name(), "' has time ", node.ms()));
      }
      planner::NodeCost& cost = prepared->costs[first + i];
      cost.measured_ms = node.ms();
      cost.cost_ms = node.ms();
    }
    if (measured->profile.nodes_size() == 0) {
      return absl::InternalError(absl::StrCat("stage ", s, " was profiled with no nodes"));
    }
    bounds.push_back(first + measured->profile.nodes_size());
  }
  if (bounds.back() != graph.node_size()) {
    return absl::InternalError(absl::StrCat("the stages hold ", bounds.back(), " nodes, the optimized graph ",
                                            graph.node_size()));
  }
  prepared->measured = true;
  if (!links.empty()) {
    std::sort(links.begin(), links.end());
    const size_t mid = links.size() / 2;
    result.link_bytes_per_ms = links.size() % 2 == 1 ? links[mid] : (links[mid - 1] + links[mid]) / 2;
    result.link_measured = true;
    planner_options.link_bytes_per_ms = result.link_bytes_per_ms;
  } else {
    result.link_bytes_per_ms = planner_options.link_bytes_per_ms;
  }

  absl::StatusOr<planner::Partition> before = planner::EvaluateBounds(*prepared, bounds, planner_options);
  if (!before.ok()) return before.status();
  absl::StatusOr<planner::PipelinePlan> plan = planner::PlanPrepared(*prepared, planner_options);
  if (!plan.ok()) return plan.status();
  const std::vector<int> new_bounds = planner::PlanBounds(*plan);
  absl::StatusOr<planner::Partition> after = planner::EvaluateBounds(*prepared, new_bounds, planner_options);
  if (!after.ok()) return after.status();
  result.current_max_ms = Max(before->stage_cost);
  result.current_mean_ms = Mean(before->stage_cost);
  result.new_max_ms = Max(after->stage_cost);
  result.new_mean_ms = Mean(after->stage_cost);
  const bool better = new_bounds != bounds &&
                      result.new_max_ms < result.current_max_ms * (1 - replan.min_improvement) &&
                      result.current_max_ms - result.new_max_ms > replan.min_improvement_ms;
  result.summary = absl::StrFormat(
      "%s version %d: measured on %s; link %.0f bytes/ms (%s); current cut max %.3f ms mean %.3f ms, "
      "re-planned cut max %.3f ms mean %.3f ms: %s",
      model.name, model.version, absl::StrJoin(result.workers, ", "), result.link_bytes_per_ms,
      result.link_measured ? "median of measured links" : "not measured, planner default", result.current_max_ms,
      result.current_mean_ms, result.new_max_ms, result.new_mean_ms,
      better ? "redeploying with the new cut"
             : absl::StrFormat("keeping the current cut (needs a max more than %.0f%% and %.2f ms lower)",
                               replan.min_improvement * 100, replan.min_improvement_ms));
  if (better) {
    result.deployment = MakeDeployment(model, current.strategy, current.replicas, current.micro_batch_size,
                                       *std::move(plan), options);
  }
  return result;
}

}  // namespace tessera::coordinator
