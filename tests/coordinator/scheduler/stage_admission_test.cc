#include "coordinator/scheduler/stage_admission.h"

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

// Holds every piece until the test finishes it; records the most pieces of
// each stage it held at once.
class HoldingRunner : public PieceRunner {
 public:
  std::vector<double> ReplicaWeights(const Deployment&, int) override { return {1.0}; }

  void Run(const Deployment&, int stage, int, std::shared_ptr<const worker::ExecuteRequest> request, absl::Time,
           Done done) override {
    absl::MutexLock lock(&mu_);
    held_.push_back({stage, std::move(request), std::move(done)});
    int now = 0;
    for (const Held& h : held_) now += h.stage == stage ? 1 : 0;
    if (stage >= static_cast<int>(max_held_.size())) max_held_.resize(stage + 1, 0);
    max_held_[stage] = std::max(max_held_[stage], now);
    ++runs_;
  }

  void RunChain(const Deployment& d, std::shared_ptr<worker::ExecuteRequest> request, absl::Time deadline,
                Done done) override {
    {
      absl::MutexLock lock(&mu_);
      ++chains_;
    }
    Run(d, 0, -1, std::move(request), deadline, std::move(done));
  }
  int chains() {
    absl::MutexLock lock(&mu_);
    return chains_;
  }

  // Finishes the oldest held piece (of `stage`, or any when -1): OK with
  // its piece id echoed, or `status`.
  bool FinishOldest(int stage = -1, absl::Status status = absl::OkStatus()) {
    Held h;
    {
      absl::MutexLock lock(&mu_);
      auto it = held_.begin();
      while (it != held_.end() && stage >= 0 && it->stage != stage) ++it;
      if (it == held_.end()) return false;
      h = std::move(*it);
      held_.erase(it);
    }
    if (!status.ok()) {
      h.done(status);
    } else {
      worker::ExecuteResponse response;
      response.set_piece_id(h.request->piece_id());
      h.done(std::move(response));
    }
    return true;
  }

  int held() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(held_.size());
  }
  int max_held(int stage) {
    absl::MutexLock lock(&mu_);
    return stage < static_cast<int>(max_held_.size()) ? max_held_[stage] : 0;
  }
  int runs() {
    absl::MutexLock lock(&mu_);
    return runs_;
  }

 private:
  struct Held {
    int stage = 0;
    std::shared_ptr<const worker::ExecuteRequest> request;
    Done done;
  };
  absl::Mutex mu_;
  std::vector<Held> held_ ABSL_GUARDED_BY(mu_);
  std::vector<int> max_held_ ABSL_GUARDED_BY(mu_);
  int runs_ ABSL_GUARDED_BY(mu_) = 0;
  int chains_ ABSL_GUARDED_BY(mu_) = 0;
};

// Holds the first piece until Release(); answers every later one at once,
// on the caller's thread.
class HoldFirstRunner : public PieceRunner {
 public:
  std::vector<double> ReplicaWeights(const Deployment&, int) override { return {1.0}; }
  void Run(const Deployment&, int, int, std::shared_ptr<const worker::ExecuteRequest> request, absl::Time,
           Done done) override {
    if (!held_one_) {
      held_one_ = true;
      first_ = std::move(done);
      return;
    }
    worker::ExecuteResponse response;
    response.set_piece_id(request->piece_id());
    done(std::move(response));
  }
  void Release() { std::exchange(first_, nullptr)(worker::ExecuteResponse()); }

 private:
  bool held_one_ = false;
  Done first_;
};

Deployment Pipeline(int stages, int replicas) {
  Deployment d;
  d.model_name = "m";
  d.strategy = replicas > 1 ? Strategy::kHybrid : Strategy::kPipeline;
  d.replicas = replicas;
  for (int s = 0; s < stages; ++s) {
    StagePartition p;
    p.id = "partition-" + std::to_string(s);
    d.stages.push_back(p);
  }
  return d;
}

std::shared_ptr<const worker::ExecuteRequest> Piece(uint64_t id) {
  auto r = std::make_shared<worker::ExecuteRequest>();
  r->set_piece_id(id);
  return r;
}

struct Outcome {
  absl::Mutex mu;
  std::vector<uint64_t> ok_order ABSL_GUARDED_BY(mu);
  std::vector<absl::Status> failures ABSL_GUARDED_BY(mu);
  PieceRunner::Done Callback() {
    return [this](absl::StatusOr<worker::ExecuteResponse> r) {
      absl::MutexLock lock(&mu);
      if (r.ok()) {
        ok_order.push_back(r->piece_id());
      } else {
        failures.push_back(r.status());
      }
    };
  }
};

TEST(StageAdmissionTest, BoundsEachStagePerReplicaAndSendsTheRestInArrivalOrder) {
  HoldingRunner inner;
  StageAdmission admission(&inner, {.in_flight_per_replica = 2});
  const Deployment d = Pipeline(2, 2);  // limit 4 per stage
  Outcome outcome;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (uint64_t i = 0; i < 10; ++i) admission.Run(d, 0, -1, Piece(i), deadline, outcome.Callback());
  for (uint64_t i = 100; i < 103; ++i) admission.Run(d, 1, -1, Piece(i), deadline, outcome.Callback());
  EXPECT_EQ(inner.held(), 4 + 3);
  EXPECT_EQ(admission.in_flight("partition-0"), 4);
  EXPECT_EQ(admission.waiting("partition-0"), 6);
  EXPECT_EQ(admission.waiting("partition-1"), 0);  // stage 2 has its own room
  while (inner.FinishOldest(0)) {
  }
  EXPECT_EQ(inner.max_held(0), 4);
  EXPECT_EQ(admission.in_flight("partition-0"), 0);
  EXPECT_EQ(admission.waiting("partition-0"), 0);
  absl::MutexLock lock(&outcome.mu);
  ASSERT_EQ(outcome.ok_order.size(), 10u);
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(outcome.ok_order[i], i);  // FIFO
  EXPECT_TRUE(outcome.failures.empty());
}

TEST(StageAdmissionTest, TheWaitHereCountsAsQueueTime) {
  HoldingRunner inner;
  StageAdmission admission(&inner, {.in_flight_per_replica = 1});
  const Deployment d = Pipeline(2, 1);
  std::vector<uint64_t> queue_us;
  auto record = [&](absl::StatusOr<worker::ExecuteResponse> r) {
    ASSERT_TRUE(r.ok());
    queue_us.push_back(r->queue_time_us());
  };
  admission.Run(d, 0, -1, Piece(0), absl::InfiniteFuture(), record);
  admission.Run(d, 0, -1, Piece(1), absl::InfiniteFuture(), record);
  absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(inner.FinishOldest());
  ASSERT_TRUE(inner.FinishOldest());
  ASSERT_EQ(queue_us.size(), 2u);
  EXPECT_LT(queue_us[0], 20000u);
  EXPECT_GE(queue_us[1], 20000u);  // waited for piece 0
}

TEST(StageAdmissionTest, ChainsAreAdmittedUnderTheFirstStagesBound) {
  HoldingRunner inner;
  StageAdmission admission(&inner, {.in_flight_per_replica = 2});
  const Deployment d = Pipeline(3, 1);
  Outcome outcome;
  for (uint64_t i = 0; i < 5; ++i) {
    auto chain = std::make_shared<worker::ExecuteRequest>();
    chain->set_piece_id(i);
    chain->add_forward();
    admission.RunChain(d, chain, absl::InfiniteFuture(), outcome.Callback());
  }
  EXPECT_EQ(inner.chains(), 2);
  EXPECT_EQ(admission.waiting("partition-0"), 3);
  while (inner.FinishOldest()) {
  }
  EXPECT_EQ(inner.chains(), 5);
  absl::MutexLock lock(&outcome.mu);
  EXPECT_EQ(outcome.ok_order.size(), 5u);
}

TEST(StageAdmissionTest, SingleStageDeploymentsPassStraightThrough) {
  HoldingRunner inner;
  StageAdmission admission(&inner, {.in_flight_per_replica = 1});
  Deployment d = Pipeline(1, 1);
  d.strategy = Strategy::kData;
  Outcome outcome;
  for (uint64_t i = 0; i < 5; ++i) admission.Run(d, 0, 0, Piece(i), absl::InfiniteFuture(), outcome.Callback());
  EXPECT_EQ(inner.held(), 5);
  EXPECT_EQ(admission.waiting("partition-0"), 0);
  while (inner.FinishOldest()) {
  }
}

TEST(StageAdmissionTest, FailuresFreeTheirSlotToo) {
  HoldingRunner inner;
  StageAdmission admission(&inner, {.in_flight_per_replica = 1});
  const Deployment d = Pipeline(2, 1);
  Outcome outcome;
  for (uint64_t i = 0; i < 3; ++i) admission.Run(d, 0, -1, Piece(i), absl::InfiniteFuture(), outcome.Callback());
  EXPECT_EQ(inner.held(), 1);
  ASSERT_TRUE(inner.FinishOldest(0, absl::UnavailableError("worker gone")));
  EXPECT_EQ(inner.held(), 1);  // the next one went
  while (inner.FinishOldest(0)) {
  }
  absl::MutexLock lock(&outcome.mu);
  EXPECT_EQ(outcome.failures.size(), 1u);
  EXPECT_EQ(outcome.ok_order.size(), 2u);
}

TEST(StageAdmissionTest, RefusesBeyondTheWaitingLimitNamingTheStage) {
  HoldingRunner inner;
  StageAdmission admission(&inner, {.in_flight_per_replica = 1, .max_waiting_per_stage = 2});
  const Deployment d = Pipeline(3, 1);
  Outcome outcome;
  for (uint64_t i = 0; i < 4; ++i) admission.Run(d, 1, -1, Piece(i), absl::InfiniteFuture(), outcome.Callback());
  {
    absl::MutexLock lock(&outcome.mu);
    ASSERT_EQ(outcome.failures.size(), 1u);
    EXPECT_EQ(outcome.failures[0].code(), absl::StatusCode::kResourceExhausted);
    EXPECT_NE(outcome.failures[0].message().find("stage 2 of m"), std::string::npos) << outcome.failures[0];
  }
  while (inner.FinishOldest()) {
  }
  absl::MutexLock lock(&outcome.mu);
  EXPECT_EQ(outcome.ok_order.size(), 3u);
}

TEST(StageAdmissionTest, PiecesPastTheirDeadlineAreNotSent) {
  HoldingRunner inner;
  StageAdmission admission(&inner, {.in_flight_per_replica = 1});
  const Deployment d = Pipeline(2, 1);
  Outcome outcome;
  admission.Run(d, 0, -1, Piece(0), absl::InfiniteFuture(), outcome.Callback());
  admission.Run(d, 0, -1, Piece(1), absl::Now() + absl::Milliseconds(1), outcome.Callback());
  absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(inner.FinishOldest());
  EXPECT_EQ(inner.runs(), 1);
  absl::MutexLock lock(&outcome.mu);
  ASSERT_EQ(outcome.failures.size(), 1u);
  EXPECT_EQ(outcome.failures[0].code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(StageAdmissionTest, SynchronousAnswersDoNotRecurse) {
  HoldFirstRunner inner;
  StageAdmission admission(&inner, {.in_flight_per_replica = 1, .max_waiting_per_stage = 1 << 20});
  const Deployment d = Pipeline(2, 1);
  std::atomic<int> answered{0};
  constexpr int kPieces = 200000;
  for (uint64_t i = 0; i < kPieces; ++i) {
    admission.Run(d, 0, -1, Piece(i), absl::InfiniteFuture(),
                  [&](absl::StatusOr<worker::ExecuteResponse> r) { answered += r.ok() ? 1 : 0; });
  }
  EXPECT_EQ(admission.waiting("partition-0"), kPieces - 1);
  // Every waiting piece is then answered inside this call; a recursive
  // admission would overflow the stack here.
  inner.Release();
  EXPECT_EQ(answered.load(), kPieces);
  EXPECT_EQ(admission.in_flight("partition-0"), 0);
}

TEST(StageAdmissionTest, ShutdownFailsWaitingPieces) {
  HoldingRunner inner;
  Outcome outcome;
  {
    StageAdmission admission(&inner, {.in_flight_per_replica = 1});
    const Deployment d = Pipeline(2, 1);
    for (uint64_t i = 0; i < 3; ++i) admission.Run(d, 0, -1, Piece(i), absl::InfiniteFuture(), outcome.Callback());
    ASSERT_TRUE(inner.FinishOldest());  // piece 1 goes, piece 2 still waits
    EXPECT_EQ(admission.waiting("partition-0"), 1);
  }
  // (Piece 1 is left with the inner runner, which never answers it.)
  absl::MutexLock lock(&outcome.mu);
  EXPECT_EQ(outcome.ok_order.size(), 1u);
  ASSERT_EQ(outcome.failures.size(), 1u);
  EXPECT_EQ(outcome.failures[0].code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tessera::coordinator
