#include "coordinator/status/cluster_status_report.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "coordinator/scheduler/deployment.h"

namespace tessera::coordinator {

status::GetStatusResponse BuildClusterStatus(const std::vector<CoordinatorBackend::ServedVersion>& models,
                                             const std::vector<WorkerPool::WorkerPtr>& workers,
                                             absl::string_view coordinator_version) {
  status::GetStatusResponse response;
  response.set_version(std::string(coordinator_version));

  std::vector<WorkerPool::WorkerPtr> sorted = workers;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a->address() < b->address(); });
  std::map<std::string, std::vector<std::string>> holders;  // partition id -> worker addresses
  uint32_t healthy = 0;
  for (const WorkerPool::WorkerPtr& worker : sorted) {
    status::WorkerStatus* out = response.add_workers();
    out->set_address(worker->address());
    out->set_tls_server_name(worker->tls_server_name());
    out->set_healthy(worker->healthy());
    healthy += worker->healthy() ? 1 : 0;
    if (const absl::Status failure = worker->last_failure(); !failure.ok()) {
      out->set_last_error(std::string(failure.message()));
    }
    out->set_in_flight(static_cast<uint32_t>(std::max(0, worker->in_flight())));
    const std::optional<worker::StatusResponse> last = worker->last_status();
    if (!last.has_value()) continue;
    out->set_memory_in_use_bytes(last->memory_in_use_bytes());
    out->set_memory_budget_bytes(last->memory_budget_bytes());
    out->set_samples_per_second(last->samples_per_second());
    out->set_utilization(last->utilization());
    out->set_executes_total(last->executes_total());
    out->set_executes_failed(last->executes_failed());
    out->set_cpu_cores(last->cpu_cores());
    out->set_worker_version(last->version());
    out->set_uptime_ms(last->uptime_ms());
    for (const worker::PartitionStatus& partition : last->partitions()) {
      status::LoadedPartition* loaded = out->add_partitions();
      loaded->set_partition_id(partition.partition_id());
      loaded->set_model_name(partition.model_name());
      loaded->set_model_version(partition.model_version());
      loaded->set_stage_index(partition.stage_index());
      loaded->set_stage_count(partition.stage_count());
      loaded->set_memory_bytes(partition.memory_bytes());
      loaded->set_execute_count(partition.execute_count());
      holders[partition.partition_id()].push_back(worker->address());
    }
  }

  for (const CoordinatorBackend::ServedVersion& served : models) {
    status::ModelStatus* model = response.add_models();
    model->set_name(served.name);
    model->set_version(absl::StrCat(served.version));
    model->set_ready(served.deployment != nullptr);
    if (served.deployment == nullptr) {
      model->set_reason(served.unavailable_reason);
      continue;
    }
    const Deployment& deployment = *served.deployment;
    status::ModelPlan* plan = model->mutable_plan();
    plan->set_strategy(StrategyName(deployment.strategy));
    plan->set_stages(static_cast<uint32_t>(deployment.stages.size()));
    plan->set_replicas(deployment.strategy == Strategy::kData ? healthy
                                                               : static_cast<uint32_t>(deployment.replicas));
    plan->set_micro_batch_size(deployment.micro_batch_size);
    plan->set_plan_source(served.plan_source);
    for (size_t s = 0; s < deployment.stages.size(); ++s) {
      const StagePartition& stage = deployment.stages[s];
      status::StagePlacement* placement = plan->add_stage_placements();
      placement->set_stage_index(static_cast<uint32_t>(s));
      placement->set_partition_id(stage.id);
      placement->set_partition_bytes(stage.onnx_bytes == nullptr ? 0 : stage.onnx_bytes->size());
      if (auto it = holders.find(stage.id); it != holders.end()) {
        for (const std::string& address : it->second) placement->add_workers(address);
      }
    }
  }
  return response;
}

}  // namespace tessera::coordinator
