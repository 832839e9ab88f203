#include "coordinator/scheduler/stage_statistics.h"

#include <algorithm>

namespace tessera::coordinator {

void StageStatisticsRecorder::RecordPiece(int stage, absl::Duration dispatch, uint64_t queue_us, uint64_t compute_us,
                                          uint64_t bytes_sent, uint64_t bytes_received, const std::string& worker) {
  const uint64_t dispatch_ns = static_cast<uint64_t>(std::max<int64_t>(absl::ToInt64Nanoseconds(dispatch), 0));
  const uint64_t queue_ns = queue_us * 1000;
  const uint64_t compute_ns = compute_us * 1000;
  const uint64_t worker_ns = queue_ns + compute_ns;
  absl::MutexLock lock(&mu_);
  if (stage < 0 || static_cast<size_t>(stage) >= stages_.size()) return;
  Stage& s = stages_[stage];
  ++s.pieces;
  s.dispatch_ns += dispatch_ns;
  s.queue_ns += queue_ns;
  s.compute_ns += compute_ns;
  s.transfer_ns += dispatch_ns > worker_ns ? dispatch_ns - worker_ns : 0;
  s.bytes_sent += bytes_sent;
  s.bytes_received += bytes_received;
  constexpr size_t kMaxWorkerIds = 4096;
  if (!worker.empty() && worker_ids_[stage].size() < kMaxWorkerIds && worker_ids_[stage].insert(worker).second) {
    s.workers = static_cast<uint32_t>(worker_ids_[stage].size());
  }
}

std::vector<StageStatisticsRecorder::Stage> StageStatisticsRecorder::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return stages_;
}

}  // namespace tessera::coordinator
