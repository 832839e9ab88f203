#include "coordinator/pool/partition_profiler.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace tessera::coordinator {
namespace {

// A result slot shared with the callbacks, which may run after the waiter
// gave up at its deadline.
template <typename T>
struct Slot {
  absl::Notification done;
  T result;
};

// Waits for `slot` until `deadline` (plus a grace second for the RPC's own
// deadline to fire first) or until `cancelled`. False when it gave up.
template <typename T>
bool Wait(Slot<T>& slot, absl::Time deadline, const std::function<bool()>& cancelled) {
  const absl::Time end = deadline + absl::Seconds(1);
  while (!slot.done.WaitForNotificationWithDeadline(std::min(end, absl::Now() + absl::Milliseconds(50)))) {
    if (absl::Now() >= end || (cancelled && cancelled())) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<PartitionProfile> PartitionProfiler::ProfileBlocking(const LoadablePartition& partition, int position,
                                                                   worker::ProfileRequest request,
                                                                   absl::Time deadline,
                                                                   const std::function<bool()>& cancelled) {
  const std::vector<WorkerPool::WorkerPtr> healthy = pool_->Healthy();
  if (healthy.empty()) return absl::UnavailableError("no healthy worker to profile on");
  const WorkerPool::WorkerPtr worker =
      healthy[static_cast<size_t>(std::max(position, 0)) % healthy.size()];

  auto loaded = std::make_shared<Slot<absl::Status>>();
  loader_->EnsureLoaded(worker, partition, deadline, [loaded](absl::Status status) {
    loaded->result = std::move(status);
    loaded->done.Notify();
  });
  if (!Wait(*loaded, deadline, cancelled)) {
    if (cancelled && cancelled()) return absl::CancelledError("profiling was cancelled");
    return absl::DeadlineExceededError(absl::StrCat("pushing partition ", partition.id(), " to ", worker->address(),
                                                    " did not finish before the profiling deadline"));
  }
  if (!loaded->result.ok()) {
    return absl::Status(loaded->result.code(), absl::StrCat("pushing partition ", partition.id(), " to ",
                                                            worker->address(), ": ", loaded->result.message()));
  }

  request.set_partition_id(partition.id());
  auto profiled = std::make_shared<Slot<absl::StatusOr<worker::ProfileResponse>>>();
  profiled->result = absl::UnknownError("no answer");
  worker->client().Profile(request, deadline, [profiled](absl::StatusOr<worker::ProfileResponse> response) {
    profiled->result = std::move(response);
    profiled->done.Notify();
  });
  if (!Wait(*profiled, deadline, cancelled)) {
    if (cancelled && cancelled()) return absl::CancelledError("profiling was cancelled");
    return absl::DeadlineExceededError(
        absl::StrCat("profiling partition ", partition.id(), " on ", worker->address(), " timed out"));
  }
  if (!profiled->result.ok()) {
    // The worker lost it (restart, eviction): the next push goes again.
    if (absl::IsNotFound(profiled->result.status())) loader_->MarkNotLoaded(*worker, partition.id());
    return absl::Status(profiled->result.status().code(),
                        absl::StrCat("profiling partition ", partition.id(), " on ", worker->address(), ": ",
                                     profiled->result.status().message()));
  }
  PartitionProfile out;
  out.worker = worker->address();
  out.profile = *std::move(profiled->result);
  out.link_bytes_per_ms = worker->link_bytes_per_ms();
  return out;
}

}  // namespace tessera::coordinator
