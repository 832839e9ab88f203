// Measures one partition on one worker: makes sure the worker holds it
// (PartitionLoader::EnsureLoaded, which pushes it when needed and, when it
// does, samples the link speed), then asks the worker for per-node traced
// times (the Profile RPC). The coordinator's re-planning uses it to cost
// pipeline stages on the hardware that runs them, not on its own.
//
// Which worker: position `position` (mod their number) of the pool's
// healthy workers in address order, the rule ClusterPieceRunner uses to
// place pipeline stages (stage s, replica 0 -> position s * replicas).
//
// ProfileBlocking waits for the answer (bounded by the deadline, and given
// up early, CANCELLED, when `cancelled` turns true; it is polled every
// 50 ms): callers run it on a background thread, never on a request or
// gRPC thread.
//
// Thread-safe. Borrowed: the pool and loader must outlive it.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/pool/partition_loader.h"
#include "coordinator/pool/worker_pool.h"
#include "proto/worker.pb.h"

namespace tessera::coordinator {

struct PartitionProfile {
  std::string worker;  // address of the worker that measured it
  worker::ProfileResponse profile;
  // The worker's smoothed link speed (WorkerHandle::link_bytes_per_ms), if
  // any push to it measured one.
  std::optional<double> link_bytes_per_ms;
};

class PartitionProfiler {
 public:
  PartitionProfiler(WorkerPool* pool, PartitionLoader* loader) : pool_(pool), loader_(loader) {}

  // UNAVAILABLE when no worker is healthy; the push's or the Profile RPC's
  // failure otherwise (DEADLINE_EXCEEDED when `deadline` passes first).
  // `request.partition_id` is set from `partition`.
  absl::StatusOr<PartitionProfile> ProfileBlocking(const LoadablePartition& partition, int position,
                                                   worker::ProfileRequest request, absl::Time deadline,
                                                   const std::function<bool()>& cancelled = nullptr);

 private:
  WorkerPool* const pool_;
  PartitionLoader* const loader_;
};

}  // namespace tessera::coordinator
