// The PieceRunner that runs pieces on the cluster's workers.
//
// Where a piece runs:
//   DATA      replica r of the current healthy workers (sorted by address),
//             weighted by each worker's measured capacity for the partition;
//   PIPELINE / HYBRID
//             stage s uses R workers: positions (s*R + r) mod W of the
//             healthy workers, the least loaded of them for each piece.
// A worker's partition is pushed on first use (PartitionLoader) and again
// after the worker restarted or evicted it (NOT_FOUND from Execute).
//
// Failures: a worker failure (UNAVAILABLE, DEADLINE_EXCEEDED, ...; see
// WorkerPool::IsWorkerFailure) marks the worker unhealthy and the piece is
// replayed on another worker (stage RPCs are idempotent), up to
// Options::max_attempts and never past the request's deadline (then
// DEADLINE_EXCEEDED). A piece in flight on a worker whose health poll gets
// no answer (hung, cut off: WorkerHandle::LosePieces) is replayed at once
// without waiting for its own answer, which is ignored if it comes; its
// call is cancelled on the wire (WorkerClient::ExecuteCancellable), so the
// worker, if it comes back, drops the piece and the call holds nothing
// until the deadline. The
// pool gives pieces up only while another worker is healthy (worker_pool.h);
// a piece that already failed on the other healthy workers keeps waiting
// for its own answer too (that check scans the pool only for such pieces). Request
// errors (INVALID_ARGUMENT, ...) are returned at once. Execute timings feed
// the pool's capacity estimates. Every replay counts on Options::retries.
//
// Retry budget (Options::retry_budget, retry_budget.h): every piece's first
// attempt deposits, every replay on another worker withdraws; when the
// budget is empty the failure is returned as UNAVAILABLE, its message
// ending "(not retried: the retry budget is exhausted)", and counted on
// Options::retries_refused. A push again after NOT_FOUND (a restarted
// worker) is not charged. Chains (RunChain) are not charged either: the
// executor replays a failed chain by RELAY, whose pieces are.
//
// DIRECT forwarding (RunChain): one chained Execute per micro-batch, sent to
// stage 0's worker, which forwards to the others. A chain given up (a hop's
// worker lost, as above) has its call to stage 0 cancelled likewise; the
// hops that worker already forwarded to end at the chain's deadline.
//
// Thread-safe. Borrowed: the pool and loader must outlive it.
#pragma once

#include <memory>
#include <vector>

#include "coordinator/pool/partition_loader.h"
#include "coordinator/pool/worker_pool.h"
#include "coordinator/scheduler/piece_runner.h"
#include "coordinator/scheduler/retry_budget.h"
#include "prometheus/counter.h"

namespace tessera::coordinator {

class ClusterPieceRunner : public PieceRunner {
 public:
  struct Options {
    int max_attempts = 3;
    absl::Duration prepare_deadline = absl::Seconds(120);  // per partition push in Prepare
    // Pieces tried again (another worker, or a push after NOT_FOUND); null:
    // not counted. Borrowed.
    prometheus::Counter* retries = nullptr;
    // Bounds replays on other workers (each first attempt deposits, each
    // such replay withdraws); null: unbounded. Borrowed.
    RetryBudget* retry_budget = nullptr;
    // Replays the budget refused; null: not counted. Borrowed.
    prometheus::Counter* retries_refused = nullptr;
  };

  ClusterPieceRunner(WorkerPool* pool, PartitionLoader* loader, Options options)
      : pool_(pool), loader_(loader), options_(options) {}

  std::vector<double> ReplicaWeights(const Deployment& deployment, int stage) override;
  void Prepare(const Deployment& deployment) override;
  void Run(const Deployment& deployment, int stage, int replica, std::shared_ptr<const worker::ExecuteRequest> request,
           absl::Time deadline, Done done) override;
  // Each stage's worker is the least loaded of Candidates(stage); every
  // hop's partition is pushed (EnsureLoaded) before the chain is sent. A
  // failure of stage 0's worker itself is reported to the pool as in Run;
  // failures further down (named in the message, see worker.proto) are not
  // (the RELAY replay finds them), except that a downstream NOT_FOUND marks
  // that hop's partition as not loaded so the replay pushes it again. A
  // failed chain (but for INVALID_ARGUMENT, which the executor does not
  // replay) counts one on Options::retries.
  void RunChain(const Deployment& deployment, std::shared_ptr<worker::ExecuteRequest> request, absl::Time deadline,
                Done done) override;

 private:
  struct Attempt;
  struct Dispatch;
  // The workers that may run `stage` now, in replica order.
  std::vector<WorkerPool::WorkerPtr> Candidates(const Deployment& deployment, int stage) const;
  void Try(std::shared_ptr<Attempt> attempt);
  // Try again after a failure (counted as a retry once dispatched);
  // `budgeted`: asks the retry budget first.
  void Retry(std::shared_ptr<Attempt> attempt, bool budgeted = true);

  WorkerPool* const pool_;
  PartitionLoader* const loader_;
  const Options options_;
};

}  // namespace tessera::coordinator
