// The coordinator's Prometheus metrics, registered once on a registry and
// resolved to plain pointers: per model version when it is deployed
// (ForVersion), once for the cluster (cluster()). Requests then record with
// atomic adds, no label lookups or string building. CoordinatorBackend
// records requests; RequestExecutor the stages (scheduler_metrics.h);
// ClusterPieceRunner retries; MeteredWorkerClient traffic; the main sets
// the worker gauges before each scrape.
//
//   tessera_requests_total{model, version, outcome="success"|"failure", reason}
//       inference requests finished; reason is the gRPC status code name
//       (OK on success). Requests naming no served model or version count
//       under model="", version="".
//   tessera_request_duration_seconds{model, version}   arrival to answer
//   tessera_request_batch_size{model, version}         samples per request
//   tessera_requests_in_flight{model, version}
//   tessera_stage_compute_duration_seconds{model, version, stage}
//   tessera_stage_queue_duration_seconds{model, version, stage}
//       per piece, as its worker measured it (engine time; wait for a slot);
//       stage counts from 1
//   tessera_piece_retries_total                 pieces tried again
//   tessera_partitions_pushed_total             partitions pushed to workers
//   tessera_sent_to_workers_bytes_total{rpc="execute"|"load_partition"}
//   tessera_received_from_workers_bytes_total{rpc="execute"}
//   tessera_workers_up, tessera_workers_down    healthy / unhealthy members
//
// Thread-safe. The registry must outlive the metrics.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/metrics_outcome.h"
#include "coordinator/scheduler/scheduler_metrics.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tessera::coordinator {

class CoordinatorMetrics {
 public:
  // One model version's handles.
  struct Version {
    Version(prometheus::Family<prometheus::Counter>* family, prometheus::Labels labels)
        : requests(family, std::move(labels)) {}
    OutcomeCounters requests;
    prometheus::Histogram* request_seconds = nullptr;
    prometheus::Histogram* batch_size = nullptr;
    prometheus::Gauge* in_flight = nullptr;
    std::shared_ptr<const DeploymentMetrics> stages;
  };

  explicit CoordinatorMetrics(prometheus::Registry* registry);
  // Metrics on a registry of their own, which nothing exposes.
  CoordinatorMetrics();

  // The handles of model/version with `stages` pipeline stages. Calls for
  // the same version return handles to the same series.
  std::shared_ptr<Version> ForVersion(const std::string& model, int64_t version, int stages);
  // Requests that name no served model or version.
  OutcomeCounters& unknown_model_requests() { return *unknown_; }

  const ClusterMetrics& cluster() const { return cluster_; }
  void SetWorkers(int up, int down);

  prometheus::Registry& registry() { return *registry_; }

 private:
  void Register();

  std::shared_ptr<prometheus::Registry> owned_registry_;  // set by the default constructor
  prometheus::Registry* registry_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* request_seconds_ = nullptr;
  prometheus::Family<prometheus::Histogram>* batch_size_ = nullptr;
  prometheus::Family<prometheus::Gauge>* in_flight_ = nullptr;
  prometheus::Family<prometheus::Histogram>* stage_compute_seconds_ = nullptr;
  prometheus::Family<prometheus::Histogram>* stage_queue_seconds_ = nullptr;
  std::optional<OutcomeCounters> unknown_;
  ClusterMetrics cluster_;
  prometheus::Gauge* workers_up_ = nullptr;
  prometheus::Gauge* workers_down_ = nullptr;
};

}  // namespace tessera::coordinator
