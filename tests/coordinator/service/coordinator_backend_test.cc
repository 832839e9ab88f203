// CoordinatorBackend end to end in one process: a model repository with a
// real exported CNN and transformer in DATA, PIPELINE and HYBRID
// configurations, partitions run by a local piece runner. Answers are checked
// against the engine running the whole model: bit-identical for a pipeline
// without micro-batching, within 1e-5 relative otherwise. Plus bad requests,
// deployments that lack workers, statistics (with the coordinator's
// breakdown and the per-stage extension), dynamic batching and the
// repository RPCs.
#include "coordinator/service/coordinator_backend.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/coordinator/local_piece_runner.h"
#include "worker/engine/engine.h"

namespace tessera::coordinator {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& path, const std::string& contents) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

// Reports worker timings the way a worker would (LocalPieceRunner leaves
// them 0): the piece's time on the "worker" as compute, 1 us of queue.
class TimingPieceRunner : public PieceRunner {
 public:
  explicit TimingPieceRunner(PieceRunner* inner) : inner_(inner) {}
  std::vector<double> ReplicaWeights(const Deployment& deployment, int stage) override {
    return inner_->ReplicaWeights(deployment, stage);
  }
  void Prepare(const Deployment& deployment) override { inner_->Prepare(deployment); }
  void Run(const Deployment& deployment, int stage, int replica, std::shared_ptr<const worker::ExecuteRequest> request,
           absl::Time deadline, Done done) override {
    const absl::Time start = absl::Now();
    inner_->Run(deployment, stage, replica, std::move(request), deadline,
                [start, done = std::move(done)](absl::StatusOr<worker::ExecuteResponse> response) {
                  if (response.ok()) {
                    const int64_t us = absl::ToInt64Microseconds(absl::Now() - start);
                    response->set_queue_time_us(1);
                    response->set_compute_time_us(static_cast<uint64_t>(std::max<int64_t>(us - 1, 1)));
                  }
                  done(std::move(response));
                });
  }

 private:
  PieceRunner* const inner_;
};

class CoordinatorBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("tessera_backend_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    cnn_ = ReadFile(std::string(TESSERA_TESTDATA_DIR) + "/planner_resnet.onnx");
    transformer_ = ReadFile(std::string(TESSERA_TESTDATA_DIR) + "/planner_transformer.onnx");
    AddModel("cnn_data", cnn_, "max_batch_size: 8 parallelism { strategy: DATA }");
    AddModel("cnn_pipeline", cnn_, "max_batch_size: 8 parallelism { strategy: PIPELINE stages: 3 }");
    AddModel("cnn_hybrid", cnn_,
             "max_batch_size: 8 parallelism { strategy: HYBRID stages: 2 replicas: 2 micro_batch_size: 2 }");
    AddModel("transformer_pipeline", transformer_,
             "max_batch_size: 4 parallelism { strategy: PIPELINE stages: 4 micro_batch_size: 1 }");
    AddModel("transformer_whole", transformer_, "max_batch_size: 4 parallelism { strategy: PIPELINE stages: 2 }");
    AddModel("cnn_batched", cnn_,
             "max_batch_size: 8 parallelism { strategy: DATA } "
             "dynamic_batching { max_queue_delay_microseconds: 1000000 }");
    auto repository = ModelRepository::Create({.root = root_.string()});
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
    ASSERT_TRUE(repository_->LoadAll().ok());
    backend_ = std::make_unique<CoordinatorBackend>(CoordinatorOptions{}, repository_.get(), &timed_,
                                                    [this] { return cluster_; });
  }
  void TearDown() override {
    backend_.reset();
    fs::remove_all(root_);
  }

  void AddModel(const std::string& name, const std::string& bytes, const std::string& config) {
    WriteFile(root_ / name / "config.pbtxt", "platform: \"onnx\"\n" + config + "\n");
    WriteFile(root_ / name / "1" / "model.onnx", bytes);
  }

  // `request` is a copy: the backend may move its input bytes out.
  absl::StatusOr<inference::ModelInferResponse> Infer(inference::ModelInferRequest request) {
    absl::Notification done;
    absl::StatusOr<inference::ModelInferResponse> result;
    backend_->ModelInfer(&request, absl::Now() + absl::Seconds(30), [&](auto r) {
      result = std::move(r);
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  fs::path root_;
  std::string cnn_, transformer_;
  ClusterShape cluster_{.workers = 4};
  testing::LocalPieceRunner runner_;
  TimingPieceRunner timed_{&runner_};
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<CoordinatorBackend> backend_;
};

Tensor RandomInput(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  Tensor t = Tensor::Allocate(DataType::kFloat32, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

inference::ModelInferRequest Request(const std::string& model, const Tensor& input) {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  request.set_id("req-1");
  auto* in = request.add_inputs();
  in->set_name("input");
  in->set_datatype("FP32");
  for (int64_t d : input.shape()) in->add_shape(d);
  request.add_raw_input_contents(static_cast<const char*>(input.raw_data()), input.byte_size());
  return request;
}

// The whole model on one engine, as `tessera run` computes it.
Tensor Reference(const std::string& model_bytes, const Tensor& input) {
  auto engine = engine::Engine::LoadFromBytes(model_bytes);
  EXPECT_TRUE(engine.ok()) << engine.status();
  auto out = (*engine)->Run({{"input", input}});
  EXPECT_TRUE(out.ok()) << out.status();
  return (*out)[0];
}

// max |a - b| / max |b|.
double RelativeDifference(const std::string& raw, const Tensor& expected) {
  EXPECT_EQ(raw.size(), expected.byte_size());
  const float* a = reinterpret_cast<const float*>(raw.data());
  double max_diff = 0, max_abs = 1e-30;
  for (int64_t i = 0; i < expected.num_elements(); ++i) {
    max_diff = std::max(max_diff, double(std::fabs(a[i] - expected.data<float>()[i])));
    max_abs = std::max(max_abs, double(std::fabs(expected.data<float>()[i])));
  }
  return max_diff / max_abs;
}

TEST_F(CoordinatorBackendTest, EveryStrategyAnswersLikeTheWholeModel) {
  ASSERT_TRUE(backend_->Deploy().ok());
  EXPECT_TRUE(backend_->ServerReady());
  struct Case {
    std::string model;
    Shape shape;
    bool bit_identical;
  };
  const std::vector<Case> cases = {
      {"cnn_data", {7, 3, 32, 32}, false},
      {"cnn_pipeline", {5, 3, 32, 32}, true},
      {"cnn_hybrid", {7, 3, 32, 32}, false},
      {"transformer_pipeline", {3, 6, 32}, false},
      {"transformer_whole", {4, 6, 32}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.model);
    const Tensor input = RandomInput(c.shape, 7);
    absl::StatusOr<inference::ModelInferResponse> response = Infer(Request(c.model, input));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->model_name(), c.model);
    EXPECT_EQ(response->model_version(), "1");
    EXPECT_EQ(response->id(), "req-1");
    ASSERT_EQ(response->outputs_size(), 1);
    EXPECT_EQ(response->outputs(0).name(), "output");
    EXPECT_EQ(response->outputs(0).datatype(), "FP32");
    const Tensor expected = Reference(c.model.rfind("cnn", 0) == 0 ? cnn_ : transformer_, input);
    EXPECT_EQ(Shape(response->outputs(0).shape().begin(), response->outputs(0).shape().end()), expected.shape());
    const std::string& raw = response->raw_output_contents(0);
    if (c.bit_identical) {
      ASSERT_EQ(raw.size(), expected.byte_size());
      EXPECT_EQ(0, std::memcmp(raw.data(), expected.raw_data(), raw.size())) << "not bit-identical";
    } else {
      EXPECT_LT(RelativeDifference(raw, expected), 1e-5);
    }
  }
  auto deployment = backend_->DeploymentOf("cnn_hybrid", "");
  ASSERT_TRUE(deployment.ok()) << deployment.status();
  EXPECT_EQ((*deployment)->strategy, Strategy::kHybrid);
  EXPECT_EQ((*deployment)->stages.size(), 2u);
  EXPECT_EQ((*deployment)->replicas, 2);
}

TEST_F(CoordinatorBackendTest, BadRequestsAreRefusedClearly) {
  ASSERT_TRUE(backend_->Deploy().ok());
  absl::StatusOr<inference::ModelInferResponse> r = Infer(Request("nope", RandomInput({1, 3, 32, 32}, 1)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope"), std::string::npos) << r.status();
  r = Infer(Request("cnn_data", RandomInput({1, 3, 16, 32}, 1)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("input"), std::string::npos) << r.status();
  r = Infer(Request("cnn_data", RandomInput({9, 3, 32, 32}, 1)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  inference::ModelInferRequest wrong_output = Request("cnn_data", RandomInput({1, 3, 32, 32}, 1));
  wrong_output.add_outputs()->set_name("logits");
  r = Infer(wrong_output);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("logits"), std::string::npos) << r.status();
  // Still serving.
  EXPECT_TRUE(Infer(Request("cnn_data", RandomInput({2, 3, 32, 32}, 1))).ok());
}

TEST_F(CoordinatorBackendTest, TooFewWorkersIsUnavailableWithTheReason) {
  cluster_.workers = 2;
  absl::Status deployed = backend_->Deploy();
  EXPECT_EQ(deployed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(backend_->ServerReady()) << "the DATA models are deployed";
  EXPECT_FALSE(backend_->AllDeployed());
  inference::ModelReadyRequest ready;
  ready.set_name("cnn_pipeline");
  EXPECT_FALSE(*backend_->ModelReady(ready));
  absl::StatusOr<inference::ModelInferResponse> r = Infer(Request("cnn_pipeline", RandomInput({1, 3, 32, 32}, 1)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("needs 3 workers"), std::string::npos) << r.status();
  // DATA still works on 2 workers.
  EXPECT_TRUE(Infer(Request("cnn_data", RandomInput({3, 3, 32, 32}, 1))).ok());
}

TEST_F(CoordinatorBackendTest, FailuresNameTheStage) {
  ASSERT_TRUE(backend_->Deploy().ok());
  runner_.fail_stage = 1;
  absl::StatusOr<inference::ModelInferResponse> r = Infer(Request("cnn_pipeline", RandomInput({2, 3, 32, 32}, 1)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("stage 2 of 3"), std::string::npos) << r.status();
}

TEST_F(CoordinatorBackendTest, StatisticsCountSuccessesAndFailures) {
  ASSERT_TRUE(backend_->Deploy().ok());
  ASSERT_TRUE(Infer(Request("cnn_data", RandomInput({3, 3, 32, 32}, 1))).ok());
  ASSERT_TRUE(Infer(Request("cnn_data", RandomInput({2, 3, 32, 32}, 2))).ok());
  EXPECT_FALSE(Infer(Request("cnn_data", RandomInput({2, 3, 31, 32}, 2))).ok());
  inference::ModelStatisticsRequest request;
  request.set_name("cnn_data");
  absl::StatusOr<inference::ModelStatisticsResponse> stats = backend_->ModelStatistics(request);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->model_stats_size(), 1);
  const auto& s = stats->model_stats(0);
  EXPECT_EQ(s.inference_count(), 5u);
  EXPECT_EQ(s.execution_count(), 2u);
  EXPECT_EQ(s.inference_stats().success().count(), 2u);
  EXPECT_EQ(s.inference_stats().fail().count(), 1u);
  EXPECT_GT(s.inference_stats().success().ns(), 0u);
  request.set_name("nope");
  EXPECT_EQ(backend_->ModelStatistics(request).status().code(), absl::StatusCode::kNotFound);
}

absl::StatusOr<inference::ModelStatistics> StatisticsOf(CoordinatorBackend& backend, const std::string& model) {
  inference::ModelStatisticsRequest request;
  request.set_name(model);
  absl::StatusOr<inference::ModelStatisticsResponse> stats = backend.ModelStatistics(request);
  if (!stats.ok()) return stats.status();
  if (stats->model_stats_size() != 1) return absl::InternalError("not one model_stats entry");
  return stats->model_stats(0);
}

TEST_F(CoordinatorBackendTest, StatisticsBreakDownTheRequestAndTheStages) {
  ASSERT_TRUE(backend_->Deploy().ok());
  const Tensor first = RandomInput({2, 3, 32, 32}, 3);
  ASSERT_TRUE(Infer(Request("cnn_pipeline", first)).ok());
  ASSERT_TRUE(Infer(Request("cnn_pipeline", RandomInput({1, 3, 32, 32}, 4))).ok());
  absl::StatusOr<inference::ModelStatistics> s = StatisticsOf(*backend_, "cnn_pipeline");
  ASSERT_TRUE(s.ok()) << s.status();
  const inference::InferStatistics& infer = s->inference_stats();
  EXPECT_EQ(s->inference_count(), 3u);
  EXPECT_EQ(s->execution_count(), 2u);
  EXPECT_EQ(infer.success().count(), 2u);
  // Not batched: a 0-duration queue entry per request.
  EXPECT_EQ(infer.queue().count(), 2u);
  EXPECT_EQ(infer.queue().ns(), 0u);
  EXPECT_EQ(infer.compute_input().count(), 2u);
  EXPECT_GT(infer.compute_input().ns(), 0u);
  EXPECT_EQ(infer.compute_infer().count(), s->execution_count());
  EXPECT_GT(infer.compute_infer().ns(), 0u);
  EXPECT_EQ(infer.compute_output().count(), 2u);
  EXPECT_GT(infer.compute_output().ns(), 0u);
  EXPECT_LE(infer.compute_input().ns() + infer.compute_infer().ns() + infer.compute_output().ns(),
            infer.success().ns());
  // batch_stats: one execution of 2 rows, one of 1.
  ASSERT_EQ(s->batch_stats_size(), 2);
  EXPECT_EQ(s->batch_stats(0).batch_size(), 1u);
  EXPECT_EQ(s->batch_stats(0).compute_infer().count(), 1u);
  EXPECT_EQ(s->batch_stats(1).batch_size(), 2u);
  EXPECT_EQ(s->batch_stats(1).compute_infer().count(), 1u);
  // stage_stats: one entry per stage, one piece per request each.
  ASSERT_EQ(s->stage_stats_size(), 3);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const inference::StageStatistics& stage = s->stage_stats(i);
    EXPECT_EQ(stage.stage(), static_cast<uint32_t>(i + 1));
    EXPECT_EQ(stage.workers(), 0u);
    EXPECT_EQ(stage.dispatch().count(), 2u);
    EXPECT_EQ(stage.queue().count(), 2u);
    EXPECT_EQ(stage.compute().count(), 2u);
    EXPECT_EQ(stage.transfer().count(), 2u);
    EXPECT_EQ(stage.queue().ns(), 2000u) << "1 us per piece, as reported";
    EXPECT_GT(stage.compute().ns(), 0u);
    EXPECT_GE(stage.dispatch().ns(), stage.queue().ns() + stage.compute().ns());
    EXPECT_EQ(stage.transfer().ns(), stage.dispatch().ns() - stage.queue().ns() - stage.compute().ns());
    EXPECT_GT(stage.bytes_received(), 0u);
  }
  // Stage 1 receives the model input: 3 rows of 3x32x32 floats in all.
  EXPECT_EQ(s->stage_stats(0).bytes_sent(), 3u * 3 * 32 * 32 * 4);
  // The final stage returns the outputs: 3 rows of logits.
  const Tensor expected = Reference(cnn_, first);
  EXPECT_EQ(s->stage_stats(2).bytes_received(), 3 * expected.byte_size() / 2);
  // A DATA deployment has one stage.
  ASSERT_TRUE(Infer(Request("cnn_data", first)).ok());
  s = StatisticsOf(*backend_, "cnn_data");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->stage_stats_size(), 1);
  EXPECT_GE(s->stage_stats(0).dispatch().count(), 1u);
}

TEST_F(CoordinatorBackendTest, BatchedModelMergesConcurrentRequests) {
  ASSERT_TRUE(backend_->Deploy().ok());
  constexpr int kRequests = 8;
  std::vector<Tensor> inputs;
  std::vector<inference::ModelInferRequest> requests;
  for (int i = 0; i < kRequests; ++i) {
    inputs.push_back(RandomInput({1, 3, 32, 32}, 100 + i));
    requests.push_back(Request("cnn_batched", inputs.back()));
    requests.back().set_id("req-" + std::to_string(i));
  }
  std::vector<absl::StatusOr<inference::ModelInferResponse>> results(kRequests);
  std::vector<absl::Notification> done(kRequests);
  // All in flight at once: ModelInfer only queues them.
  for (int i = 0; i < kRequests; ++i) {
    backend_->ModelInfer(&requests[i], absl::Now() + absl::Seconds(30), [&, i](auto r) {
      results[i] = std::move(r);
      done[i].Notify();
    });
  }
  for (int i = 0; i < kRequests; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(done[i].WaitForNotificationWithTimeout(absl::Seconds(20)));
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    EXPECT_EQ(results[i]->id(), "req-" + std::to_string(i));
    ASSERT_EQ(results[i]->outputs_size(), 1);
    const Tensor expected = Reference(cnn_, inputs[i]);
    EXPECT_EQ(Shape(results[i]->outputs(0).shape().begin(), results[i]->outputs(0).shape().end()),
              expected.shape());
    EXPECT_LT(RelativeDifference(results[i]->raw_output_contents(0), expected), 1e-5);
  }
  absl::StatusOr<inference::ModelStatistics> s = StatisticsOf(*backend_, "cnn_batched");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->inference_count(), static_cast<uint64_t>(kRequests));
  EXPECT_GE(s->execution_count(), 1u);
  EXPECT_LT(s->execution_count(), s->inference_count()) << "nothing was merged";
  const inference::InferStatistics& infer = s->inference_stats();
  EXPECT_EQ(infer.success().count(), static_cast<uint64_t>(kRequests));
  EXPECT_EQ(infer.queue().count(), static_cast<uint64_t>(kRequests));
  EXPECT_GT(infer.queue().ns(), 0u);
  EXPECT_EQ(infer.compute_input().count(), static_cast<uint64_t>(kRequests));
  EXPECT_EQ(infer.compute_output().count(), static_cast<uint64_t>(kRequests));
  EXPECT_EQ(infer.compute_infer().count(), s->execution_count());
  EXPECT_GT(infer.compute_infer().ns(), 0u);
  // batch_stats: executions by size add up to the counts.
  uint64_t executions = 0, samples = 0, ns = 0;
  for (const inference::InferBatchStatistics& batch : s->batch_stats()) {
    EXPECT_GT(batch.batch_size(), 0u);
    executions += batch.compute_infer().count();
    samples += batch.batch_size() * batch.compute_infer().count();
    ns += batch.compute_infer().ns();
  }
  EXPECT_EQ(executions, s->execution_count());
  EXPECT_EQ(samples, s->inference_count());
  EXPECT_EQ(ns, infer.compute_infer().ns());
  // The pieces that reached the "workers" were the merged batches.
  {
    absl::MutexLock lock(&runner_.mu);
    int64_t rows = 0;
    for (const auto& call : runner_.calls) rows += call.rows;
    EXPECT_EQ(rows, kRequests);
    EXPECT_LT(runner_.calls.size(), static_cast<size_t>(kRequests));
  }
  // A lone request goes after the delay (1 s) and is answered.
  ASSERT_TRUE(Infer(Request("cnn_batched", RandomInput({3, 3, 32, 32}, 9))).ok());
}

TEST_F(CoordinatorBackendTest, BatchedModelQueueBoundAndShutdown) {
  AddModel("cnn_bounded", cnn_,
           "max_batch_size: 8 dynamic_batching { max_queue_delay_microseconds: 10000000 "
           "default_queue_policy { max_queue_size: 1 } }");
  ASSERT_TRUE(repository_->Load("cnn_bounded").ok());
  ASSERT_TRUE(backend_->Deploy("cnn_bounded").ok());
  inference::ModelInferRequest request = Request("cnn_bounded", RandomInput({1, 3, 32, 32}, 1));
  const inference::ModelInferRequest second_request = request;  // the backend consumes the first one's bytes
  absl::Notification first_done;
  absl::Status first;
  backend_->ModelInfer(&request, absl::Now() + absl::Seconds(30), [&](auto r) {
    first = r.status();
    first_done.Notify();
  });
  absl::StatusOr<inference::ModelInferResponse> second = Infer(second_request);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted) << second.status();
  EXPECT_NE(second.status().message().find("cnn_bounded"), std::string::npos) << second.status();
  EXPECT_FALSE(first_done.HasBeenNotified()) << "waits for the 10 s delay";
  // Shutting down fails the queued request instead of waiting.
  const absl::Time start = absl::Now();
  backend_.reset();
  ASSERT_TRUE(first_done.HasBeenNotified());
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(CoordinatorBackendTest, AdmissionBoundsTheRequestsOfEachModel) {
  AddModel("cnn_slow", cnn_, "max_batch_size: 8 dynamic_batching { max_queue_delay_microseconds: 10000000 }");
  ASSERT_TRUE(repository_->Load("cnn_slow").ok());
  CoordinatorOptions options;
  options.max_requests_per_model = 2;
  backend_ = std::make_unique<CoordinatorBackend>(options, repository_.get(), &timed_, [this] { return cluster_; });
  ASSERT_TRUE(backend_->Deploy().ok());
  const inference::ModelInferRequest request = Request("cnn_slow", RandomInput({1, 3, 32, 32}, 1));
  std::vector<inference::ModelInferRequest> held(2, request);
  absl::Notification done[2];
  absl::Status results[2];
  for (int i = 0; i < 2; ++i) {
    backend_->ModelInfer(&held[i], absl::Now() + absl::Seconds(30), [&, i](auto r) {
      results[i] = r.status();
      done[i].Notify();
    });
  }
  // The third is refused at once, naming the model and the limit.
  absl::StatusOr<inference::ModelInferResponse> third = Infer(request);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();
  EXPECT_NE(third.status().message().find("model 'cnn_slow'"), std::string::npos) << third.status();
  EXPECT_NE(third.status().message().find("limit per model (2"), std::string::npos) << third.status();
  // Other models have their own bound; refusals and bad requests give
  // their slot back.
  EXPECT_TRUE(Infer(Request("cnn_data", RandomInput({2, 3, 32, 32}, 1))).ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Infer(Request("cnn_data", RandomInput({1, 3, 9, 9}, 1))).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(Infer(Request("cnn_data", RandomInput({1, 3, 32, 32}, 1))).ok());
  EXPECT_FALSE(done[0].HasBeenNotified());
  backend_.reset();  // fails the two queued ones
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(done[i].HasBeenNotified());
    EXPECT_EQ(results[i].code(), absl::StatusCode::kUnavailable) << results[i];
  }
}

TEST_F(CoordinatorBackendTest, RequestsNamingNoModelAreInvalid) {
  ASSERT_TRUE(backend_->Deploy().ok());
  absl::StatusOr<inference::ModelInferResponse> r = Infer(Request("", RandomInput({1, 3, 32, 32}, 1)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "ModelInfer names no model (model name is empty)");
  EXPECT_EQ(backend_->ModelReady({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend_->ModelMetadata({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend_->ModelConfig({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CoordinatorBackendTest, TimeoutParameterShortensTheDeadline) {
  ASSERT_TRUE(backend_->Deploy().ok());
  inference::ModelInferRequest request = Request("cnn_batched", RandomInput({1, 3, 32, 32}, 1));
  (*request.mutable_parameters())["timeout"].set_int64_param(50000);  // 50 ms; the batcher waits 1 s
  const absl::Time start = absl::Now();
  absl::StatusOr<inference::ModelInferResponse> r = Infer(request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(900));
}

TEST_F(CoordinatorBackendTest, RepositoryUnloadAndLoad) {
  ASSERT_TRUE(backend_->Deploy().ok());
  inference::RepositoryModelUnloadRequest unload;
  unload.set_model_name("cnn_data");
  absl::Notification unloaded;
  absl::Status status;
  backend_->RepositoryModelUnload(&unload, [&](auto r) {
    status = r.status();
    unloaded.Notify();
  });
  unloaded.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(Infer(Request("cnn_data", RandomInput({1, 3, 32, 32}, 1))).status().code(),
            absl::StatusCode::kNotFound);
  inference::RepositoryModelLoadRequest load;
  load.set_model_name("cnn_data");
  absl::Notification loaded;
  backend_->RepositoryModelLoad(&load, [&](auto r) {
    status = r.status();
    loaded.Notify();
  });
  loaded.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(Infer(Request("cnn_data", RandomInput({1, 3, 32, 32}, 1))).ok());
  // A bad model fails alone.
  WriteFile(root_ / "garbage" / "config.pbtxt", "platform: \"onnx\"\n");
  WriteFile(root_ / "garbage" / "1" / "model.onnx", "not a model");
  load.set_model_name("garbage");
  absl::Notification refused;
  backend_->RepositoryModelLoad(&load, [&](auto r) {
    status = r.status();
    refused.Notify();
  });
  refused.WaitForNotification();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("garbage"), std::string::npos) << status;
  EXPECT_TRUE(Infer(Request("cnn_pipeline", RandomInput({1, 3, 32, 32}, 1))).ok());
}

TEST(ChooseStrategyTest, AutoFollowsMemoryBudgetAndWorkers) {
  inference::ModelParallelism auto_strategy;
  auto choice = ChooseStrategy(auto_strategy, 100 << 20, {.workers = 3, .worker_memory_bytes = 0});
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->strategy, Strategy::kData);
  EXPECT_EQ(choice->replicas, 3);
  choice = ChooseStrategy(auto_strategy, 100 << 20, {.workers = 3, .worker_memory_bytes = 200 << 20});
  EXPECT_EQ(choice->strategy, Strategy::kData);
  // 100 MB over 64 MB budgets (48 usable): 3 stages; 3 workers -> PIPELINE.
  choice = ChooseStrategy(auto_strategy, 100 << 20, {.workers = 3, .worker_memory_bytes = 64 << 20});
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->strategy, Strategy::kPipeline);
  EXPECT_EQ(choice->stages, 3);
  // ... 6 workers -> HYBRID 3 x 2.
  choice = ChooseStrategy(auto_strategy, 100 << 20, {.workers = 6, .worker_memory_bytes = 64 << 20});
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->strategy, Strategy::kHybrid);
  EXPECT_EQ(choice->stages, 3);
  EXPECT_EQ(choice->replicas, 2);
  // ... 2 workers: not enough.
  choice = ChooseStrategy(auto_strategy, 100 << 20, {.workers = 2, .worker_memory_bytes = 64 << 20});
  EXPECT_EQ(choice.status().code(), absl::StatusCode::kFailedPrecondition);
  inference::ModelParallelism pipeline;
  pipeline.set_strategy(inference::ModelParallelism::PIPELINE);
  choice = ChooseStrategy(pipeline, 1, {.workers = 4});
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->stages, 4) << "stages 0: one per worker";
  inference::ModelParallelism hybrid;
  hybrid.set_strategy(inference::ModelParallelism::HYBRID);
  choice = ChooseStrategy(hybrid, 1, {.workers = 5});
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->stages, 2);
  EXPECT_EQ(choice->replicas, 2);
}

}  // namespace
}  // namespace tessera::coordinator
