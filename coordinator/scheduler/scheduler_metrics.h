// The metric handles the scheduler records on: plain pointers into a
// prometheus::Registry, resolved once (per deployment, or once for the
// cluster) by CoordinatorMetrics (coordinator/service/coordinator_metrics.h),
// so a request's pieces record with atomic adds and no label lookups. A
// null pointer records nothing (tests that do not look at metrics).
//
// The metrics themselves are thread-safe; these structs are immutable once
// built and are shared by every request.
#pragma once

#include <vector>

#include "prometheus/counter.h"
#include "prometheus/histogram.h"

namespace tessera::coordinator {

// One stage of a deployment, from the ExecuteResponses of its pieces.
struct StageMetrics {
  prometheus::Histogram* compute_seconds = nullptr;  // engine time on the worker
  prometheus::Histogram* queue_seconds = nullptr;    // wait before running (stage admission + worker)
};

// One deployment (model version): stages in order.
struct DeploymentMetrics {
  std::vector<StageMetrics> stages;
};

// The whole cluster: the piece runner's retries and the traffic to and
// from workers (see MeteredWorkerClient).
struct ClusterMetrics {
  prometheus::Counter* retries = nullptr;               // pieces tried again
  prometheus::Counter* partitions_pushed = nullptr;     // completed LoadPartition pushes
  prometheus::Counter* execute_bytes_sent = nullptr;    // ExecuteRequests
  prometheus::Counter* execute_bytes_received = nullptr;  // ExecuteResponses
  prometheus::Counter* partition_bytes_sent = nullptr;  // ONNX bytes of completed pushes
};

}  // namespace tessera::coordinator
