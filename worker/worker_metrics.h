// A worker's Prometheus metrics, registered once on a registry and resolved
// to plain pointers, so recording on the hot path is an atomic add (no label
// lookups, no strings). WorkerCore, PartitionCache and WorkerService record;
// the ops server (common/ops_server.h) exposes the registry.
//
//   tessera_worker_executes_total{outcome="success"|"failure", reason}
//       Execute calls finished; reason is the gRPC code name (OK on success)
//   tessera_worker_execute_duration_seconds      engine time per Execute
//   tessera_worker_execute_queue_duration_seconds  wait for an execution slot
//   tessera_worker_executes_in_flight            accepted, not yet answered
//   tessera_worker_partitions_loaded             partitions in the cache
//   tessera_worker_partition_cache_bytes         bytes the cache is charged
//   tessera_worker_partition_cache_budget_bytes  its budget (0: unbounded)
//   tessera_worker_partition_evictions_total     evicted to make room
//   tessera_worker_received_bytes_total{rpc="execute"|"load_partition"}
//   tessera_worker_sent_bytes_total{rpc="execute"}
//       serialized message bytes on the worker's RPCs
//
// Thread-safe (prometheus-cpp metrics are atomics). The registry must
// outlive the metrics.
#pragma once

#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "common/metrics_outcome.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tessera::worker {

class WorkerMetrics {
 public:
  explicit WorkerMetrics(prometheus::Registry* registry);
  // Metrics on a registry of their own, which nothing exposes (tests, and
  // a WorkerCore given no metrics).
  WorkerMetrics();

  // One Execute answered with `status`.
  void RecordExecute(const absl::Status& status) { executes_->Record(status); }
  // An Execute that ran waited `queue_seconds` for a slot and ran for
  // `compute_seconds`.
  void RecordExecuteTimes(double queue_seconds, double compute_seconds) {
    queue_seconds_->Observe(queue_seconds);
    execute_seconds_->Observe(compute_seconds);
  }

  prometheus::Gauge& executes_in_flight() { return *executes_in_flight_; }
  prometheus::Gauge& partitions_loaded() { return *partitions_loaded_; }
  prometheus::Gauge& cache_bytes() { return *cache_bytes_; }
  prometheus::Gauge& cache_budget_bytes() { return *cache_budget_bytes_; }
  prometheus::Counter& evictions() { return *evictions_; }
  prometheus::Counter& execute_bytes_received() { return *execute_bytes_received_; }
  prometheus::Counter& execute_bytes_sent() { return *execute_bytes_sent_; }
  prometheus::Counter& load_bytes_received() { return *load_bytes_received_; }

  prometheus::Registry& registry() { return *registry_; }

 private:
  void Register();

  std::shared_ptr<prometheus::Registry> owned_registry_;  // set by the default constructor
  prometheus::Registry* registry_;
  std::optional<OutcomeCounters> executes_;
  prometheus::Histogram* execute_seconds_ = nullptr;
  prometheus::Histogram* queue_seconds_ = nullptr;
  prometheus::Gauge* executes_in_flight_ = nullptr;
  prometheus::Gauge* partitions_loaded_ = nullptr;
  prometheus::Gauge* cache_bytes_ = nullptr;
  prometheus::Gauge* cache_budget_bytes_ = nullptr;
  prometheus::Counter* evictions_ = nullptr;
  prometheus::Counter* execute_bytes_received_ = nullptr;
  prometheus::Counter* execute_bytes_sent_ = nullptr;
  prometheus::Counter* load_bytes_received_ = nullptr;
};

}  // namespace tessera::worker
