// Re-planning a pipeline on costs measured on the workers, end to end in one
// process: a model repository, a pool of in-process workers (fakes running
// the real engine), the cluster piece runner and the partition profiler,
// wired to the backend as tessera-coordinator wires them.
//
// The model is a chain of four equal ai.tessera.sim.Delay nodes: the
// coordinator's estimate (and its own traced run) says "balanced", so two
// stages get two Delays each. The worker holding stage 1 reports its Delays
// as ten times slower than stage 0's (hardware the coordinator cannot see),
// so the measured re-plan moves the cut: three Delays | one Delay. Answers
// stay right on the new deployment. A failing Profile, and measurements that
// agree with the estimate, keep the first cut.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "coordinator/pool/fake_worker_fleet.h"
#include "coordinator/pool/partition_profiler.h"
#include "coordinator/scheduler/cluster_piece_runner.h"
#include "coordinator/service/coordinator_backend.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/worker/engine/engine_test_util.h"

namespace tessera::coordinator {
namespace {

namespace fs = std::filesystem;
using engine::testing::DelayChainModel;

// Delay nodes in a stage partition.
int DelaysIn(const StagePartition& stage) {
  onnx::ModelProto model;
  EXPECT_TRUE(model.ParseFromString(*stage.onnx_bytes));
  int n = 0;
  for (const auto& node : model.graph().node()) n += node.op_type() == "Delay";
  return n;
}

class MeasuredReplanTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(""); }

  // The repository holds "chain" with `extra_config` appended to its config.
  void StartWith(const std::string& extra_config) {
    root_ = fs::temp_directory_path() / ("tessera_replan_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "chain" / "1");
    std::ofstream(root_ / "chain" / "config.pbtxt")
        << "platform: \"onnx\"\nmax_batch_size: 8 parallelism { strategy: PIPELINE stages: 2 }\n"
        << extra_config << "\n";
    std::ofstream(root_ / "chain" / "1" / "model.onnx", std::ios::binary)
        << DelayChainModel({500, 500, 500, 500});  // y = x + 3
    auto repository = ModelRepository::Create({.root = root_.string()});
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
    ASSERT_TRUE(repository_->LoadAll().ok());

    FakeWorkerClient::Options defaults;
    defaults.engine = true;
    defaults.core_options.intra_op_threads = 1;
    fleet_ = std::make_unique<FakeWorkerFleet>(defaults);
    auto pool = WorkerPool::Create({.workers = {"w1:1", "w2:1"}, .client_factory = fleet_->Factory()});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    pool_->PollNow();
    runner_ = std::make_unique<ClusterPieceRunner>(pool_.get(), &loader_, ClusterPieceRunner::Options{});
    profiler_ = std::make_unique<PartitionProfiler>(pool_.get(), &loader_);
  }

  // The partition of w1's latest Execute.
  std::string LastExecuted(const std::string& address) {
    std::string id;
    for (const auto& call : fleet_->fake(address)->calls()) {
      if (call.method == FakeWorkerClient::Method::kExecute) id = call.partition_id;
    }
    return id;
  }
  void TearDown() override {
    backend_.reset();
    fs::remove_all(root_);
  }

  // The backend, with the stage profiler tessera-coordinator uses.
  void StartBackend() {
    CoordinatorOptions options;
    options.deployment.planning_runs = 0;  // the first cut on the estimate alone: deterministic
    options.replan.runs = 1;
    options.replan.timeout = absl::Seconds(15);
    options.stage_profiler = [this](const Deployment& deployment, int stage, const worker::ProfileRequest& request,
                                    absl::Time deadline,
                                    const std::function<bool()>& cancelled) -> absl::StatusOr<StageMeasurement> {
      ++profiles_;
      const StagePartition& partition = deployment.stages[stage];
      absl::StatusOr<PartitionProfile> profile = profiler_->ProfileBlocking(
          LoadablePartition{partition.header, partition.onnx_bytes}, stage * deployment.replicas, request, deadline,
          cancelled);
      if (!profile.ok()) return profile.status();
      return StageMeasurement{profile->worker, std::move(profile->profile), profile->link_bytes_per_ms};
    };
    backend_ = std::make_unique<CoordinatorBackend>(options, repository_.get(), runner_.get(), [this] {
      return ClusterShape{.workers = static_cast<int>(pool_->Healthy().size())};
    });
    ASSERT_TRUE(backend_->Deploy().ok());
  }

  // Waits (bounded) until the re-plan has run: the plan source leaves "estimated".
  std::string SettledPlanSource() {
    const absl::Time end = absl::Now() + absl::Seconds(20);
    std::string source;
    while (absl::Now() < end) {
      for (const auto& served : backend_->ServedVersions()) source = served.plan_source;
      if (source != kPlanEstimated) return source;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return source;
  }

  std::shared_ptr<const Deployment> Current() {
    auto deployment = backend_->DeploymentOf("chain", "");
    EXPECT_TRUE(deployment.ok()) << deployment.status();
    return deployment.ok() ? *deployment : nullptr;
  }

  // y = x + 3 through the backend.
  void ExpectAnswers() { ExpectAnswer(StartInfer()); }

  // The request must live until its answer, as gRPC's does.
  struct PendingInfer {
    inference::ModelInferRequest request;
    Tensor x;
    absl::Notification done;
    absl::StatusOr<inference::ModelInferResponse> response;
  };
  std::shared_ptr<PendingInfer> StartInfer() {
    auto pending = std::make_shared<PendingInfer>();
    inference::ModelInferRequest& request = pending->request;
    request.set_model_name("chain");
    auto* in = request.add_inputs();
    in->set_name("x");
    in->set_datatype("FP32");
    in->add_shape(2);
    in->add_shape(16);
    pending->x = engine::testing::RandomTensor({2, 16}, 3);
    const Tensor& x = pending->x;
    request.add_raw_input_contents(static_cast<const char*>(x.raw_data()), x.byte_size());
    backend_->ModelInfer(&pending->request, absl::Now() + absl::Seconds(20), [pending](auto r) {
      pending->response = std::move(r);
      pending->done.Notify();
    });
    return pending;
  }
  void ExpectAnswer(const std::shared_ptr<PendingInfer>& pending) {
    const Tensor& x = pending->x;
    ASSERT_TRUE(pending->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    const absl::StatusOr<inference::ModelInferResponse>& response = pending->response;
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_EQ(response->raw_output_contents_size(), 1);
    const std::string& raw = response->raw_output_contents(0);
    ASSERT_EQ(raw.size(), x.byte_size());
    const float* y = reinterpret_cast<const float*>(raw.data());
    for (int64_t i = 0; i < x.num_elements(); ++i) EXPECT_FLOAT_EQ(y[i], x.data<float>()[i] + 3.0f) << i;
  }

  fs::path root_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<FakeWorkerFleet> fleet_;
  std::unique_ptr<WorkerPool> pool_;
  PartitionLoader loader_;
  std::unique_ptr<ClusterPieceRunner> runner_;
  std::unique_ptr<PartitionProfiler> profiler_;
  std::atomic<int> profiles_{0};
  std::unique_ptr<CoordinatorBackend> backend_;
};

TEST_F(MeasuredReplanTest, SlowSecondStageWorkerMovesTheCut) {
  // Stage 1 runs on w2 (position 1 of the workers by address), whose
  // Delays take 20 ms; w1's real ones take about 0.5 ms.
  fleet_->fake("w2:1")->SetProfileTimes({{"delay2", 20.0}, {"delay3", 20.0}}, 0.01);
  StartBackend();
  const std::shared_ptr<const Deployment> first = Current();
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->stages.size(), 2u);
  EXPECT_EQ(DelaysIn(first->stages[0]), 2);
  EXPECT_EQ(DelaysIn(first->stages[1]), 2);

  EXPECT_EQ(SettledPlanSource(), kPlanMeasured);
  const std::shared_ptr<const Deployment> replanned = Current();
  ASSERT_NE(replanned, nullptr);
  ASSERT_NE(replanned, first);
  ASSERT_EQ(replanned->stages.size(), 2u);
  EXPECT_EQ(DelaysIn(replanned->stages[0]), 3);
  EXPECT_EQ(DelaysIn(replanned->stages[1]), 1);
  EXPECT_EQ(replanned->strategy, Strategy::kPipeline);
  EXPECT_EQ(profiles_.load(), 2);  // once per stage, and only once
  ExpectAnswers();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(profiles_.load(), 2);  // the new deployment is not measured again
  EXPECT_EQ(Current(), replanned);
}

TEST_F(MeasuredReplanTest, FailingProfileKeepsTheCurrentPlan) {
  fleet_->fake("w2:1")->SetProfileTimes({{"delay2", 20.0}, {"delay3", 20.0}}, 0.01);
  fleet_->fake("w2:1")->FailNext(FakeWorkerClient::Method::kProfile, absl::UnavailableError("worker gone"), 5);
  StartBackend();
  const std::shared_ptr<const Deployment> first = Current();
  ASSERT_NE(first, nullptr);
  const std::string source = SettledPlanSource();
  EXPECT_NE(source.find("estimated (measuring failed)"), std::string::npos) << source;
  EXPECT_EQ(Current(), first);
  EXPECT_EQ(DelaysIn(Current()->stages[0]), 2);
  ExpectAnswers();
}

TEST_F(MeasuredReplanTest, MeasurementsThatAgreeKeepTheCut) {
  fleet_->fake("w1:1")->SetProfileTimes({{"delay0", 5.0}, {"delay1", 5.0}}, 0.01);
  fleet_->fake("w2:1")->SetProfileTimes({{"delay2", 5.2}, {"delay3", 5.0}}, 0.01);
  StartBackend();
  const std::shared_ptr<const Deployment> first = Current();
  EXPECT_EQ(SettledPlanSource(), kPlanMeasuredKept);
  EXPECT_EQ(Current(), first);
}

// A model with dynamic batching keeps its batcher across the re-plan; the
// batches then run on the new stages.
TEST_F(MeasuredReplanTest, BatchedModelRunsOnTheNewCut) {
  backend_.reset();
  pool_.reset();
  runner_.reset();
  profiler_.reset();
  StartWith("dynamic_batching { max_queue_delay_microseconds: 1000 }");
  fleet_->fake("w2:1")->SetProfileTimes({{"delay2", 20.0}, {"delay3", 20.0}}, 0.01);
  StartBackend();
  const std::shared_ptr<const Deployment> first = Current();
  ExpectAnswers();
  EXPECT_EQ(LastExecuted("w1:1"), first->stages[0].id);
  EXPECT_EQ(SettledPlanSource(), kPlanMeasured);
  const std::shared_ptr<const Deployment> replanned = Current();
  ASSERT_NE(replanned, first);
  ExpectAnswers();
  EXPECT_EQ(LastExecuted("w1:1"), replanned->stages[0].id);
  EXPECT_EQ(LastExecuted("w2:1"), replanned->stages[1].id);
}

// A request waiting in the batcher while the re-plan swaps the deployment
// is not lost: it runs, on the new cut, when its batch is due.
TEST_F(MeasuredReplanTest, RequestQueuedInTheBatcherSurvivesTheReplan) {
  backend_.reset();
  pool_.reset();
  runner_.reset();
  profiler_.reset();
  StartWith("dynamic_batching { max_queue_delay_microseconds: 3000000 }");
  fleet_->fake("w2:1")->SetProfileTimes({{"delay2", 20.0}, {"delay3", 20.0}}, 0.01);
  fleet_->fake("w2:1")->SetDelay(absl::Milliseconds(200));  // the re-plan takes a while
  StartBackend();
  const std::shared_ptr<const Deployment> first = Current();
  std::shared_ptr<PendingInfer> queued = StartInfer();  // 2 rows of 8: waits 3 s for more
  EXPECT_EQ(SettledPlanSource(), kPlanMeasured);
  EXPECT_FALSE(queued->done.HasBeenNotified());
  ExpectAnswer(queued);
  const std::shared_ptr<const Deployment> replanned = Current();
  ASSERT_NE(replanned, first);
  EXPECT_EQ(LastExecuted("w1:1"), replanned->stages[0].id);
}

// A re-plan stuck on a worker that never answers does not hold up the
// backend's destruction: it is cancelled.
TEST_F(MeasuredReplanTest, DestroyingTheBackendCancelsAStuckReplan) {
  fleet_->fake("w2:1")->SetHung(true);
  StartBackend();
  absl::SleepFor(absl::Milliseconds(300));  // the re-plan waits on w2
  const absl::Time start = absl::Now();
  backend_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  fleet_->fake("w2:1")->SetHung(false);
}

}  // namespace
}  // namespace tessera::coordinator
