// What a worker does, without gRPC: load partitions into the cache, run
// pieces of work on them, report status, unload. worker_service.h is the
// thin gRPC layer over it.
//
// Loading and executing run on the ExecutionPool, never on the caller's
// (gRPC) thread; their results arrive through a completion callback, called
// exactly once, on a pool thread (or on the caller's thread when the work is
// refused up front).
//
// Metrics: Executes (outcome, times, in flight) and the cache are recorded
// on Options::metrics (worker_metrics.h), or on private metrics when none
// are given.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/worker.pb.h"
#include "common/execution_pool.h"
#include "worker/partition_cache.h"
#include "worker/partition_upload.h"
#include "worker/peer_client.h"
#include "worker/worker_metrics.h"

namespace tessera::worker {

class WorkerCore {
 public:
  struct Options {
    uint64_t memory_budget_bytes = 0;  // 0: unbounded
    int intra_op_threads = 0;          // per Execute; 0: all cores
    int max_concurrent_executes = 1;
    int64_t queue_limit = 256;
    std::string version = "dev";
    // Borrowed; must outlive the core. Null: metrics nothing exposes.
    WorkerMetrics* metrics = nullptr;
    // Borrowed; must outlive the core. How chained Executes reach the next
    // stage's worker. Null: chained Executes fail with FAILED_PRECONDITION.
    PeerClient* peers = nullptr;
  };

  explicit WorkerCore(const Options& options);

  PartitionCache& cache() { return cache_; }
  WorkerMetrics& metrics() { return *metrics_; }

  // Header checks at the start of a LoadPartition stream: a valid header
  // that fits the budget. When the partition is already cached, fills
  // `already_loaded` and returns OK with *done = true.
  absl::Status BeginLoad(const PartitionHeader& header, LoadPartitionResponse* already_loaded, bool* done);

  // Checks the completed upload and loads the engine (on the pool).
  void FinishLoad(PartitionUpload upload, LoadPartitionResponse* response,
                  std::function<void(absl::Status)> done);

  // Runs request on its partition (NOT_FOUND when not cached).
  //
  // Deadline: the earlier of `deadline` (the call's, from gRPC) and the
  // request's deadline_unix_us (absolute wall clock; 0: none). A piece past
  // it when it arrives, or once it leaves the queue, is not run:
  // DEADLINE_EXCEEDED, with a message saying where it was. `cancelled` is
  // polled before the work starts too (client gone: CANCELLED).
  // The input tensors' contents are moved out of `request` into the engine
  // (no copy); the rest of it stays as it was.
  //
  // A chained request (forward or return_names set, see worker.proto) is
  // then forwarded to the next hop through Options::peers with that
  // (earlier) deadline, as the call's deadline and as the next request's
  // deadline_unix_us, and answered with the final hop's outputs and every
  // hop's timings; the execution slot is free while the next hop runs. A
  // downstream failure keeps its code, its message names the hop.
  void Execute(ExecuteRequest* request, ExecuteResponse* response, std::function<bool()> cancelled,
               absl::Time deadline, std::function<void(absl::Status)> done);
  // The same without a deadline for the next hops (none).
  void Execute(ExecuteRequest* request, ExecuteResponse* response, std::function<bool()> cancelled,
               std::function<void(absl::Status)> done) {
    Execute(request, response, std::move(cancelled), absl::InfiniteFuture(), std::move(done));
  }

  // Times every node of a loaded partition (Engine::Trace, `runs` runs,
  // each node's fastest) on random sample inputs shaped by `request` (see
  // ProfileRequest in worker.proto). Runs on the pool like Execute, so it
  // queues behind (and never overlaps more than the slots allow with)
  // serving work; it is not counted as an Execute. NOT_FOUND when the
  // partition is not cached; INVALID_ARGUMENT for runs outside 1..kMaxProfileRuns,
  // an unknown input name, a shape of the wrong rank, a static dimension
  // that differs, a negative dimension or a sample over 1 GiB.
  static constexpr uint32_t kMaxProfileRuns = 20;
  void Profile(const ProfileRequest& request, ProfileResponse* response, std::function<void(absl::Status)> done);

  // executes_in_flight and executes_queued count Executes only: partition
  // loads share the pool but are not counted.
  StatusResponse Status() const;
  UnloadResponse Unload(const UnloadRequest& request);

 private:
  absl::Status RunPiece(const LoadedPartition& partition, ExecuteRequest* request, ExecuteResponse* response) const;
  // After this worker's stage of a chained request: the tensors a later hop
  // or the answer needs (copied out of `request` before RunPiece) joined with
  // the carried ones and the outputs; then the call to the next hop, or the
  // answer when this is the last.
  void ContinueChain(ExecuteRequest* request, ExecuteResponse* response, std::vector<Tensor> kept,
                     uint64_t bytes_received, absl::Time deadline, std::function<void(absl::Status)> done);
  static absl::Status RunProfile(const LoadedPartition& partition, const ProfileRequest& request,
                                 ProfileResponse* response);
  void RecordThroughput(absl::Time end, int64_t samples, absl::Duration compute, bool ok);

  const Options options_;
  const std::string boot_id_;
  const absl::Time started_;
  std::unique_ptr<WorkerMetrics> owned_metrics_;  // when Options::metrics is null
  WorkerMetrics* const metrics_;
  PartitionCache cache_;
  ExecutionPool pool_;

  struct Sample {
    absl::Time end;
    int64_t samples;
    double compute_seconds;
  };
  mutable absl::Mutex mu_;
  std::deque<Sample> recent_ ABSL_GUARDED_BY(mu_);  // the last kThroughputWindow
  uint64_t executes_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t executes_failed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t executes_queued_ ABSL_GUARDED_BY(mu_) = 0;   // submitted, not started
  int64_t executes_running_ ABSL_GUARDED_BY(mu_) = 0;  // started, not done
};

}  // namespace tessera::worker
