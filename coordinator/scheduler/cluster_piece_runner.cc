#include "coordinator/scheduler/cluster_piece_runner.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace tessera::coordinator {

struct ClusterPieceRunner::Attempt {
  const Deployment* deployment;  // kept alive by the request executor until done
  int stage;
  int replica;
  std::shared_ptr<const worker::ExecuteRequest> request;
  absl::Time deadline;
  Done done;
  int attempts = 0;
  std::vector<uint64_t> failed;  // ids of workers that failed this piece
  absl::Status last_failure;
  bool pushed_after_not_found = false;
  bool retrying = false;  // the next dispatch replays the piece
};

std::vector<WorkerPool::WorkerPtr> ClusterPieceRunner::Candidates(const Deployment& deployment, int stage) const {
  std::vector<WorkerPool::WorkerPtr> healthy = pool_->Healthy();  // sorted by address
  if (deployment.strategy == Strategy::kData || healthy.empty()) return healthy;
  const int w = static_cast<int>(healthy.size());
  const int replicas = std::max(deployment.replicas, 1);
  std::vector<WorkerPool::WorkerPtr> placed;
  for (int r = 0; r < replicas && r < w; ++r) placed.push_back(healthy[(stage * replicas + r) % w]);
  return placed;
}

std::vector<double> ClusterPieceRunner::ReplicaWeights(const Deployment& deployment, int stage) {
  std::vector<double> weights;
  const std::string& partition = deployment.stages[stage].id;
  for (const WorkerPool::WorkerPtr& worker : Candidates(deployment, stage)) {
    weights.push_back(pool_->Capacity(worker, partition).samples_per_second);
  }
  return weights;
}

void ClusterPieceRunner::Prepare(const Deployment& deployment) {
  const absl::Time deadline = absl::Now() + options_.prepare_deadline;
  for (int stage = 0; stage < static_cast<int>(deployment.stages.size()); ++stage) {
    const StagePartition& partition = deployment.stages[stage];
    for (const WorkerPool::WorkerPtr& worker : Candidates(deployment, stage)) {
      loader_->EnsureLoaded(worker, LoadablePartition{partition.header, partition.onnx_bytes}, deadline,
                            [](absl::Status) {});
    }
  }
}

void ClusterPieceRunner::Run(const Deployment& deployment, int stage, int replica,
                             std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline, Done done) {
  auto attempt = std::make_shared<Attempt>();
  attempt->deployment = &deployment;
  attempt->stage = stage;
  attempt->replica = replica;
  attempt->request = std::move(request);
  attempt->deadline = deadline;
  attempt->done = std::move(done);
  if (options_.retry_budget != nullptr) options_.retry_budget->Deposit();
  Try(std::move(attempt));
}

void ClusterPieceRunner::Retry(std::shared_ptr<Attempt> attempt, bool budgeted) {
  // Only replays that may still run ask the budget (Try ends the others).
  if (budgeted && options_.retry_budget != nullptr && attempt->attempts < options_.max_attempts &&
      absl::Now() < attempt->deadline && !options_.retry_budget->TryWithdraw()) {
    if (options_.retries_refused != nullptr) options_.retries_refused->Increment();
    const absl::Status& last = attempt->last_failure;
    return attempt->done(absl::UnavailableError(
        absl::StrCat(last.message(), " (not retried: the retry budget is exhausted)")));
  }
  attempt->retrying = true;
  Try(std::move(attempt));
}

// One dispatch of a piece to one worker: settled once, by its answer, by a
// failed push, or by the pool giving up on the worker (LosePieces).
struct ClusterPieceRunner::Dispatch {
  std::atomic<bool> settled{false};
  InFlightTicket ticket;
  // Cancels the Execute call on the wire when the piece is given up.
  const std::shared_ptr<CallCanceller> canceller = std::make_shared<CallCanceller>();
  bool Settle() { return !settled.exchange(true); }
};

void ClusterPieceRunner::Try(std::shared_ptr<Attempt> attempt) {
  const Deployment& d = *attempt->deployment;
  const StagePartition& partition = d.stages[attempt->stage];
  if (attempt->attempts >= options_.max_attempts || absl::Now() >= attempt->deadline) {
    absl::Status failure = attempt->last_failure.ok()
                               ? absl::DeadlineExceededError("the request's deadline passed")
                               : attempt->last_failure;
    if (absl::Now() >= attempt->deadline && failure.code() != absl::StatusCode::kDeadlineExceeded) {
      failure = absl::DeadlineExceededError(
          absl::StrCat("the request's deadline passed; last failure: ", failure.message()));
    }
    return attempt->done(absl::Status(failure.code(), absl::StrCat(failure.message(), " (after ", attempt->attempts,
                                                                   " attempts)")));
  }
  // Choose: the assigned replica if it is still there and has not failed
  // this piece, else the least loaded candidate that has not failed it.
  std::vector<WorkerPool::WorkerPtr> candidates = Candidates(d, attempt->stage);
  auto failed = [&](const WorkerPool::WorkerPtr& w) {
    return std::find(attempt->failed.begin(), attempt->failed.end(), w->id()) != attempt->failed.end();
  };
  WorkerPool::WorkerPtr worker;
  if (attempt->replica >= 0 && attempt->replica < static_cast<int>(candidates.size()) &&
      !failed(candidates[attempt->replica])) {
    worker = candidates[attempt->replica];
  } else {
    for (const WorkerPool::WorkerPtr& c : candidates) {
      if (failed(c)) continue;
      if (worker == nullptr || c->in_flight() < worker->in_flight()) worker = c;
    }
  }
  if (worker == nullptr) {
    // Every placed replica failed this piece: any other healthy worker may
    // take the stage (its partition is pushed there on demand).
    for (const WorkerPool::WorkerPtr& c : pool_->Healthy()) {
      if (!failed(c) && (worker == nullptr || c->in_flight() < worker->in_flight())) worker = c;
    }
  }
  if (worker == nullptr) {
    absl::Status failure = absl::UnavailableError(absl::StrCat("no healthy worker can run stage ", attempt->stage + 1,
                                                               " of ", d.model_name));
    if (!attempt->last_failure.ok()) {
      failure = absl::Status(attempt->last_failure.code(),
                             absl::StrCat(attempt->last_failure.message(), "; no other healthy worker is left"));
    }
    return attempt->done(failure);
  }
  ++attempt->attempts;
  if (attempt->retrying && options_.retries != nullptr) options_.retries->Increment();
  attempt->retrying = false;
  LoadablePartition loadable{partition.header, partition.onnx_bytes};
  auto dispatch = std::make_shared<Dispatch>();
  // The pool gave up on the worker (a failed health poll: dead, hung or cut
  // off): replay now; the call's own answer, if it ever comes, is ignored.
  // Holds the dispatch weakly: the ticket inside it owns this callback.
  std::weak_ptr<Dispatch> weak = dispatch;
  const uint64_t worker_id = worker->id();
  // The workers that had failed this piece before this dispatch (copied:
  // the attempt belongs to whoever settles the dispatch).
  dispatch->ticket = worker->StartPiece([this, attempt, weak, worker_id,
                                         failed_before = attempt->failed](const absl::Status& why) {
    // The pool gives pieces up only when another worker is healthy
    // (worker_pool.h). If this piece had failed elsewhere before, that
    // worker may be the only other one: with no healthy worker left that
    // has not failed it, keep waiting for this one's own answer (a slow
    // worker may still give it; a hung one ends at the deadline) rather
    // than fail the piece at once.
    if (!failed_before.empty()) {
      const std::vector<WorkerPool::WorkerPtr> healthy = pool_->Healthy();
      if (std::none_of(healthy.begin(), healthy.end(), [&](const WorkerPool::WorkerPtr& w) {
            return w->id() != worker_id &&
                   std::find(failed_before.begin(), failed_before.end(), w->id()) == failed_before.end();
          })) {
        return;
      }
    }
    std::shared_ptr<Dispatch> d = weak.lock();
    if (d == nullptr || !d->Settle()) return;
    // The hung call ends now (CANCELLED, ignored) instead of at its deadline.
    d->canceller->Cancel();
    attempt->failed.push_back(worker_id);
    attempt->last_failure = why;
    Retry(attempt);
  });
  loader_->EnsureLoaded(worker, loadable, attempt->deadline, [this, attempt, worker, dispatch](absl::Status loaded) {
    if (!loaded.ok()) {
      dispatch->ticket.Release();
      if (!dispatch->Settle()) return;  // replayed elsewhere already
      if (WorkerPool::IsWorkerFailure(loaded)) pool_->ReportFailure(worker, loaded);
      if (!WorkerPool::IsWorkerFailure(loaded) && loaded.code() != absl::StatusCode::kResourceExhausted) {
        return attempt->done(absl::Status(loaded.code(), absl::StrCat("loading the partition on ", worker->address(),
                                                                      ": ", loaded.message())));
      }
      attempt->failed.push_back(worker->id());
      attempt->last_failure = absl::Status(loaded.code(), absl::StrCat(worker->address(), ": ", loaded.message()));
      return Retry(attempt);
    }
    if (dispatch->settled.load()) {
      dispatch->ticket.Release();
      return;  // given up while the partition was pushed
    }
    worker->client().ExecuteCancellable(
        attempt->request, attempt->deadline, dispatch->canceller,
        [this, attempt, worker, dispatch](absl::StatusOr<worker::ExecuteResponse> response) {
          const bool mine = dispatch->Settle();
          dispatch->ticket.Release();
          if (!mine) return;  // replayed elsewhere already
          if (response.ok()) {
            int64_t samples = 1;
            const auto& inputs = attempt->request->inputs();
            if (!inputs.empty() && inputs[0].shape_size() > 0) samples = inputs[0].shape(0);
            pool_->RecordExecute(worker, attempt->request->partition_id(), samples, response->compute_time_us());
            return attempt->done(std::move(response));
          }
          const absl::Status& status = response.status();
          if (status.code() == absl::StatusCode::kNotFound && !attempt->pushed_after_not_found) {
            // Restarted or evicted: push again and replay on the same worker
            // (not charged to the retry budget: nothing is sick).
            loader_->MarkNotLoaded(*worker, attempt->request->partition_id());
            attempt->pushed_after_not_found = true;
            --attempt->attempts;
            attempt->replica = -1;
            return Retry(attempt, /*budgeted=*/false);
          }
          if (WorkerPool::IsWorkerFailure(status) || status.code() == absl::StatusCode::kResourceExhausted) {
            if (WorkerPool::IsWorkerFailure(status)) pool_->ReportFailure(worker, status);
            attempt->failed.push_back(worker->id());
            attempt->last_failure = absl::Status(status.code(), absl::StrCat(worker->address(), ": ", status.message()));
            return Retry(attempt);
          }
          attempt->done(absl::Status(status.code(), absl::StrCat(status.message(), " (worker ", worker->address(), ")")));
        });
  });
}

namespace {

constexpr char kForwardFailurePrefix[] = "forwarding to stage ";

// The stage and address a forwarded failure names ("forwarding to stage S at
// ADDRESS: ..."); false when the message is not one.
bool ParseForwardFailure(absl::string_view message, int* stage, std::string* address) {
  if (!absl::ConsumePrefix(&message, kForwardFailurePrefix)) return false;
  const size_t at = message.find(" at ");
  if (at == absl::string_view::npos || !absl::SimpleAtoi(message.substr(0, at), stage)) return false;
  message.remove_prefix(at + 4);
  const size_t colon = message.find(": ");
  if (colon == absl::string_view::npos) return false;
  *address = std::string(message.substr(0, colon));
  return true;
}

}  // namespace

void ClusterPieceRunner::RunChain(const Deployment& deployment, std::shared_ptr<worker::ExecuteRequest> request,
                                  absl::Time deadline, Done done) {
  const int stages = static_cast<int>(deployment.stages.size());
  if (request->forward_size() != stages - 1) {
    return done(absl::InternalError(absl::StrCat("a chained piece of ", deployment.model_name, " has ",
                                                 request->forward_size(), " hops for ", stages, " stages")));
  }
  // Where each stage runs: the least loaded of its candidates.
  std::vector<WorkerPool::WorkerPtr> chosen;
  for (int s = 0; s < stages; ++s) {
    WorkerPool::WorkerPtr worker;
    for (const WorkerPool::WorkerPtr& c : Candidates(deployment, s)) {
      if (worker == nullptr || c->in_flight() < worker->in_flight()) worker = c;
    }
    if (worker == nullptr) {
      return done(absl::UnavailableError(absl::StrCat("no healthy worker can run stage ", s + 1, " of ",
                                                      deployment.model_name)));
    }
    chosen.push_back(worker);
    if (s > 0) {
      worker::ForwardHop* hop = request->mutable_forward(s - 1);
      hop->set_address(worker->address());
      hop->set_tls_server_name(worker->tls_server_name());
    }
  }
  // Every hop's partition in place, then the chain goes to stage 0.
  struct Join {
    absl::Mutex mu;
    int pending;
    absl::Status failure;
    std::vector<InFlightTicket> tickets;
    Done done;
    // Answered (or given up): `done` is called by whoever settles first.
    std::atomic<bool> settled{false};
    bool Settle() { return !settled.exchange(true); }
    // Cancels the chain's call to stage 0 when the chain is given up.
    const std::shared_ptr<CallCanceller> canceller = std::make_shared<CallCanceller>();
  };
  auto join = std::make_shared<Join>();
  join->pending = stages;
  join->done = std::move(done);
  // A hop's worker that misses its health poll while another worker is
  // healthy (the pool gives its pieces up only then, worker_pool.h) ends
  // the chain at once (the executor replays it by RELAY); the chain's own
  // answer is then ignored. A lone worker's chain keeps waiting for it.
  std::weak_ptr<Join> weak = join;
  for (const WorkerPool::WorkerPtr& worker : chosen) {
    join->tickets.push_back(worker->StartPiece([this, weak](const absl::Status& why) {
      std::shared_ptr<Join> j = weak.lock();
      if (j == nullptr || !j->Settle()) return;
      j->canceller->Cancel();
      if (options_.retries != nullptr) options_.retries->Increment();
      Done done = std::move(j->done);
      done(why);
    }));
  }
  auto dispatch = [this, &deployment, request, deadline, chosen, join]() {
    chosen[0]->client().ExecuteCancellable(
        request, deadline, join->canceller,
        [this, &deployment, request, chosen, join](absl::StatusOr<worker::ExecuteResponse> response) {
          for (InFlightTicket& ticket : join->tickets) ticket.Release();
          if (!join->Settle()) return;
          Done done = std::move(join->done);
          if (response.ok()) {
            int64_t samples = 1;
            if (!request->inputs().empty() && request->inputs(0).shape_size() > 0) samples = request->inputs(0).shape(0);
            for (int s = 0; s < response->hops_size() && s < static_cast<int>(chosen.size()); ++s) {
              pool_->RecordExecute(chosen[s], deployment.stages[s].id, samples, response->hops(s).compute_time_us());
            }
            return done(std::move(response));
          }
          const absl::Status& status = response.status();
          // The executor replays every failed chain by RELAY but for
          // request errors: counted as one retry here.
          if (status.code() != absl::StatusCode::kInvalidArgument && options_.retries != nullptr) {
            options_.retries->Increment();
          }
          int stage = 0;
          std::string address;
          if (ParseForwardFailure(status.message(), &stage, &address)) {
            if (status.code() == absl::StatusCode::kNotFound && stage > 0 && stage < static_cast<int>(chosen.size()) &&
                chosen[stage]->address() == address) {
              loader_->MarkNotLoaded(*chosen[stage], deployment.stages[stage].id);
            }
            return done(status);
          }
          // Stage 0's worker itself.
          if (status.code() == absl::StatusCode::kNotFound) {
            loader_->MarkNotLoaded(*chosen[0], deployment.stages[0].id);
          } else if (WorkerPool::IsWorkerFailure(status)) {
            pool_->ReportFailure(chosen[0], status);
          }
          done(absl::Status(status.code(), absl::StrCat(status.message(), " (worker ", chosen[0]->address(), ")")));
        });
  };
  for (int s = 0; s < stages; ++s) {
    const StagePartition& partition = deployment.stages[s];
    const WorkerPool::WorkerPtr& worker = chosen[s];
    loader_->EnsureLoaded(
        worker, LoadablePartition{partition.header, partition.onnx_bytes}, deadline,
        [this, join, worker, s, dispatch](absl::Status loaded) {
          bool last = false;
          absl::Status failure;
          {
            absl::MutexLock lock(&join->mu);
            if (!loaded.ok() && join->failure.ok()) {
              join->failure = absl::Status(loaded.code(), absl::StrCat("loading stage ", s + 1, " on ",
                                                                       worker->address(), ": ", loaded.message()));
            }
            last = --join->pending == 0;
            failure = join->failure;
          }
          if (!loaded.ok() && WorkerPool::IsWorkerFailure(loaded)) pool_->ReportFailure(worker, loaded);
          if (!last) return;
          if (!failure.ok() || join->settled.load()) {
            for (InFlightTicket& ticket : join->tickets) ticket.Release();
            if (failure.ok() || !join->Settle()) return;
            return join->done(failure);
          }
          dispatch();
        });
  }
}

}  // namespace tessera::coordinator
