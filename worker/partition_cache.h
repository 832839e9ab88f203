// The worker's cache of loaded partitions, keyed by partition id (the
// SHA-256 of the partition's ONNX bytes), bounded by a memory budget.
//
// Inserting a partition evicts the least recently used ones until it fits.
// A partition larger than the whole budget is refused (RESOURCE_EXHAUSTED).
// Partitions are shared_ptr: an evicted partition that an Execute is still
// running stays alive until that Execute ends, so memory may briefly exceed
// the budget by the partitions in use.
//
// The memory a partition is charged is its weights (the serialized model
// size): activations live in per-run arenas and are not cached.
//
// Metrics (optional): the partitions and bytes cached, and evictions, are
// recorded on WorkerMetrics as they change.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/worker.pb.h"
#include "worker/engine/engine.h"
#include "worker/worker_metrics.h"

namespace tessera::worker {

// One loaded partition. Immutable after construction except the usage
// counters, which are guarded (and may change through a const reference).
class LoadedPartition {
 public:
  LoadedPartition(PartitionHeader header, std::unique_ptr<engine::Engine> engine, uint64_t model_bytes,
                  absl::Time loaded_at);

  const std::string& id() const { return header_.partition_id(); }
  const PartitionHeader& header() const { return header_; }
  const engine::Engine& engine() const { return *engine_; }
  uint64_t model_bytes() const { return model_bytes_; }
  uint64_t memory_bytes() const { return model_bytes_; }

  // Records one finished Execute.
  void RecordExecute(absl::Time when, absl::Duration compute) const;
  // Fills everything PartitionStatus has.
  void FillStatus(PartitionStatus* status) const;

 private:
  const PartitionHeader header_;
  const std::unique_ptr<engine::Engine> engine_;
  const uint64_t model_bytes_;
  const absl::Time loaded_at_;
  mutable absl::Mutex mu_;
  mutable absl::Time last_used_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t execute_count_ ABSL_GUARDED_BY(mu_) = 0;
  mutable double mean_compute_us_ ABSL_GUARDED_BY(mu_) = 0;  // exponentially weighted
};

class PartitionCache {
 public:
  // budget_bytes == 0: unbounded. `metrics`, when given, is borrowed and
  // must outlive the cache.
  explicit PartitionCache(uint64_t budget_bytes, WorkerMetrics* metrics = nullptr);

  uint64_t budget_bytes() const { return budget_bytes_; }

  // OK when a partition of `bytes` could be cached at all (it fits the
  // budget once everything else is evicted); RESOURCE_EXHAUSTED naming both
  // sizes otherwise.
  absl::Status CheckFits(uint64_t bytes) const;

  // The partition, marked most recently used; null when not cached.
  std::shared_ptr<const LoadedPartition> Find(absl::string_view id);

  // Adds `partition` (replacing one with the same id), evicting least
  // recently used partitions to stay within the budget.
  absl::Status Insert(std::shared_ptr<const LoadedPartition> partition);

  // Drops the partition; returns the bytes it was charged, 0 when absent.
  uint64_t Remove(absl::string_view id);

  uint64_t memory_in_use() const;
  // Most recently used first.
  std::vector<std::shared_ptr<const LoadedPartition>> Snapshot() const;

 private:
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t budget_bytes_;
  WorkerMetrics* const metrics_;
  mutable absl::Mutex mu_;
  // Most recently used at the front.
  std::list<std::shared_ptr<const LoadedPartition>> lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::list<std::shared_ptr<const LoadedPartition>>::iterator> by_id_
      ABSL_GUARDED_BY(mu_);
  uint64_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tessera::worker
