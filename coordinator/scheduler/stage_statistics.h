// Per-stage timings and traffic of one deployment's pieces, as the
// coordinator saw them; reported as the `stage_stats` extension of
// ModelStatistics (proto/inference.proto, StageStatistics).
//
// For each finished piece (an Execute that answered, after any retries):
//   dispatch  the round trip from handing the piece to PieceRunner::Run to
//             its callback (retries and partition pushes included);
//   queue     the worker's reported queue_time_us;
//   compute   the worker's reported compute_time_us;
//   transfer  dispatch - queue - compute, clamped at 0 (serialization, the
//             network both ways, retries);
//   bytes     tensor content bytes of the piece's inputs and outputs.
// Failed pieces are not recorded (they have no worker timings).
//
// Worker identity is not visible through PieceRunner, so `workers` stays 0.
//
// Shared by every request of a deployment (like DeploymentMetrics in
// scheduler_metrics.h); a new deployment starts from zero. Thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
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
  };

  explicit StageStatisticsRecorder(int stages) : stages_(static_cast<size_t>(stages > 0 ? stages : 0)) {}

  int stage_count() const { return static_cast<int>(stages_.size()); }

  // One finished piece of `stage` (0-based; out of range: ignored).
  void RecordPiece(int stage, absl::Duration dispatch, uint64_t queue_us, uint64_t compute_us, uint64_t bytes_sent,
                   uint64_t bytes_received);

  // Every stage, in order.
  std::vector<Stage> Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<Stage> stages_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::coordinator
