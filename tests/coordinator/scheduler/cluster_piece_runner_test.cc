// ClusterPieceRunner::RunChain (DIRECT forwarding) on a pool of scripted
// fake workers: each stage's partition pushed to its worker before the chain
// goes to stage 0's worker, the route filled with the workers' addresses,
// a downstream NOT_FOUND making the next chain push that partition again,
// a failure of stage 0's worker reported to the pool, and failures counted
// as retries.
#include "coordinator/scheduler/cluster_piece_runner.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "coordinator/pool/fake_worker_fleet.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace tessera::coordinator {
namespace {

using Method = FakeWorkerClient::Method;

class ClusterPieceRunnerChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<WorkerPool>> pool =
        WorkerPool::Create({.workers = {"w1:1", "w2:2", "w3:3"}, .client_factory = fleet_.Factory()});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    pool_->PollNow();
    ASSERT_EQ(pool_->Healthy().size(), 3u);
    retries_ = &prometheus::BuildCounter().Name("retries").Register(registry_).Add({});
    runner_ = std::make_unique<ClusterPieceRunner>(pool_.get(), &loader_,
                                                   ClusterPieceRunner::Options{.retries = retries_});
    deployment_.model_name = "m";
    deployment_.strategy = Strategy::kPipeline;
    for (int s = 0; s < 3; ++s) {
      LoadablePartition p = LoadablePartition::FromBytes(std::make_shared<const std::string>(absl::StrCat("stage ", s)));
      StagePartition stage;
      stage.id = p.id();
      stage.onnx_bytes = p.bytes;
      stage.header = p.header;
      deployment_.stages.push_back(stage);
    }
  }

  std::shared_ptr<worker::ExecuteRequest> Chain() const {
    auto request = std::make_shared<worker::ExecuteRequest>();
    request->set_partition_id(deployment_.stages[0].id);
    request->set_request_id("r");
    for (int s = 1; s < 3; ++s) {
      worker::ForwardHop* hop = request->add_forward();
      hop->set_partition_id(deployment_.stages[s].id);
      hop->set_stage(s);
    }
    request->add_return_names("y");
    return request;
  }

  absl::StatusOr<worker::ExecuteResponse> RunChain(std::shared_ptr<worker::ExecuteRequest> request) {
    absl::Notification done;
    absl::StatusOr<worker::ExecuteResponse> result;
    runner_->RunChain(deployment_, std::move(request), absl::Now() + absl::Seconds(5), [&](auto r) {
      result = std::move(r);
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  int Count(const std::string& address, Method method, const std::string& partition_id) const {
    int n = 0;
    for (const FakeWorkerClient::Call& call : fleet_.fake(address)->calls()) {
      n += call.method == method && call.partition_id == partition_id;
    }
    return n;
  }

  FakeWorkerFleet fleet_;
  std::unique_ptr<WorkerPool> pool_;
  PartitionLoader loader_;
  prometheus::Registry registry_;
  prometheus::Counter* retries_ = nullptr;
  std::unique_ptr<ClusterPieceRunner> runner_;
  Deployment deployment_;
};

TEST_F(ClusterPieceRunnerChainTest, PushesEveryStageThenSendsTheChainToStageZero) {
  std::shared_ptr<worker::ExecuteRequest> request = Chain();
  ASSERT_TRUE(RunChain(request).ok());
  // Stage s on the s-th worker by address; each got its partition once.
  const std::string addresses[] = {"w1:1", "w2:2", "w3:3"};
  for (int s = 0; s < 3; ++s) {
    for (int w = 0; w < 3; ++w) {
      EXPECT_EQ(Count(addresses[w], Method::kLoadPartition, deployment_.stages[s].id), s == w ? 1 : 0)
          << "stage " << s << " on " << addresses[w];
    }
  }
  // Only stage 0's worker was called; the route names the others.
  EXPECT_EQ(fleet_.fake("w1:1")->CountCalls(Method::kExecute), 1);
  EXPECT_EQ(fleet_.fake("w2:2")->CountCalls(Method::kExecute), 0);
  EXPECT_EQ(fleet_.fake("w3:3")->CountCalls(Method::kExecute), 0);
  EXPECT_EQ(request->forward(0).address(), "w2:2");
  EXPECT_EQ(request->forward(1).address(), "w3:3");
  EXPECT_EQ(retries_->Value(), 0);
  // A second chain finds everything loaded.
  ASSERT_TRUE(RunChain(Chain()).ok());
  EXPECT_EQ(Count("w3:3", Method::kLoadPartition, deployment_.stages[2].id), 1);
}

TEST_F(ClusterPieceRunnerChainTest, DownstreamNotFoundPushesThatPartitionAgain) {
  ASSERT_TRUE(RunChain(Chain()).ok());
  fleet_.fake("w1:1")->FailNext(
      Method::kExecute,
      absl::NotFoundError(absl::StrCat("forwarding to stage 2 at w3:3: partition ", deployment_.stages[2].id,
                                       " is not loaded on this worker")));
  absl::StatusOr<worker::ExecuteResponse> failed = RunChain(Chain());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(retries_->Value(), 1);
  // Nobody was marked unhealthy; the next chain pushes stage 2 to w3 again.
  EXPECT_EQ(pool_->Healthy().size(), 3u);
  ASSERT_TRUE(RunChain(Chain()).ok());
  EXPECT_EQ(Count("w3:3", Method::kLoadPartition, deployment_.stages[2].id), 2);
  EXPECT_EQ(Count("w2:2", Method::kLoadPartition, deployment_.stages[1].id), 1);
}

TEST_F(ClusterPieceRunnerChainTest, StageZeroWorkerFailureIsReportedToThePool) {
  fleet_.fake("w1:1")->FailNext(Method::kExecute, absl::UnavailableError("connection reset"));
  absl::StatusOr<worker::ExecuteResponse> failed = RunChain(Chain());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(failed.status().message().find("w1:1"), std::string::npos) << failed.status();
  EXPECT_FALSE(pool_->Find("w1:1")->healthy());
  EXPECT_EQ(retries_->Value(), 1);
}

TEST_F(ClusterPieceRunnerChainTest, WrongRouteLengthIsInternal) {
  std::shared_ptr<worker::ExecuteRequest> request = Chain();
  request->mutable_forward()->RemoveLast();
  EXPECT_EQ(RunChain(request).status().code(), absl::StatusCode::kInternal);
}

// Run (RELAY / DATA pieces) against failing, hung and slow workers, with a
// pool whose health polls run (every 100 ms, 200 ms deadline).
class ClusterPieceRunnerFailureTest : public ::testing::Test {
 protected:
  void MakeRunner(std::vector<std::string> workers, bool start_polls, RetryBudget* budget = nullptr) {
    WorkerPool::Options options;
    for (const std::string& w : workers) options.workers.push_back(WorkerEndpoint(w));
    options.client_factory = fleet_.Factory();
    options.health_interval = absl::Milliseconds(100);
    options.health_deadline = absl::Milliseconds(200);
    absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Create(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    pool_->PollNow();
    ASSERT_EQ(pool_->Healthy().size(), workers.size());
    if (start_polls) pool_->Start();
    retries_ = &prometheus::BuildCounter().Name("retries").Register(registry_).Add({});
    refused_ = &prometheus::BuildCounter().Name("refused").Register(registry_).Add({});
    runner_ = std::make_unique<ClusterPieceRunner>(
        pool_.get(), &loader_,
        ClusterPieceRunner::Options{.retries = retries_, .retry_budget = budget, .retries_refused = refused_});
    LoadablePartition p = LoadablePartition::FromBytes(std::make_shared<const std::string>("the model"));
    StagePartition stage;
    stage.id = p.id();
    stage.onnx_bytes = p.bytes;
    stage.header = p.header;
    deployment_.model_name = "m";
    deployment_.strategy = Strategy::kData;
    deployment_.stages = {stage};
  }
  void TearDown() override {
    if (pool_ != nullptr) pool_->Stop();
  }

  std::shared_ptr<worker::ExecuteRequest> Piece(float value) const {
    auto request = std::make_shared<worker::ExecuteRequest>();
    request->set_partition_id(deployment_.stages[0].id);
    request->set_request_id("r");
    worker::Tensor* input = request->add_inputs();
    input->set_name("x");
    input->add_shape(1);
    input->set_content(std::string(reinterpret_cast<const char*>(&value), sizeof(value)));
    return request;
  }

  absl::StatusOr<worker::ExecuteResponse> Run(std::shared_ptr<worker::ExecuteRequest> request, int replica,
                                              absl::Duration timeout) {
    absl::Notification done;
    absl::StatusOr<worker::ExecuteResponse> result;
    runner_->Run(deployment_, 0, replica, std::move(request), absl::Now() + timeout, [&](auto r) {
      result = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(timeout + absl::Seconds(5))) << "the piece never ended";
    return result;
  }

  // A two-stage PIPELINE deployment for chains (RunChain).
  void MakeTwoStages() {
    deployment_.strategy = Strategy::kPipeline;
    LoadablePartition second = LoadablePartition::FromBytes(std::make_shared<const std::string>("stage 2"));
    StagePartition stage;
    stage.id = second.id();
    stage.onnx_bytes = second.bytes;
    stage.header = second.header;
    deployment_.stages.push_back(stage);
  }
  absl::StatusOr<worker::ExecuteResponse> RunChain(absl::Duration timeout) {
    auto request = std::make_shared<worker::ExecuteRequest>();
    request->set_partition_id(deployment_.stages[0].id);
    worker::ForwardHop* hop = request->add_forward();
    hop->set_partition_id(deployment_.stages[1].id);
    hop->set_stage(1);
    request->add_return_names("y");
    absl::Notification done;
    absl::StatusOr<worker::ExecuteResponse> result;
    runner_->RunChain(deployment_, std::move(request), absl::Now() + timeout, [&](auto r) {
      result = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(timeout + absl::Seconds(5)));
    return result;
  }

  FakeWorkerFleet fleet_;
  std::unique_ptr<WorkerPool> pool_;
  PartitionLoader loader_;
  prometheus::Registry registry_;
  prometheus::Counter* retries_ = nullptr;
  prometheus::Counter* refused_ = nullptr;
  std::unique_ptr<ClusterPieceRunner> runner_;
  Deployment deployment_;
};

TEST_F(ClusterPieceRunnerFailureTest, PieceOnAHungWorkerMovesWhenItsHealthPollFails) {
  MakeRunner({"w1:1", "w2:2"}, /*start_polls=*/true);
  ASSERT_TRUE(Run(Piece(1), 0, absl::Seconds(5)).ok());  // partition on w1
  fleet_.fake("w1:1")->SetHung(true);                  // SIGSTOP: calls wait forever
  const absl::Time start = absl::Now();
  absl::StatusOr<worker::ExecuteResponse> answer = Run(Piece(2), 0, absl::Seconds(10));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(answer.ok()) << answer.status();
  // Echoed by w2, long before the 10 s deadline: within one poll interval
  // plus the poll deadline (300 ms), with room for a loaded machine.
  ASSERT_EQ(answer->outputs_size(), 1);
  float echoed = 0;
  std::memcpy(&echoed, answer->outputs(0).content().data(), sizeof(echoed));
  EXPECT_EQ(echoed, 2.0f);
  EXPECT_LT(took, absl::Milliseconds(1500)) << took;
  EXPECT_GE(took, absl::Milliseconds(50)) << "it should have waited on w1 first";
  EXPECT_EQ(fleet_.fake("w1:1")->CountCalls(Method::kExecute), 2);
  EXPECT_EQ(fleet_.fake("w2:2")->CountCalls(Method::kExecute), 1);
  EXPECT_FALSE(pool_->Find("w1:1")->healthy());
  EXPECT_NE(pool_->Find("w1:1")->last_failure().message(), "");
  EXPECT_EQ(retries_->Value(), 1);
  // The abandoned call was cancelled on the wire: it ended (CANCELLED,
  // ignored) and is no longer counted in flight on w1.
  EXPECT_EQ(fleet_.fake("w1:1")->CountCancelled(), 1);
  const absl::Time cancel_deadline = absl::Now() + absl::Seconds(5);
  while (pool_->Find("w1:1")->in_flight() > 0 && absl::Now() < cancel_deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(pool_->Find("w1:1")->in_flight(), 0);
  EXPECT_EQ(retries_->Value(), 1);  // the cancelled answer was not replayed again
  // The worker answers again: re-admitted by the next poll, and gets work.
  fleet_.fake("w1:1")->SetHung(false);
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (!pool_->Find("w1:1")->healthy() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(pool_->Find("w1:1")->healthy());
  ASSERT_TRUE(Run(Piece(3), 0, absl::Seconds(5)).ok());
  EXPECT_EQ(fleet_.fake("w1:1")->CountCalls(Method::kExecute), 3);
}

// With no other worker to replay on, a piece on a worker that failed its
// health poll is not given up (a slow worker may still answer): it ends at
// its deadline, which the worker's call carries.
TEST_F(ClusterPieceRunnerFailureTest, HungWorkerWithNoOtherLeftIsWaitedForUntilTheDeadline) {
  MakeRunner({"w1:1"}, /*start_polls=*/true);
  fleet_.fake("w1:1")->SetHung(true);
  const absl::Time start = absl::Now();
  absl::StatusOr<worker::ExecuteResponse> answer = Run(Piece(1), 0, absl::Seconds(1));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kDeadlineExceeded) << answer.status();
  EXPECT_GE(took, absl::Milliseconds(950)) << took;
  EXPECT_LT(took, absl::Milliseconds(3000)) << took;
}

TEST_F(ClusterPieceRunnerFailureTest, SlowWorkerFailsDeadlineExceededAtTheDeadline) {
  // No health polls: only the deadline ends the piece, and the worker's
  // call carries it (the fake fails calls at their deadline).
  MakeRunner({"w1:1"}, /*start_polls=*/false);
  ASSERT_TRUE(Run(Piece(1), 0, absl::Seconds(5)).ok());
  fleet_.fake("w1:1")->SetDelay(absl::Seconds(30));
  const absl::Time start = absl::Now();
  absl::StatusOr<worker::ExecuteResponse> answer = Run(Piece(2), 0, absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kDeadlineExceeded) << answer.status();
  EXPECT_GE(took, absl::Milliseconds(290));
  EXPECT_LT(took, absl::Milliseconds(1000)) << took;
}

TEST_F(ClusterPieceRunnerFailureTest, ReplaysStopWhenTheRetryBudgetIsEmpty) {
  auto budget = RetryBudget::Create({.ratio = 0, .min_per_second = 0, .max_tokens = 1});
  ASSERT_TRUE(budget.ok());
  MakeRunner({"w1:1", "w2:2", "w3:3"}, /*start_polls=*/false, budget->get());
  for (const char* w : {"w1:1", "w2:2", "w3:3"}) {
    fleet_.fake(w)->FailNext(Method::kExecute, absl::UnavailableError("connection reset"), 5);
  }
  absl::StatusOr<worker::ExecuteResponse> answer = Run(Piece(1), 0, absl::Seconds(5));
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(answer.status().message().find("retry budget is exhausted"), absl::string_view::npos)
      << answer.status();
  // One replay was granted (the single token), the second refused.
  EXPECT_EQ(retries_->Value(), 1);
  EXPECT_EQ(refused_->Value(), 1);
  EXPECT_EQ((*budget)->refused(), 1u);
  int executes = 0;
  for (const char* w : {"w1:1", "w2:2", "w3:3"}) executes += fleet_.fake(w)->CountCalls(Method::kExecute);
  EXPECT_EQ(executes, 2);
}

TEST_F(ClusterPieceRunnerFailureTest, FirstAttemptsRefillTheBudget) {
  auto budget = RetryBudget::Create({.ratio = 0.5, .min_per_second = 0, .max_tokens = 2});
  ASSERT_TRUE(budget.ok());
  MakeRunner({"w1:1", "w2:2"}, /*start_polls=*/false, budget->get());
  ASSERT_TRUE((*budget)->TryWithdraw());  // empty it
  ASSERT_TRUE((*budget)->TryWithdraw());
  // Two successful pieces: one token.
  ASSERT_TRUE(Run(Piece(1), 0, absl::Seconds(5)).ok());
  ASSERT_TRUE(Run(Piece(2), 1, absl::Seconds(5)).ok());
  // The next piece deposits half a token more, its failure on w1 is replayed
  // on w2 with the whole one.
  fleet_.fake("w1:1")->FailNext(Method::kExecute, absl::UnavailableError("connection reset"));
  absl::StatusOr<worker::ExecuteResponse> answer = Run(Piece(3), 0, absl::Seconds(5));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(retries_->Value(), 1);
  EXPECT_EQ(refused_->Value(), 0);
  EXPECT_NEAR((*budget)->balance(), 0.5, 1e-9);
}

TEST_F(ClusterPieceRunnerFailureTest, NotFoundAfterARestartIsNotChargedToTheBudget) {
  auto budget = RetryBudget::Create({.ratio = 0, .min_per_second = 0, .max_tokens = 1});
  ASSERT_TRUE(budget.ok());
  MakeRunner({"w1:1"}, /*start_polls=*/false, budget->get());
  ASSERT_TRUE((*budget)->TryWithdraw());  // empty
  ASSERT_TRUE(Run(Piece(1), 0, absl::Seconds(5)).ok());
  fleet_.fake("w1:1")->Restart();  // partition gone: NOT_FOUND, pushed again
  ASSERT_TRUE(Run(Piece(2), 0, absl::Seconds(5)).ok());
  EXPECT_EQ(refused_->Value(), 0);
  EXPECT_EQ(retries_->Value(), 1);
}

TEST_F(ClusterPieceRunnerFailureTest, ChainThroughAHungWorkerEndsWhenItsHealthPollFails) {
  MakeRunner({"w1:1", "w2:2"}, /*start_polls=*/true);
  MakeTwoStages();
  auto run_chain = [&](absl::Duration timeout) { return RunChain(timeout); };
  ASSERT_TRUE(run_chain(absl::Seconds(5)).ok());
  // Stage 2's worker (w2) hangs: the fake's stage 0 (w1) answers at once in
  // scripted mode, so hang stage 0's worker, the one the chain waits on.
  fleet_.fake("w1:1")->SetHung(true);
  const absl::Time start = absl::Now();
  absl::StatusOr<worker::ExecuteResponse> answer = run_chain(absl::Seconds(10));
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable) << answer.status();
  EXPECT_NE(answer.status().message().find("w1:1"), absl::string_view::npos) << answer.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_EQ(retries_->Value(), 1);
  // The chain's call to w1 was cancelled on the wire, not left to its 10 s.
  EXPECT_EQ(fleet_.fake("w1:1")->CountCancelled(), 1);
  const absl::Time cancel_deadline = absl::Now() + absl::Seconds(5);
  while (pool_->Find("w1:1")->in_flight() > 0 && absl::Now() < cancel_deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(pool_->Find("w1:1")->in_flight(), 0);
}

// The pool gives a hung worker's pieces up only when another worker is
// healthy: a chain on a lone slow worker that misses its polls is waited
// for, not failed (nor replayed: there is nowhere else to go).
TEST_F(ClusterPieceRunnerFailureTest, ChainOnALoneSlowWorkerIsNotFailedByAMissedPoll) {
  MakeRunner({"w1:1"}, /*start_polls=*/true);
  MakeTwoStages();
  ASSERT_TRUE(RunChain(absl::Seconds(5)).ok());  // both partitions on w1
  fleet_.fake("w1:1")->SetDelay(absl::Milliseconds(800));  // polls (200 ms) miss
  const absl::Time start = absl::Now();
  absl::StatusOr<worker::ExecuteResponse> answer = RunChain(absl::Seconds(5));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_GE(took, absl::Milliseconds(750)) << took;
  EXPECT_EQ(pool_->Find("w1:1")->last_failure().code(), absl::StatusCode::kDeadlineExceeded)
      << "no poll missed: the test did not make its point";
  EXPECT_EQ(retries_->Value(), 0);
  EXPECT_EQ(fleet_.fake("w1:1")->CountCalls(Method::kExecute), 2);
  EXPECT_EQ(fleet_.fake("w1:1")->CountCancelled(), 0);
}

// The same for a plain piece.
TEST_F(ClusterPieceRunnerFailureTest, PieceOnALoneSlowWorkerIsNotFailedByAMissedPoll) {
  MakeRunner({"w1:1"}, /*start_polls=*/true);
  ASSERT_TRUE(Run(Piece(1), 0, absl::Seconds(5)).ok());
  fleet_.fake("w1:1")->SetDelay(absl::Milliseconds(800));
  absl::StatusOr<worker::ExecuteResponse> answer = Run(Piece(2), 0, absl::Seconds(5));
  ASSERT_TRUE(answer.ok()) << answer.status();
  float echoed = 0;
  ASSERT_EQ(answer->outputs_size(), 1);
  std::memcpy(&echoed, answer->outputs(0).content().data(), sizeof(echoed));
  EXPECT_EQ(echoed, 2.0f);
  EXPECT_EQ(pool_->Find("w1:1")->last_failure().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(retries_->Value(), 0);
}

}  // namespace
}  // namespace tessera::coordinator
