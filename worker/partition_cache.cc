#include "worker/partition_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::worker {

LoadedPartition::LoadedPartition(PartitionHeader header, std::unique_ptr<engine::Engine> engine,
                                 uint64_t model_bytes, absl::Time loaded_at)
    : header_(std::move(header)),
      engine_(std::move(engine)),
      model_bytes_(model_bytes),
      loaded_at_(loaded_at),
      last_used_(loaded_at) {}

void LoadedPartition::RecordExecute(absl::Time when, absl::Duration compute) const {
  constexpr double kWeight = 0.2;  // of the newest sample
  const double us = absl::ToDoubleMicroseconds(compute);
  absl::MutexLock lock(&mu_);
  last_used_ = when;
  mean_compute_us_ = execute_count_ == 0 ? us : (1 - kWeight) * mean_compute_us_ + kWeight * us;
  ++execute_count_;
}

void LoadedPartition::FillStatus(PartitionStatus* status) const {
  status->set_partition_id(header_.partition_id());
  status->set_model_name(header_.model_name());
  status->set_model_version(header_.model_version());
  status->set_stage_index(header_.stage_index());
  status->set_stage_count(header_.stage_count());
  status->set_model_bytes(model_bytes_);
  status->set_memory_bytes(memory_bytes());
  status->set_loaded_at_unix_ms(absl::ToUnixMillis(loaded_at_));
  absl::MutexLock lock(&mu_);
  status->set_last_used_unix_ms(absl::ToUnixMillis(last_used_));
  status->set_execute_count(execute_count_);
  status->set_mean_compute_time_us(static_cast<uint64_t>(mean_compute_us_));
}

PartitionCache::PartitionCache(uint64_t budget_bytes, WorkerMetrics* metrics)
    : budget_bytes_(budget_bytes), metrics_(metrics) {
  if (metrics_ != nullptr) metrics_->cache_budget_bytes().Set(static_cast<double>(budget_bytes_));
}

void PartitionCache::UpdateGaugesLocked() {
  if (metrics_ == nullptr) return;
  metrics_->partitions_loaded().Set(static_cast<double>(lru_.size()));
  metrics_->cache_bytes().Set(static_cast<double>(in_use_));
}

absl::Status PartitionCache::CheckFits(uint64_t bytes) const {
  if (budget_bytes_ != 0 && bytes > budget_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("partition of ", bytes,
                                                     " bytes is larger than this worker's memory budget of ",
                                                     budget_bytes_, " bytes (--worker-memory-mb)"));
  }
  return absl::OkStatus();
}

std::shared_ptr<const LoadedPartition> PartitionCache::Find(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return *it->second;
}

absl::Status PartitionCache::Insert(std::shared_ptr<const LoadedPartition> partition) {
  if (absl::Status fits = CheckFits(partition->memory_bytes()); !fits.ok()) return fits;
  absl::MutexLock lock(&mu_);
  if (auto it = by_id_.find(partition->id()); it != by_id_.end()) {
    in_use_ -= (*it->second)->memory_bytes();
    lru_.erase(it->second);
    by_id_.erase(it);
  }
  while (budget_bytes_ != 0 && !lru_.empty() && in_use_ + partition->memory_bytes() > budget_bytes_) {
    in_use_ -= lru_.back()->memory_bytes();
    by_id_.erase(lru_.back()->id());
    lru_.pop_back();
    if (metrics_ != nullptr) metrics_->evictions().Increment();
  }
  in_use_ += partition->memory_bytes();
  const std::string id = partition->id();
  lru_.push_front(std::move(partition));
  by_id_[id] = lru_.begin();
  UpdateGaugesLocked();
  return absl::OkStatus();
}

uint64_t PartitionCache::Remove(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return 0;
  const uint64_t freed = (*it->second)->memory_bytes();
  in_use_ -= freed;
  lru_.erase(it->second);
  by_id_.erase(it);
  UpdateGaugesLocked();
  return freed;
}

uint64_t PartitionCache::memory_in_use() const {
  absl::MutexLock lock(&mu_);
  return in_use_;
}

std::vector<std::shared_ptr<const LoadedPartition>> PartitionCache::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return {lru_.begin(), lru_.end()};
}

}  // namespace tessera::worker
