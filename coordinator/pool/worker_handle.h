// One worker as the pool tracks it: its client, health, generation (bumped
// each time the worker is seen to restart), last Status, measured capacity
// per partition and pieces in flight.
//
// WorkerPool creates handles and shares them (std::shared_ptr); a handle and
// its client stay valid as long as someone holds it, even after the worker
// was removed from the membership (removed() turns true, healthy() false).
// Only WorkerPool changes health, generation and Status; anyone may read
// them, record Execute timings (through WorkerPool::RecordExecute) and take
// in-flight tickets.
//
// Thread-safe: every accessor takes the handle's own lock (never held while
// calling out).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/pool/worker_client.h"
#include "proto/worker.pb.h"

namespace tessera::coordinator {

class WorkerHandle;

// Counts one piece in flight on a worker while alive (RAII; movable), and
// holds the piece's "lost" callback, if any (WorkerHandle::StartPiece).
class InFlightTicket {
 public:
  InFlightTicket() = default;
  InFlightTicket(std::shared_ptr<WorkerHandle> worker, uint64_t piece);
  ~InFlightTicket() { Release(); }
  InFlightTicket(InFlightTicket&& other) noexcept
      : worker_(std::move(other.worker_)), piece_(std::exchange(other.piece_, 0)) {}
  InFlightTicket& operator=(InFlightTicket&& other) noexcept {
    if (this != &other) {
      Release();
      worker_ = std::move(other.worker_);
      piece_ = std::exchange(other.piece_, 0);
    }
    return *this;
  }
  InFlightTicket(const InFlightTicket&) = delete;
  InFlightTicket& operator=(const InFlightTicket&) = delete;

  // Ends the piece early (idempotent).
  void Release();
  const std::shared_ptr<WorkerHandle>& worker() const { return worker_; }

 private:
  std::shared_ptr<WorkerHandle> worker_;
  uint64_t piece_ = 0;  // key of the lost callback; 0: none
};

class WorkerHandle : public std::enable_shared_from_this<WorkerHandle> {
 public:
  // What a Status poll changed.
  struct PollOutcome {
    bool health_changed = false;
    bool restarted = false;  // boot_id differs from the previous one seen
  };

  // `id` is unique within a pool: an address removed and added again gets a
  // new handle with a new id. `tls_server_name`: the name the worker's
  // certificate is checked against when it is not the address's host
  // (worker_endpoint.h); empty otherwise.
  WorkerHandle(uint64_t id, std::unique_ptr<WorkerClient> client, double capacity_smoothing,
               std::string tls_server_name = "");

  uint64_t id() const { return id_; }
  const std::string& address() const { return client_->address(); }
  const std::string& tls_server_name() const { return tls_server_name_; }
  WorkerClient& client() const { return *client_; }

  bool healthy() const;
  bool removed() const;
  // 0 until the first successful Status; +1 for each restart seen after.
  uint64_t generation() const;
  std::string boot_id() const;
  std::optional<worker::StatusResponse> last_status() const;
  // Why the worker was last marked unhealthy (OK if never).
  absl::Status last_failure() const;
  int in_flight() const;

  // Called at most once, when the pool gives up on the worker while the
  // piece is in flight (LosePieces): the piece should be replayed elsewhere
  // and its own answer, if it ever comes, ignored.
  using LostCallback = std::function<void(const absl::Status& why)>;
  // A ticket counting one piece in flight until it is destroyed (or
  // released); `on_lost` (may be empty) stays registered until then.
  InFlightTicket StartPiece(LostCallback on_lost = nullptr);
  // Calls (outside the lock) and forgets the lost callbacks of every piece
  // in flight; the pieces stay counted in flight until their tickets go.
  // Returns how many callbacks ran. WorkerPool calls it when a health poll
  // gets no answer (the worker hangs or is cut off) and another worker of
  // the pool is healthy then (worker_pool.h): a lost callback may count on
  // someone else having been able to take the piece at that moment.
  int LosePieces(const absl::Status& why);

  // Measured samples per compute-second for `partition_id`, if any
  // Execute of it was recorded.
  std::optional<double> MeasuredCapacity(const std::string& partition_id) const;

  // Link speed from the coordinator to this worker, in bytes per
  // millisecond: an exponentially weighted mean (weight kLinkSmoothing for
  // each new sample) of the partition pushes recorded with
  // RecordLinkTransfer; nullopt before the first. Pushes smaller than
  // kMinLinkSampleBytes are ignored (their time is round-trip latency, not
  // bandwidth), as are transfers of zero or negative duration.
  static constexpr int64_t kMinLinkSampleBytes = 256 << 10;
  static constexpr double kLinkSmoothing = 0.5;
  std::optional<double> link_bytes_per_ms() const;
  // `bytes` crossed the link in `transfer` (the push's round trip minus the
  // worker's own load time). Returns whether the sample counted.
  bool RecordLinkTransfer(int64_t bytes, absl::Duration transfer);

  // --- Updated by WorkerPool.
  // A successful Status poll that started at `poll_started`: re-admits the
  // worker unless a failure was reported after the poll started.
  PollOutcome OnStatus(const worker::StatusResponse& status, absl::Time poll_started);
  // A failed poll or a failure reported by a user: unhealthy at once.
  // Returns true when the worker was healthy before.
  bool OnFailure(const absl::Status& failure);
  void MarkRemoved();
  void RecordExecute(const std::string& partition_id, int64_t samples, uint64_t compute_time_us);
  // Polls: at most one in flight per worker. BeginPoll starts one (kStarted)
  // unless one is in flight, in which case `on_end` joins it (kAttached);
  // with start = false an idle worker is left alone (kIdle; `on_end`
  // dropped). The poller calls EndPoll when the answer has been applied and
  // runs the callbacks it returns.
  enum class PollStart { kStarted, kAttached, kIdle };
  PollStart BeginPoll(std::function<void()> on_end, bool start = true);
  std::vector<std::function<void()>> EndPoll();

 private:
  friend class InFlightTicket;
  void EndPiece(uint64_t piece);

  const uint64_t id_;
  const std::unique_ptr<WorkerClient> client_;
  const double capacity_smoothing_;
  const std::string tls_server_name_;

  mutable absl::Mutex mu_;
  bool healthy_ ABSL_GUARDED_BY(mu_) = false;
  bool removed_ ABSL_GUARDED_BY(mu_) = false;
  bool polling_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> poll_waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::string boot_id_ ABSL_GUARDED_BY(mu_);
  std::optional<worker::StatusResponse> last_status_ ABSL_GUARDED_BY(mu_);
  absl::Status last_failure_ ABSL_GUARDED_BY(mu_);
  absl::Time failed_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_piece_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, LostCallback> lost_callbacks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, double> samples_per_second_ ABSL_GUARDED_BY(mu_);  // EWMA per partition
  std::optional<double> link_bytes_per_ms_ ABSL_GUARDED_BY(mu_);  // EWMA
};

}  // namespace tessera::coordinator
