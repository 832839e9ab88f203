// Cancels one worker call in flight from another thread
// (WorkerClient::ExecuteCancellable): the scheduler holds it, the client
// attaches the way to cancel the call (grpc::ClientContext::TryCancel for
// GrpcWorkerClient) while the call runs.
//
// Cancel() runs the attached action once, outside the canceller's lock; a
// Cancel() before the client attached makes Attach run the action at once
// (on the attaching thread); after Detach (the call ended) Cancel() does
// nothing but mark the canceller. Cancelling a call makes it end with
// CANCELLED (unless its answer came first); its callback still runs exactly
// once.
//
// Thread-safe. Shared (std::shared_ptr) between the caller and the client.
#pragma once

#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tessera::coordinator {

class CallCanceller {
 public:
  CallCanceller() = default;
  CallCanceller(const CallCanceller&) = delete;
  CallCanceller& operator=(const CallCanceller&) = delete;

  // Cancels the call (idempotent).
  void Cancel() {
    std::function<void()> action;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return;
      cancelled_ = true;
      action = std::move(action_);
      action_ = nullptr;
    }
    if (action) action();
  }

  bool cancelled() const {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

  // For WorkerClient implementations: `action` cancels the call now in
  // flight. Runs it at once when Cancel() came first.
  void Attach(std::function<void()> action) {
    {
      absl::MutexLock lock(&mu_);
      if (!cancelled_) {
        action_ = std::move(action);
        return;
      }
    }
    action();
  }

  // For WorkerClient implementations: the call ended; drops the action.
  void Detach() {
    std::function<void()> dropped;  // destroyed outside the lock
    absl::MutexLock lock(&mu_);
    dropped = std::move(action_);
    action_ = nullptr;
  }

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> action_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::coordinator
