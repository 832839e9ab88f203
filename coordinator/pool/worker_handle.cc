#include "coordinator/pool/worker_handle.h"

#include <algorithm>
#include <utility>

namespace tessera::coordinator {

InFlightTicket::InFlightTicket(std::shared_ptr<WorkerHandle> worker, uint64_t piece)
    : worker_(std::move(worker)), piece_(piece) {}

void InFlightTicket::Release() {
  if (worker_ == nullptr) return;
  worker_->EndPiece(piece_);
  worker_.reset();
  piece_ = 0;
}

WorkerHandle::WorkerHandle(uint64_t id, std::unique_ptr<WorkerClient> client, double capacity_smoothing,
                           std::string tls_server_name)
    : id_(id),
      client_(std::move(client)),
      capacity_smoothing_(std::clamp(capacity_smoothing, 0.01, 1.0)),
      tls_server_name_(std::move(tls_server_name)) {}

bool WorkerHandle::healthy() const {
  absl::MutexLock lock(&mu_);
  return healthy_;
}

bool WorkerHandle::removed() const {
  absl::MutexLock lock(&mu_);
  return removed_;
}

uint64_t WorkerHandle::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

std::string WorkerHandle::boot_id() const {
  absl::MutexLock lock(&mu_);
  return boot_id_;
}

std::optional<worker::StatusResponse> WorkerHandle::last_status() const {
  absl::MutexLock lock(&mu_);
  return last_status_;
}

absl::Status WorkerHandle::last_failure() const {
  absl::MutexLock lock(&mu_);
  return last_failure_;
}

int WorkerHandle::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

InFlightTicket WorkerHandle::StartPiece(LostCallback on_lost) {
  uint64_t piece = 0;
  {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
    if (on_lost) {
      piece = next_piece_++;
      lost_callbacks_.emplace(piece, std::move(on_lost));
    }
  }
  return InFlightTicket(shared_from_this(), piece);
}

void WorkerHandle::EndPiece(uint64_t piece) {
  LostCallback dropped;  // destroyed outside the lock
  absl::MutexLock lock(&mu_);
  --in_flight_;
  if (piece == 0) return;
  auto it = lost_callbacks_.find(piece);
  if (it == lost_callbacks_.end()) return;
  dropped = std::move(it->second);
  lost_callbacks_.erase(it);
}

int WorkerHandle::LosePieces(const absl::Status& why) {
  absl::flat_hash_map<uint64_t, LostCallback> lost;
  {
    absl::MutexLock lock(&mu_);
    lost.swap(lost_callbacks_);
  }
  for (auto& [piece, callback] : lost) callback(why);
  return static_cast<int>(lost.size());
}

std::optional<double> WorkerHandle::MeasuredCapacity(const std::string& partition_id) const {
  absl::MutexLock lock(&mu_);
  auto it = samples_per_second_.find(partition_id);
  if (it == samples_per_second_.end()) return std::nullopt;
  return it->second;
}

WorkerHandle::PollOutcome WorkerHandle::OnStatus(const worker::StatusResponse& status, absl::Time poll_started) {
  PollOutcome outcome;
  absl::MutexLock lock(&mu_);
  if (!boot_id_.empty() && status.boot_id() != boot_id_) {
    ++generation_;
    // A new process: what was measured on the old one may no longer hold,
    // but speed rarely changes across restarts, so estimates are kept.
    outcome.restarted = true;
  }
  boot_id_ = status.boot_id();
  last_status_ = status;
  if (!healthy_ && !removed_ && poll_started >= failed_at_) {
    healthy_ = true;
    outcome.health_changed = true;
  }
  return outcome;
}

bool WorkerHandle::OnFailure(const absl::Status& failure) {
  absl::MutexLock lock(&mu_);
  last_failure_ = failure;
  failed_at_ = absl::Now();
  const bool was_healthy = healthy_;
  healthy_ = false;
  return was_healthy;
}

void WorkerHandle::MarkRemoved() {
  absl::MutexLock lock(&mu_);
  removed_ = true;
  healthy_ = false;
}

void WorkerHandle::RecordExecute(const std::string& partition_id, int64_t samples, uint64_t compute_time_us) {
  if (samples <= 0) return;
  const double seconds = std::max<double>(static_cast<double>(compute_time_us), 1.0) * 1e-6;
  const double rate = static_cast<double>(samples) / seconds;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = samples_per_second_.try_emplace(partition_id, rate);
  if (!inserted) it->second += capacity_smoothing_ * (rate - it->second);
}

WorkerHandle::PollStart WorkerHandle::BeginPoll(std::function<void()> on_end, bool start) {
  absl::MutexLock lock(&mu_);
  if (polling_) {
    if (on_end) poll_waiters_.push_back(std::move(on_end));
    return PollStart::kAttached;
  }
  if (!start) return PollStart::kIdle;
  polling_ = true;
  if (on_end) poll_waiters_.push_back(std::move(on_end));
  return PollStart::kStarted;
}

std::vector<std::function<void()>> WorkerHandle::EndPoll() {
  absl::MutexLock lock(&mu_);
  polling_ = false;
  return std::exchange(poll_waiters_, {});
}

std::optional<double> WorkerHandle::link_bytes_per_ms() const {
  absl::MutexLock lock(&mu_);
  return link_bytes_per_ms_;
}

bool WorkerHandle::RecordLinkTransfer(int64_t bytes, absl::Duration transfer) {
  if (bytes < kMinLinkSampleBytes || transfer <= absl::ZeroDuration()) return false;
  const double sample = static_cast<double>(bytes) / absl::ToDoubleMilliseconds(transfer);
  absl::MutexLock lock(&mu_);
  link_bytes_per_ms_ = link_bytes_per_ms_.has_value()
                           ? kLinkSmoothing * sample + (1 - kLinkSmoothing) * *link_bytes_per_ms_
                           : sample;
  return true;
}

}  // namespace tessera::coordinator
