// Pushes partitions to workers once, and remembers what each worker holds.
//
// EnsureLoaded(worker, partition, deadline, done):
//   - done(OK) at once (on the caller's thread) when the partition is known
//     to be loaded on the worker in its current generation;
//   - otherwise the first caller starts a LoadPartition and later callers for
//     the same partition, worker and generation wait for its result (they
//     are bounded by the first caller's deadline, not their own);
//   - an answer of already_loaded counts as success;
//   - a failed push is remembered nowhere: the next call pushes again;
//   - a completed push (not already loaded) is a link-speed sample for the
//     worker: bytes pushed / (round trip - the worker's load_time_us),
//     recorded with WorkerHandle::RecordLinkTransfer.
// What was pushed is recorded per worker generation (WorkerHandle::generation,
// bumped by the pool when the worker's boot_id changes), so after a restart
// everything is pushed again. A NOT_FOUND from Execute, whether from an
// unseen restart or from the worker's cache evicting the partition, is
// reported with MarkNotLoaded, and the next EnsureLoaded pushes again.
//
// The loader's state is shared with the pushes in flight, so the loader may
// be destroyed while they run (their `done` still runs).
//
// Thread-safe; `done` runs on the caller's thread (already loaded) or on the
// worker client's callback thread, never with the loader's lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "coordinator/pool/worker_handle.h"
#include "proto/worker.pb.h"

namespace tessera::coordinator {

// A partition ready to push: its bytes (shared, never copied) and the
// LoadPartition header, whose partition_id and total_bytes describe them.
struct LoadablePartition {
  worker::PartitionHeader header;
  std::shared_ptr<const std::string> bytes;

  const std::string& id() const { return header.partition_id(); }

  // Fills partition_id (SHA-256 of the bytes) and total_bytes in `header`.
  static LoadablePartition FromBytes(std::shared_ptr<const std::string> bytes, worker::PartitionHeader header = {});
};

class PartitionLoader {
 public:
  using Done = std::function<void(absl::Status)>;

  PartitionLoader();

  void EnsureLoaded(const std::shared_ptr<WorkerHandle>& worker, const LoadablePartition& partition,
                    absl::Time deadline, Done done);

  // The worker answered NOT_FOUND for `partition_id`: forget it.
  void MarkNotLoaded(const WorkerHandle& worker, const std::string& partition_id);

  // Known loaded in the worker's current generation.
  bool IsLoaded(const WorkerHandle& worker, const std::string& partition_id) const;
  std::vector<std::string> LoadedOn(const WorkerHandle& worker) const;

  // Drops what is known about a worker (it left the membership).
  void ForgetWorker(const WorkerHandle& worker);

  // LoadPartition calls started so far.
  uint64_t pushes_started() const;

 private:
  struct State;
  const std::shared_ptr<State> state_;
};

}  // namespace tessera::coordinator
