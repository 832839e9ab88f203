#include "coordinator/service/coordinator_metrics.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "prometheus/counter.h"

namespace tessera::coordinator {

CoordinatorMetrics::CoordinatorMetrics(prometheus::Registry* registry) : registry_(registry) { Register(); }

CoordinatorMetrics::CoordinatorMetrics()
    : owned_registry_(std::make_shared<prometheus::Registry>()), registry_(owned_registry_.get()) {
  Register();
}

void CoordinatorMetrics::Register() {
  prometheus::Registry& r = *registry_;
  requests_ = &prometheus::BuildCounter()
                   .Name("tessera_requests_total")
                   .Help("Inference requests finished, by model, version, outcome and reason (gRPC status code name)")
                   .Register(r);
  request_seconds_ = &prometheus::BuildHistogram()
                          .Name("tessera_request_duration_seconds")
                          .Help("Inference request latency on the coordinator, arrival to answer")
                          .Register(r);
  batch_size_ = &prometheus::BuildHistogram()
                     .Name("tessera_request_batch_size")
                     .Help("Samples (batch rows) per inference request")
                     .Register(r);
  in_flight_ = &prometheus::BuildGauge()
                    .Name("tessera_requests_in_flight")
                    .Help("Inference requests being answered")
                    .Register(r);
  stage_compute_seconds_ = &prometheus::BuildHistogram()
                                .Name("tessera_stage_compute_duration_seconds")
                                .Help("Engine time of one piece of a stage, as its worker measured it")
                                .Register(r);
  stage_queue_seconds_ = &prometheus::BuildHistogram()
                              .Name("tessera_stage_queue_duration_seconds")
                              .Help("Time a piece of a stage waited before running: for its turn at the stage in the coordinator "
                                    "(pipelines), then for an execution slot on its worker")
                              .Register(r);
  unknown_.emplace(requests_, prometheus::Labels{{"model", ""}, {"version", ""}});

  cluster_.retries = &prometheus::BuildCounter()
                          .Name("tessera_piece_retries_total")
                          .Help("Pieces of requests tried again, on another worker or after a partition push")
                          .Register(r)
                          .Add({});
  cluster_.partitions_pushed = &prometheus::BuildCounter()
                                    .Name("tessera_partitions_pushed_total")
                                    .Help("Partitions pushed to workers (completed LoadPartition calls)")
                                    .Register(r)
                                    .Add({});
  auto& sent = prometheus::BuildCounter()
                   .Name("tessera_sent_to_workers_bytes_total")
                   .Help("Bytes sent to workers: serialized ExecuteRequests, ONNX bytes of pushed partitions")
                   .Register(r);
  cluster_.execute_bytes_sent = &sent.Add({{"rpc", "execute"}});
  cluster_.partition_bytes_sent = &sent.Add({{"rpc", "load_partition"}});
  cluster_.execute_bytes_received = &prometheus::BuildCounter()
                                         .Name("tessera_received_from_workers_bytes_total")
                                         .Help("Bytes received from workers: serialized ExecuteResponses")
                                         .Register(r)
                                         .Add({{"rpc", "execute"}});
  workers_up_ = &prometheus::BuildGauge()
                     .Name("tessera_workers_up")
                     .Help("Workers in the membership that are healthy")
                     .Register(r)
                     .Add({});
  workers_down_ = &prometheus::BuildGauge()
                       .Name("tessera_workers_down")
                       .Help("Workers in the membership that are not healthy")
                       .Register(r)
                       .Add({});
}

std::shared_ptr<CoordinatorMetrics::Version> CoordinatorMetrics::ForVersion(const std::string& model,
                                                                           int64_t version, int stages) {
  const prometheus::Labels labels{{"model", model}, {"version", absl::StrCat(version)}};
  auto handles = std::make_shared<Version>(requests_, labels);
  handles->request_seconds = &request_seconds_->Add(labels, LatencySecondsBuckets());
  handles->batch_size = &batch_size_->Add(labels, BatchSizeBuckets());
  handles->in_flight = &in_flight_->Add(labels);
  auto deployment = std::make_shared<DeploymentMetrics>();
  for (int s = 0; s < stages; ++s) {
    prometheus::Labels stage_labels = labels;
    stage_labels["stage"] = absl::StrCat(s + 1);
    deployment->stages.push_back({.compute_seconds = &stage_compute_seconds_->Add(stage_labels, LatencySecondsBuckets()),
                                  .queue_seconds = &stage_queue_seconds_->Add(stage_labels, LatencySecondsBuckets())});
  }
  handles->stages = std::move(deployment);
  return handles;
}

void CoordinatorMetrics::SetWorkers(int up, int down) {
  workers_up_->Set(up);
  workers_down_->Set(down);
}

}  // namespace tessera::coordinator
