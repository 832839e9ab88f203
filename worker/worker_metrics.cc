#include "worker/worker_metrics.h"

namespace tessera::worker {

WorkerMetrics::WorkerMetrics(prometheus::Registry* registry) : registry_(registry) { Register(); }

WorkerMetrics::WorkerMetrics()
    : owned_registry_(std::make_shared<prometheus::Registry>()), registry_(owned_registry_.get()) {
  Register();
}

void WorkerMetrics::Register() {
  prometheus::Registry& r = *registry_;
  executes_.emplace(&prometheus::BuildCounter()
                         .Name("tessera_worker_executes_total")
                         .Help("Execute calls finished, by outcome and reason (gRPC status code name)")
                         .Register(r),
                    prometheus::Labels{});
  execute_seconds_ = &prometheus::BuildHistogram()
                          .Name("tessera_worker_execute_duration_seconds")
                          .Help("Engine time of one Execute")
                          .Register(r)
                          .Add({}, LatencySecondsBuckets());
  queue_seconds_ = &prometheus::BuildHistogram()
                        .Name("tessera_worker_execute_queue_duration_seconds")
                        .Help("Time an Execute waited for an execution slot")
                        .Register(r)
                        .Add({}, LatencySecondsBuckets());
  executes_in_flight_ = &prometheus::BuildGauge()
                             .Name("tessera_worker_executes_in_flight")
                             .Help("Execute calls accepted and not yet answered (queued or running)")
                             .Register(r)
                             .Add({});
  partitions_loaded_ = &prometheus::BuildGauge()
                            .Name("tessera_worker_partitions_loaded")
                            .Help("Partitions in the worker's cache")
                            .Register(r)
                            .Add({});
  cache_bytes_ = &prometheus::BuildGauge()
                      .Name("tessera_worker_partition_cache_bytes")
                      .Help("Bytes the partition cache is charged (the partitions' weights)")
                      .Register(r)
                      .Add({});
  cache_budget_bytes_ = &prometheus::BuildGauge()
                             .Name("tessera_worker_partition_cache_budget_bytes")
                             .Help("The partition cache's memory budget; 0: unbounded")
                             .Register(r)
                             .Add({});
  evictions_ = &prometheus::BuildCounter()
                    .Name("tessera_worker_partition_evictions_total")
                    .Help("Partitions evicted from the cache to make room for others")
                    .Register(r)
                    .Add({});
  auto& received = prometheus::BuildCounter()
                       .Name("tessera_worker_received_bytes_total")
                       .Help("Serialized request bytes received, by RPC")
                       .Register(r);
  execute_bytes_received_ = &received.Add({{"rpc", "execute"}});
  load_bytes_received_ = &received.Add({{"rpc", "load_partition"}});
  execute_bytes_sent_ = &prometheus::BuildCounter()
                             .Name("tessera_worker_sent_bytes_total")
                             .Help("Serialized response bytes sent, by RPC")
                             .Register(r)
                             .Add({{"rpc", "execute"}});
}

}  // namespace tessera::worker
