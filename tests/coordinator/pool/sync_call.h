// Test helpers: wait for an asynchronous WorkerClient / loader answer, and
// wait (bounded) for a condition.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "coordinator/pool/worker_client.h"

namespace tessera::coordinator::testing {

// No answer within this is a test failure, never a hang.
inline constexpr absl::Duration kAnswerTimeout = absl::Seconds(10);

// Starts a call with a callback and waits for its result.
template <typename T>
absl::StatusOr<T> SyncCall(const std::function<void(WorkerClient::Callback<T>)>& start) {
  struct Slot {
    absl::Notification done;
    std::optional<absl::StatusOr<T>> result;
  };
  auto slot = std::make_shared<Slot>();
  start([slot](absl::StatusOr<T> result) {
    slot->result = std::move(result);
    slot->done.Notify();
  });
  if (!slot->done.WaitForNotificationWithTimeout(kAnswerTimeout)) {
    return absl::DeadlineExceededError("test: no answer within kAnswerTimeout");
  }
  return *std::move(slot->result);
}

// The same for a plain Status callback (PartitionLoader::EnsureLoaded).
inline absl::Status SyncStatus(const std::function<void(std::function<void(absl::Status)>)>& start) {
  struct Slot {
    absl::Notification done;
    absl::Status status;
  };
  auto slot = std::make_shared<Slot>();
  start([slot](absl::Status status) {
    slot->status = std::move(status);
    slot->done.Notify();
  });
  if (!slot->done.WaitForNotificationWithTimeout(kAnswerTimeout)) {
    return absl::DeadlineExceededError("test: no answer within kAnswerTimeout");
  }
  return slot->status;
}

// Polls `condition` every few milliseconds until it holds or `timeout` ends.
inline bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(5)) {
  const absl::Time end = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace tessera::coordinator::testing
