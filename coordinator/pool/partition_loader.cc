#include "coordinator/pool/partition_loader.h"

#include <map>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/sha256.h"

namespace tessera::coordinator {

LoadablePartition LoadablePartition::FromBytes(std::shared_ptr<const std::string> bytes,
                                               worker::PartitionHeader header) {
  const std::string empty;
  const std::string& data = bytes == nullptr ? empty : *bytes;
  header.set_partition_id(Sha256Hex(data));
  header.set_total_bytes(data.size());
  return LoadablePartition{.header = std::move(header), .bytes = std::move(bytes)};
}

struct PartitionLoader::State {
  struct WorkerEntry {
    uint64_t generation = 0;
    std::set<std::string> loaded;
    // Pushes in flight by (partition id, generation), with their waiters.
    std::map<std::pair<std::string, uint64_t>, std::vector<Done>> pending;
  };

  // The entry of `worker`, reset if the worker has a newer generation.
  WorkerEntry& EntryFor(uint64_t worker_id, uint64_t generation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    WorkerEntry& entry = workers[worker_id];
    if (entry.generation < generation) {
      entry.generation = generation;
      entry.loaded.clear();
    }
    return entry;
  }

  mutable absl::Mutex mu;
  absl::flat_hash_map<uint64_t, WorkerEntry> workers ABSL_GUARDED_BY(mu);
  uint64_t pushes ABSL_GUARDED_BY(mu) = 0;
};

PartitionLoader::PartitionLoader() : state_(std::make_shared<State>()) {}

void PartitionLoader::EnsureLoaded(const std::shared_ptr<WorkerHandle>& worker, const LoadablePartition& partition,
                                   absl::Time deadline, Done done) {
  const uint64_t generation = worker->generation();
  const std::string& id = partition.id();
  bool loaded = false;
  {
    absl::MutexLock lock(&state_->mu);
    State::WorkerEntry& entry = state_->EntryFor(worker->id(), generation);
    loaded = entry.loaded.contains(id);
    if (!loaded) {
      auto [it, first] = entry.pending.try_emplace(std::make_pair(id, generation));
      it->second.push_back(std::move(done));
      if (!first) return;  // the push in flight answers this caller too
      ++state_->pushes;
    }
  }
  if (loaded) {
    done(absl::OkStatus());
    return;
  }
  const absl::Time started = absl::Now();
  const int64_t bytes = partition.bytes == nullptr ? 0 : static_cast<int64_t>(partition.bytes->size());
  worker->client().LoadPartition(
      partition.header, partition.bytes, deadline,
      [state = state_, worker, id, generation, started, bytes](absl::StatusOr<worker::LoadPartitionResponse> response) {
        if (response.ok() && !response->already_loaded()) {
          worker->RecordLinkTransfer(
              bytes, absl::Now() - started - absl::Microseconds(static_cast<int64_t>(response->load_time_us())));
        }
        std::vector<Done> waiters;
        {
          absl::MutexLock lock(&state->mu);
          State::WorkerEntry& entry = state->workers[worker->id()];
          auto it = entry.pending.find(std::make_pair(id, generation));
          if (it != entry.pending.end()) {
            waiters = std::move(it->second);
            entry.pending.erase(it);
          }
          // Recorded only if no restart was seen meanwhile: the push may
          // have reached the old process.
          if (response.ok() && entry.generation == generation && worker->generation() == generation) {
            entry.loaded.insert(id);
          }
        }
        const absl::Status status = response.status();
        for (Done& waiter : waiters) waiter(status);
      });
}

void PartitionLoader::MarkNotLoaded(const WorkerHandle& worker, const std::string& partition_id) {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->workers.find(worker.id());
  if (it != state_->workers.end()) it->second.loaded.erase(partition_id);
}

bool PartitionLoader::IsLoaded(const WorkerHandle& worker, const std::string& partition_id) const {
  const uint64_t generation = worker.generation();
  absl::MutexLock lock(&state_->mu);
  auto it = state_->workers.find(worker.id());
  return it != state_->workers.end() && it->second.generation == generation &&
         it->second.loaded.contains(partition_id);
}

std::vector<std::string> PartitionLoader::LoadedOn(const WorkerHandle& worker) const {
  const uint64_t generation = worker.generation();
  absl::MutexLock lock(&state_->mu);
  auto it = state_->workers.find(worker.id());
  if (it == state_->workers.end() || it->second.generation != generation) return {};
  return std::vector<std::string>(it->second.loaded.begin(), it->second.loaded.end());
}

void PartitionLoader::ForgetWorker(const WorkerHandle& worker) {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->workers.find(worker.id());
  // Pushes in flight still find their waiters: keep an entry while any.
  if (it != state_->workers.end() && it->second.pending.empty()) state_->workers.erase(it);
  else if (it != state_->workers.end()) it->second.loaded.clear();
}

uint64_t PartitionLoader::pushes_started() const {
  absl::MutexLock lock(&state_->mu);
  return state_->pushes;
}

}  // namespace tessera::coordinator
