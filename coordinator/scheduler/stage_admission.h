// Keeps pipeline stages busy without flooding them: a PieceRunner decorator
// that lets at most `in_flight_per_replica` pieces of one pipeline stage
// run at once per replica of that stage, and holds the rest here, in arrival
// order, until a piece of that stage finishes.
//
// Why: a PIPELINE request sends all its micro-batches to stage 1 at once,
// and other requests' pieces are in flight too. Without a bound every piece
// would queue on the stage's worker (whose queue is bounded: beyond it the
// worker answers RESOURCE_EXHAUSTED). With it the worker always has the
// next piece queued behind the one it runs (so it never idles), while the
// backlog waits in the coordinator, where a piece that waited past its
// deadline is failed without being sent. The time a piece waited here is
// added to its answer's queue_time_us, so a stage's queue time is its
// whole wait before running.
//
// Only multi-stage deployments (PIPELINE, HYBRID) are bounded; DATA pieces
// pass straight through (their replica is chosen by the request executor).
// Beyond `max_waiting_per_stage` waiting pieces, Run answers
// RESOURCE_EXHAUSTED at once, naming the stage and the model.
//
// Thread-safe. Completions that arrive while pieces are being admitted do
// not recurse: one caller admits for the stage at a time.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/scheduler/piece_runner.h"

namespace tessera::coordinator {

class StageAdmission : public PieceRunner {
 public:
  struct Options {
    // Pieces of one stage in flight per replica of it (>= 1).
    int in_flight_per_replica = 4;
    // Pieces of one stage waiting here before Run refuses more.
    int max_waiting_per_stage = 4096;
  };

  // `inner` is borrowed and must outlive this object and every piece.
  StageAdmission(PieceRunner* inner, Options options);
  ~StageAdmission() override;

  std::vector<double> ReplicaWeights(const Deployment& deployment, int stage) override {
    return inner_->ReplicaWeights(deployment, stage);
  }
  void Prepare(const Deployment& deployment) override { inner_->Prepare(deployment); }
  void Run(const Deployment& deployment, int stage, int replica,
           std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline, Done done) override;
  // A chain occupies every stage at once: it is admitted under stage 1's
  // bound, and its wait here is added to its first hop's queue time.
  void RunChain(const Deployment& deployment, std::shared_ptr<worker::ExecuteRequest> request, absl::Time deadline,
                Done done) override;

  // Pieces of the stage whose partition is `partition_id` waiting here, and
  // in flight (for tests and status).
  int waiting(const std::string& partition_id) const;
  int in_flight(const std::string& partition_id) const;

 private:
  struct Piece {
    const Deployment* deployment;
    int stage;
    int replica;
    std::shared_ptr<const worker::ExecuteRequest> request;
    absl::Time deadline;
    Done done;
    absl::Time arrived;
    std::shared_ptr<worker::ExecuteRequest> chain;  // set: a DIRECT chain (RunChain) instead of `request`
  };

  // Queues `piece` for its stage (or refuses it when the stage is full) and
  // admits what fits.
  void Enqueue(Piece piece);
  struct Stage {
    int in_flight = 0;
    bool admitting = false;  // a caller is in Admit for this stage
    std::deque<Piece> waiting;
  };

  // Sends waiting pieces of `stage` while it has room; `stage->admitting`
  // is set by the caller and cleared here when it stops.
  void Admit(Stage* stage, int limit);
  void Finished(Stage* stage, int limit);

  PieceRunner* const inner_;
  const Options options_;
  mutable absl::Mutex mu_;
  // By stage partition id; entries live as long as this object.
  absl::flat_hash_map<std::string, std::unique_ptr<Stage>> stages_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::coordinator
