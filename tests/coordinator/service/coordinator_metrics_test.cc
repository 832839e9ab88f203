// The coordinator's metrics as CoordinatorBackend records them, read from
// the registry (no HTTP): requests by model, version, outcome and reason,
// latency, batch sizes, in flight, per-stage times; CheckReady's reasons.
#include "coordinator/service/coordinator_metrics.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include "absl/synchronization/notification.h"
#include "coordinator/service/coordinator_backend.h"
#include "gtest/gtest.h"
#include "tests/common/metrics_test_util.h"
#include "tests/coordinator/local_piece_runner.h"

namespace tessera::coordinator {
namespace {

namespace fs = std::filesystem;
using tessera::testing::HistogramCount;
using tessera::testing::MetricValue;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& path, const std::string& contents) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

inference::ModelInferRequest Request(const std::string& model, const Shape& shape) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  Tensor t = Tensor::Allocate(DataType::kFloat32, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  inference::ModelInferRequest request;
  request.set_model_name(model);
  auto* in = request.add_inputs();
  in->set_name("input");
  in->set_datatype("FP32");
  for (int64_t d : shape) in->add_shape(d);
  request.add_raw_input_contents(static_cast<const char*>(t.raw_data()), t.byte_size());
  return request;
}

class CoordinatorMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("tessera_metrics_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    const std::string cnn = ReadFile(std::string(TESSERA_TESTDATA_DIR) + "/planner_resnet.onnx");
    auto add = [&](const std::string& name, const std::string& config) {
      WriteFile(root_ / name / "config.pbtxt", "platform: \"onnx\"\n" + config + "\n");
      WriteFile(root_ / name / "1" / "model.onnx", cnn);
    };
    add("cnn_data", "max_batch_size: 8 parallelism { strategy: DATA }");
    add("cnn_pipeline", "max_batch_size: 8 parallelism { strategy: PIPELINE stages: 3 }");
    auto repository = ModelRepository::Create({.root = root_.string()});
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
    ASSERT_TRUE(repository_->LoadAll().ok());
    metrics_ = std::make_unique<CoordinatorMetrics>(&registry_);
    CoordinatorOptions options;
    options.metrics = metrics_.get();
    backend_ = std::make_unique<CoordinatorBackend>(options, repository_.get(), &runner_, [this] { return cluster_; });
  }
  void TearDown() override {
    backend_.reset();
    fs::remove_all(root_);
  }

  absl::Status Infer(inference::ModelInferRequest request) {  // a copy: the backend may consume it
    absl::Notification done;
    absl::Status result;
    backend_->ModelInfer(&request, absl::Now() + absl::Seconds(30), [&](auto r) {
      result = r.status();
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  static prometheus::Labels Outcome(const std::string& model, const std::string& reason) {
    return {{"model", model}, {"version", model.empty() ? "" : "1"},
            {"outcome", reason == "OK" ? "success" : "failure"}, {"reason", reason}};
  }

  fs::path root_;
  ClusterShape cluster_{.workers = 4};
  testing::LocalPieceRunner runner_;
  prometheus::Registry registry_;
  std::unique_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<CoordinatorBackend> backend_;
};

TEST_F(CoordinatorMetricsTest, RequestsAreCountedByModelVersionAndOutcome) {
  ASSERT_TRUE(backend_->Deploy().ok());
  EXPECT_EQ(MetricValue(registry_, "tessera_requests_total", Outcome("cnn_data", "OK")), 0)
      << "a deployed version's success series exists from the start";
  ASSERT_TRUE(Infer(Request("cnn_data", {3, 3, 32, 32})).ok());
  ASSERT_TRUE(Infer(Request("cnn_data", {2, 3, 32, 32})).ok());
  EXPECT_EQ(Infer(Request("cnn_data", {2, 3, 31, 32})).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Infer(Request("nope", {1, 3, 32, 32})).code(), absl::StatusCode::kNotFound);

  EXPECT_EQ(MetricValue(registry_, "tessera_requests_total", Outcome("cnn_data", "OK")), 2);
  EXPECT_EQ(MetricValue(registry_, "tessera_requests_total", Outcome("cnn_data", "INVALID_ARGUMENT")), 1);
  EXPECT_EQ(MetricValue(registry_, "tessera_requests_total", Outcome("", "NOT_FOUND")), 1)
      << "unknown models count under model=\"\", never under the name a client made up";
  EXPECT_EQ(MetricValue(registry_, "tessera_requests_total", {{"model", "nope"}}), -1);
  const prometheus::Labels version{{"model", "cnn_data"}, {"version", "1"}};
  EXPECT_EQ(HistogramCount(registry_, "tessera_request_duration_seconds", version), 3);
  auto batch = tessera::testing::FindSeries(registry_, "tessera_request_batch_size", version);
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->histogram.sample_count, 2u);
  EXPECT_EQ(batch->histogram.sample_sum, 5);
  EXPECT_EQ(MetricValue(registry_, "tessera_requests_in_flight", version), 0);
  // DATA is one stage; each piece recorded its worker's times.
  EXPECT_GE(HistogramCount(registry_, "tessera_stage_compute_duration_seconds",
                           {{"model", "cnn_data"}, {"stage", "1"}}),
            2);
  EXPECT_GE(HistogramCount(registry_, "tessera_stage_queue_duration_seconds", {{"model", "cnn_data"}, {"stage", "1"}}),
            2);
}

TEST_F(CoordinatorMetricsTest, EveryPipelineStageIsRecorded) {
  ASSERT_TRUE(backend_->Deploy().ok());
  ASSERT_TRUE(Infer(Request("cnn_pipeline", {2, 3, 32, 32})).ok());
  for (const char* stage : {"1", "2", "3"}) {
    EXPECT_EQ(HistogramCount(registry_, "tessera_stage_compute_duration_seconds",
                             {{"model", "cnn_pipeline"}, {"version", "1"}, {"stage", stage}}),
              1)
        << "stage " << stage;
  }
  EXPECT_EQ(HistogramCount(registry_, "tessera_stage_compute_duration_seconds",
                           {{"model", "cnn_pipeline"}, {"stage", "4"}}),
            -1);
}

TEST_F(CoordinatorMetricsTest, WorkerFailuresAreLabelledWithTheirCode) {
  ASSERT_TRUE(backend_->Deploy().ok());
  runner_.fail_stage = 1;
  EXPECT_EQ(Infer(Request("cnn_pipeline", {2, 3, 32, 32})).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(MetricValue(registry_, "tessera_requests_total", Outcome("cnn_pipeline", "UNAVAILABLE")), 1);
  EXPECT_EQ(MetricValue(registry_, "tessera_requests_total", Outcome("cnn_pipeline", "OK")), 0);
  EXPECT_EQ(MetricValue(registry_, "tessera_requests_in_flight", {{"model", "cnn_pipeline"}}), 0);
}

TEST_F(CoordinatorMetricsTest, UndeployedVersionsCountAsUnavailable) {
  cluster_.workers = 2;  // too few for 3 stages
  EXPECT_FALSE(backend_->Deploy().ok());
  EXPECT_EQ(Infer(Request("cnn_pipeline", {1, 3, 32, 32})).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(MetricValue(registry_, "tessera_requests_total", Outcome("cnn_pipeline", "UNAVAILABLE")), 1);
}

TEST_F(CoordinatorMetricsTest, CheckReadyGivesTheReason) {
  absl::Status ready = backend_->CheckReady(1);
  EXPECT_EQ(ready.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(ready.message().find("no model"), std::string::npos) << ready;

  cluster_.workers = 2;
  EXPECT_FALSE(backend_->Deploy().ok());
  ready = backend_->CheckReady(1);
  EXPECT_EQ(ready.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(ready.message().find("cnn_pipeline version 1"), std::string::npos) << ready;
  // Not strict: the versions that did deploy are enough.
  EXPECT_TRUE(backend_->CheckReady(1, /*strict=*/false).ok()) << backend_->CheckReady(1, false);

  cluster_.workers = 4;
  ASSERT_TRUE(backend_->Deploy().ok());
  EXPECT_TRUE(backend_->CheckReady(1).ok()) << backend_->CheckReady(1);
  EXPECT_TRUE(backend_->CheckReady(4).ok());
  ready = backend_->CheckReady(5);
  EXPECT_EQ(ready.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(ready.message().find("4 healthy workers, 5 needed"), std::string::npos) << ready;
}

TEST(CoordinatorMetricsUnitTest, HandlesOfOneVersionShareTheirSeries) {
  prometheus::Registry registry;
  CoordinatorMetrics metrics(&registry);
  auto first = metrics.ForVersion("m", 2, 2);
  auto second = metrics.ForVersion("m", 2, 2);
  first->requests.Record(absl::OkStatus());
  second->requests.Record(absl::OkStatus());
  second->requests.Record(absl::DeadlineExceededError("late"));
  EXPECT_EQ(MetricValue(registry, "tessera_requests_total",
                        {{"model", "m"}, {"version", "2"}, {"outcome", "success"}, {"reason", "OK"}}),
            2);
  EXPECT_EQ(MetricValue(registry, "tessera_requests_total", {{"model", "m"}, {"reason", "DEADLINE_EXCEEDED"}}), 1);
  ASSERT_EQ(first->stages->stages.size(), 2u);
  EXPECT_EQ(first->stages->stages[1].compute_seconds, second->stages->stages[1].compute_seconds);
  metrics.SetWorkers(3, 1);
  EXPECT_EQ(MetricValue(registry, "tessera_workers_up"), 3);
  EXPECT_EQ(MetricValue(registry, "tessera_workers_down"), 1);
  metrics.cluster().retries->Increment();
  EXPECT_EQ(MetricValue(registry, "tessera_piece_retries_total"), 1);
  EXPECT_EQ(MetricValue(registry, "tessera_sent_to_workers_bytes_total", {{"rpc", "execute"}}), 0);
}

}  // namespace
}  // namespace tessera::coordinator
