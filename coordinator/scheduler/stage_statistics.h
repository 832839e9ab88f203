// Per-stage timings and traffic of one deployment's pieces, as the
// coordinator saw them; reported as the `stage_stats` extension of
// ModelStatistics (proto/inference.proto, StageStatistics).
//
// For each finished piece (an Execute that answered, after any retries):
//   dispatch  the round trip from handing the piece to PieceRunner::Run to
//             its callback (retries and partition pushes included);
//   queue     the reported queue_time_us: the wait for the stage's turn in
//             the coordinator (StageAdmission) plus the worker's queue;
//   compute   the worker's reported compute_time_us;
//   transfer  dispatch - queue - compute, clamped at 0 (serialization, the
//             network both ways, retries);
//   bytes     tensor content bytes of the piece's inputs and outputs.
//   workers   distinct workers (ExecuteResponse.boot_id) that ran the stage.
// Failed pieces are not recorded (they have no worker timings).
//
// DIRECT chains (request_executor.h) record one piece per stage, with the
// stage's own share of the chain's round trip as `dispatch`.
//
// Shared by every request of a deployment (like DeploymentMetrics in
// scheduler_metrics.h); a new deployment starts from zero. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tessera::coordinator {

class StageStatisticsRecorder {
 public:
  struct Stage {
    uint64_t pieces = 0;  // count of each duration below
    uint64_t dispatch_ns = 0;
    uint64_t queue_ns = 0;
    uint64_t compute_ns = 0;
    uint64_t transfer_ns = 0;
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
    uint32_t workers = 0;  // distinct worker boot ids seen
  };

  explicit StageStatisticsRecorder(int stages)
      : stages_(static_cast<size_t>(stages > 0 ? stages : 0)), worker_ids_(stages_.size()) {}

  int stage_count() const { return static_cast<int>(stages_.size()); }

  // One finished piece of `stage` (0-based; out of range: ignored), run by
  // the worker whose boot id is `worker` (empty: unknown, not counted).
  void RecordPiece(int stage, absl::Duration dispatch, uint64_t queue_us, uint64_t compute_us, uint64_t bytes_sent,
                   uint64_t bytes_received, const std::string& worker = "");

  // Every stage, in order.
  std::vector<Stage> Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<Stage> stages_ ABSL_GUARDED_BY(mu_);
  // Per stage; bounded (kMaxWorkerIds) so restarts cannot grow it forever.
  std::vector<absl::flat_hash_set<std::string>> worker_ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::coordinator
