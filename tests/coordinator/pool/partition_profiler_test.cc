// PartitionProfiler: pushes the partition when the chosen worker lacks it,
// then profiles it there; the worker is chosen by position among the
// healthy ones; failures name the worker; with real in-process workers the
// per-node times are the engine's.
#include "coordinator/pool/partition_profiler.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "coordinator/pool/fake_worker_fleet.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/engine_test_util.h"

namespace tessera::coordinator {
namespace {

using engine::testing::Attr;
using engine::testing::ImportSimDomain;
using engine::testing::kSimDomain;
using engine::testing::ModelBuilder;

// x [N, 4] -> Delay(1 ms per sample) "wait" -> Relu "relu" -> y.
std::string Model() {
  ModelBuilder b;
  ImportSimDomain(b);
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 4});
  b.Node("Delay", {"x"}, {"d"}, {Attr("microseconds_per_sample", int64_t{1000})}, "wait", kSimDomain);
  b.Node("Relu", {"d"}, {"y"}, {}, "relu");
  b.Output("y", {-1, 4});
  return b.Bytes();
}

class PartitionProfilerTest : public ::testing::Test {
 protected:
  void Start(FakeWorkerClient::Options defaults = {}) {
    fleet_ = std::make_unique<FakeWorkerFleet>(defaults);
    auto pool = WorkerPool::Create({.workers = {"w1:1", "w2:1"}, .client_factory = fleet_->Factory()});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    pool_->PollNow();
    profiler_ = std::make_unique<PartitionProfiler>(pool_.get(), &loader_);
  }

  worker::ProfileRequest Request(int runs = 2) {
    worker::ProfileRequest request;
    request.set_runs(runs);
    request.set_batch(3);
    return request;
  }

  std::unique_ptr<FakeWorkerFleet> fleet_;
  std::unique_ptr<WorkerPool> pool_;
  PartitionLoader loader_;
  std::unique_ptr<PartitionProfiler> profiler_;
  const LoadablePartition partition_ = LoadablePartition::FromBytes(std::make_shared<const std::string>(Model()));
};

TEST_F(PartitionProfilerTest, PushesThenProfilesOnTheWorkerAtThePosition) {
  Start();
  fleet_->fake("w2:1")->SetProfileTimes({{"wait", 7.5}}, 0.25);
  auto profile = profiler_->ProfileBlocking(partition_, /*position=*/3, Request(), absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->worker, "w2:1");  // 3 mod 2 = 1: the second by address
  EXPECT_EQ(fleet_->fake("w2:1")->CountCalls(FakeWorkerClient::Method::kLoadPartition), 1);
  EXPECT_EQ(fleet_->fake("w1:1")->CountCalls(FakeWorkerClient::Method::kLoadPartition), 0);
  EXPECT_TRUE(loader_.IsLoaded(*pool_->Find("w2:1"), partition_.id()));
  EXPECT_EQ(profile->profile.partition_id(), partition_.id());
  ASSERT_EQ(profile->profile.nodes_size(), 2);
  EXPECT_EQ(profile->profile.nodes(0).name(), "wait");
  EXPECT_DOUBLE_EQ(profile->profile.nodes(0).ms(), 7.5);
  EXPECT_EQ(profile->profile.nodes(1).name(), "relu");
  EXPECT_DOUBLE_EQ(profile->profile.nodes(1).ms(), 0.25);
  EXPECT_DOUBLE_EQ(profile->profile.total_ms(), 7.75);
  EXPECT_FALSE(profile->link_bytes_per_ms.has_value());  // a push of a few hundred bytes is no sample

  // Profiled again: no second push.
  ASSERT_TRUE(profiler_->ProfileBlocking(partition_, 1, Request(), absl::Now() + absl::Seconds(5)).ok());
  EXPECT_EQ(fleet_->fake("w2:1")->CountCalls(FakeWorkerClient::Method::kLoadPartition), 1);
  EXPECT_EQ(fleet_->fake("w2:1")->CountCalls(FakeWorkerClient::Method::kProfile), 2);
}

TEST_F(PartitionProfilerTest, FailuresNameTheWorkerAndNotFoundForgetsThePush) {
  Start();
  FakeWorkerClient* w1 = fleet_->fake("w1:1");
  w1->FailNext(FakeWorkerClient::Method::kLoadPartition, absl::ResourceExhaustedError("full"));
  auto push_failed = profiler_->ProfileBlocking(partition_, 0, Request(), absl::Now() + absl::Seconds(5));
  EXPECT_EQ(push_failed.status().code(), absl::StatusCode::kResourceExhausted) << push_failed.status();
  EXPECT_NE(push_failed.status().message().find("pushing"), std::string::npos) << push_failed.status();

  w1->FailNext(FakeWorkerClient::Method::kProfile, absl::NotFoundError("gone"));
  auto profile = profiler_->ProfileBlocking(partition_, 0, Request(), absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(profile.ok());
  EXPECT_EQ(profile.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(profile.status().message().find("w1:1"), std::string::npos) << profile.status();
  EXPECT_FALSE(loader_.IsLoaded(*pool_->Find("w1:1"), partition_.id()));

  auto bad_runs = profiler_->ProfileBlocking(partition_, 0, Request(/*runs=*/0), absl::Now() + absl::Seconds(5));
  EXPECT_EQ(bad_runs.status().code(), absl::StatusCode::kInvalidArgument) << bad_runs.status();

  w1->SetHung(true);
  const absl::Time start = absl::Now();
  auto hung = profiler_->ProfileBlocking(partition_, 0, Request(), absl::Now() + absl::Milliseconds(200));
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kDeadlineExceeded) << hung.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));

  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(150));
    cancel = true;
  });
  const absl::Time cancel_start = absl::Now();
  auto cancelled = profiler_->ProfileBlocking(partition_, 0, Request(), absl::Now() + absl::Seconds(20),
                                              [&] { return cancel.load(); });
  canceller.join();
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();
  EXPECT_LT(absl::Now() - cancel_start, absl::Seconds(2));
  w1->SetHung(false);
}

TEST_F(PartitionProfilerTest, NoHealthyWorkerIsUnavailable) {
  Start();
  fleet_->fake("w1:1")->SetUnavailable(true);
  fleet_->fake("w2:1")->SetUnavailable(true);
  pool_->PollNow();
  auto profile = profiler_->ProfileBlocking(partition_, 0, Request(), absl::Now() + absl::Seconds(5));
  EXPECT_EQ(profile.status().code(), absl::StatusCode::kUnavailable) << profile.status();
}

TEST_F(PartitionProfilerTest, EngineWorkersReportTheirTracedTimes) {
  FakeWorkerClient::Options defaults;
  defaults.engine = true;
  defaults.core_options.intra_op_threads = 1;
  Start(defaults);
  auto profile = profiler_->ProfileBlocking(partition_, 0, Request(), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(profile.ok()) << profile.status();
  ASSERT_EQ(profile->profile.nodes_size(), 2);
  EXPECT_EQ(profile->profile.nodes(0).name(), "wait");
  EXPECT_GE(profile->profile.nodes(0).ms(), 3.0);  // 3 samples x 1 ms
  EXPECT_LT(profile->profile.nodes(1).ms(), profile->profile.nodes(0).ms());
}

}  // namespace
}  // namespace tessera::coordinator
