// ClusterPieceRunner::RunChain (DIRECT forwarding) on a pool of scripted
// fake workers: each stage's partition pushed to its worker before the chain
// goes to stage 0's worker, the route filled with the workers' addresses,
// a downstream NOT_FOUND making the next chain push that partition again,
// a failure of stage 0's worker reported to the pool, and failures counted
// as retries.
#include "coordinator/scheduler/cluster_piece_runner.h"

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

}  // namespace
}  // namespace tessera::coordinator
