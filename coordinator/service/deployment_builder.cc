#include "coordinator/service/deployment_builder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::coordinator {

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
  planner_options.measure_runs = choice->stages > 1 ? 2 : 0;
  absl::StatusOr<planner::PipelinePlan> plan = planner::PlanPipeline(model.model_bytes, planner_options);
  if (!plan.ok()) {
    return absl::Status(plan.status().code(), absl::StrCat(model.name, " version ", model.version,
                                                           ": planning ", choice->stages, " stages failed: ",
                                                           plan.status().message()));
  }
  auto deployment = std::make_shared<Deployment>();
  deployment->model_name = model.name;
  deployment->model_version = model.version_string();
  deployment->strategy = choice->strategy;
  deployment->replicas = choice->replicas;
  deployment->micro_batch_size = choice->micro_batch_size;
  switch (model.config.parallelism().forwarding()) {
    case inference::ModelParallelism::RELAY: deployment->forwarding = Forwarding::kRelay; break;
    case inference::ModelParallelism::DIRECT: deployment->forwarding = Forwarding::kDirect; break;
    default: deployment->forwarding = options.default_forwarding;
  }
  deployment->has_batch_axis = model.signature.max_batch_size > 0;
  for (const TensorSpec& input : model.signature.inputs) deployment->model_inputs.push_back(input.name);
  for (const TensorSpec& output : model.signature.outputs) deployment->model_outputs.push_back(output.name);
  const int count = static_cast<int>(plan->stages.size());
  for (planner::PlannedStage& planned : plan->stages) {
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

}  // namespace tessera::coordinator
