// The cluster as real processes on loopback with mutual TLS: tessera-worker
// and tessera-coordinator binaries, certificates from `tessera certs`' code,
// a model repository of real exported graphs, and a KServe client.
//
//   - DATA on 1, 2 and 3 workers with an uneven batch (7 samples);
//   - PIPELINE with 2, 3 and 4 stages on a CNN and on a transformer with
//     skip connections and shape subgraphs (bit-identical to the engine
//     running the whole model), HYBRID 2x2 with micro-batches;
//   - 64 concurrent clients, every answer correct;
//   - a model over 4 MB (streamed to workers in chunks);
//   - a worker killed and restarted between requests;
//   - the same request through typed contents and raw_input_contents;
//   - ModelStreamInfer: every request of a stream answered, a bad one as an
//     error_message while the stream goes on;
//   - refused: no client certificate, a certificate from another CA, a
//     client certificate presented to a worker.
// Every wait is bounded; processes are killed when the fixture ends.
#include <signal.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/kserve_request.h"
#include "client/process.h"
#include "common/certificate_authority.h"
#include "common/tls_credentials.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"
#include "proto/worker.grpc.pb.h"
#include "tests/worker/engine/model_builder.h"
#include "worker/engine/engine.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using client::Process;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
// Workers and the coordinator's planning use one engine thread each, so the
// folded constants and kernels are the ones `Reference` uses.
constexpr char kThreads[] = "1";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& path, const std::string& contents) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

Tensor RandomInput(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  Tensor t = Tensor::Allocate(DataType::kFloat32, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

Tensor Reference(const std::string& model_bytes, const std::string& input_name, const Tensor& input) {
  auto engine = engine::Engine::LoadFromBytes(model_bytes, {.intra_op_threads = 1});
  EXPECT_TRUE(engine.ok()) << engine.status();
  auto out = (*engine)->Run({{input_name, input}});
  EXPECT_TRUE(out.ok()) << out.status();
  return (*out)[0];
}

// A model over 4 MB: y = Relu(x @ W), W [1024, 1100] float32.
std::string LargeModel() {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  std::vector<float> w(1024 * 1100);
  for (float& v : w) v = dist(rng);
  engine::testing::ModelBuilder b;
  b.Input("input", onnx::TensorProto::FLOAT, {-1, 1024})
      .Initializer("W", Tensor::FromVector<float>({1024, 1100}, w))
      .Node("MatMul", {"input", "W"}, {"h"})
      .Node("Relu", {"h"}, {"output"})
      .Output("output", {-1, 1100});
  return b.Bytes();
}

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / absl::StrCat("tessera_cluster_test_", ::getpid()));
    fs::remove_all(*dir_);
    ASSERT_TRUE(MakeClusterCertificates((*dir_ / "certs").string(), {}).ok());
    ASSERT_TRUE(MakeClusterCertificates((*dir_ / "other_ca").string(), {}).ok());
    const fs::path testdata = TESSERA_TESTDATA_DIR;
    cnn_ = new std::string(ReadFile(testdata / "planner_resnet.onnx"));
    transformer_ = new std::string(ReadFile(testdata / "planner_transformer.onnx"));
    large_ = new std::string(LargeModel());
    const fs::path models = *dir_ / "models";
    auto add = [&](const std::string& name, const std::string& bytes, const std::string& config) {
      WriteFile(models / name / "config.pbtxt", absl::StrCat("platform: \"onnx\"\n", config, "\n"));
      WriteFile(models / name / "1" / "model.onnx", bytes);
    };
    add("cnn_data", *cnn_, "max_batch_size: 8 parallelism { strategy: DATA }");
    for (int k : {2, 3, 4}) {
      add(absl::StrCat("cnn_pipeline", k), *cnn_,
          absl::StrCat("max_batch_size: 8 parallelism { strategy: PIPELINE stages: ", k, " }"));
      add(absl::StrCat("transformer_pipeline", k), *transformer_,
          absl::StrCat("max_batch_size: 4 parallelism { strategy: PIPELINE stages: ", k, " }"));
    }
    add("cnn_hybrid", *cnn_,
        "max_batch_size: 8 parallelism { strategy: HYBRID stages: 2 replicas: 2 micro_batch_size: 2 }");
    add("large", *large_, "max_batch_size: 8 parallelism { strategy: DATA }");
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete cnn_;
    delete transformer_;
    delete large_;
  }

  void TearDown() override {
    coordinator_.reset();
    workers_.clear();
  }

  static std::string Bin(const std::string& name) { return absl::StrCat(TESSERA_BIN_DIR, "/", name); }

  // Starts a process and waits for its "listening on HOST:PORT" line.
  static std::pair<std::unique_ptr<Process>, std::string> StartServer(std::vector<std::string> argv) {
    auto process = Process::Spawn({.argv = std::move(argv)});
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return {};
    absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(kStartTimeout);
    EXPECT_TRUE(line.ok()) << line.status() << "\n" << (*process)->StderrTail();
    if (!line.ok()) return {};
    const std::string address = line->substr(line->rfind(' ') + 1);
    return {*std::move(process), address};
  }

  void StartWorker(const std::string& listen = "127.0.0.1:0") {
    auto [process, address] = StartServer({Bin("tessera-worker"), "--listen", listen, "--certs",
                                           (*dir_ / "certs").string(), "--threads", kThreads});
    ASSERT_NE(process, nullptr);
    workers_.push_back(std::move(process));
    worker_addresses_.push_back(address);
  }

  void StartCluster(int workers) {
    for (int i = 0; i < workers; ++i) StartWorker();
    auto [process, address] =
        StartServer({Bin("tessera-coordinator"), "--listen", "127.0.0.1:0", "--model-repository",
                     (*dir_ / "models").string(), "--workers", absl::StrJoin(worker_addresses_, ","), "--certs",
                     (*dir_ / "certs").string(), "--threads", kThreads, "--health-interval-ms", "200"});
    ASSERT_NE(process, nullptr);
    coordinator_ = std::move(process);
    coordinator_address_ = address;
    stub_ = Stub(coordinator_address_, TlsFiles::InDirectory((*dir_ / "certs").string(), NodeRole::kClient));
    ASSERT_NE(stub_, nullptr);
    WaitReady();
  }

  static std::unique_ptr<inference::GRPCInferenceService::Stub> Stub(const std::string& address, TlsFiles files,
                                                                    bool insecure = false) {
    TlsOptions tls;
    tls.files = std::move(files);
    tls.insecure = insecure;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    args.SetMaxSendMessageSize(256 << 20);
    auto channel = MakeChannel(address, tls, args);
    EXPECT_TRUE(channel.ok()) << channel.status();
    if (!channel.ok()) return nullptr;
    return inference::GRPCInferenceService::NewStub(*channel);
  }

  static std::unique_ptr<grpc::ClientContext> Context(int seconds = 60) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    return context;
  }

  void WaitReady() {
    const absl::Time give_up = absl::Now() + kStartTimeout;
    while (absl::Now() < give_up) {
      inference::ServerReadyResponse ready;
      if (stub_->ServerReady(Context(2).get(), {}, &ready).ok() && ready.ready()) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL() << "the coordinator did not become ready\n" << coordinator_->StderrTail();
  }

  grpc::Status Infer(const std::string& model, const Tensor& input, inference::ModelInferResponse* response,
                     client::InferContents contents = client::InferContents::kRaw,
                     inference::GRPCInferenceService::Stub* stub = nullptr) {
    inference::ModelInferRequest request;
    request.set_model_name(model);
    client::AddInferInput("input", input, contents, &request);
    return (stub ? stub : stub_.get())->ModelInfer(Context().get(), request, response);
  }

  // Checks the response's only output against the whole model on one engine.
  static void ExpectMatches(const inference::ModelInferResponse& response, const std::string& model_bytes,
                            const Tensor& input, bool bit_identical) {
    const Tensor expected = Reference(model_bytes, "input", input);
    ASSERT_EQ(response.raw_output_contents_size(), 1);
    EXPECT_EQ(Shape(response.outputs(0).shape().begin(), response.outputs(0).shape().end()), expected.shape());
    const std::string& raw = response.raw_output_contents(0);
    ASSERT_EQ(raw.size(), expected.byte_size());
    if (bit_identical) {
      EXPECT_EQ(0, std::memcmp(raw.data(), expected.raw_data(), raw.size())) << "not bit-identical";
      return;
    }
    const float* got = reinterpret_cast<const float*>(raw.data());
    double max_diff = 0, max_abs = 1e-30;
    for (int64_t i = 0; i < expected.num_elements(); ++i) {
      max_diff = std::max(max_diff, double(std::fabs(got[i] - expected.data<float>()[i])));
      max_abs = std::max(max_abs, double(std::fabs(expected.data<float>()[i])));
    }
    EXPECT_LT(max_diff / max_abs, 1e-5);
  }

  static fs::path* dir_;
  static std::string* cnn_;
  static std::string* transformer_;
  static std::string* large_;
  std::vector<std::unique_ptr<Process>> workers_;
  std::vector<std::string> worker_addresses_;
  std::unique_ptr<Process> coordinator_;
  std::string coordinator_address_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

fs::path* ClusterTest::dir_ = nullptr;
std::string* ClusterTest::cnn_ = nullptr;
std::string* ClusterTest::transformer_ = nullptr;
std::string* ClusterTest::large_ = nullptr;

TEST_F(ClusterTest, DataOnOneTwoAndThreeWorkersWithAnUnevenBatch) {
  for (int workers : {1, 2, 3}) {
    SCOPED_TRACE(absl::StrCat(workers, " workers"));
    StartCluster(workers);
    const Tensor input = RandomInput({7, 3, 32, 32}, workers);
    inference::ModelInferResponse response;
    grpc::Status st = Infer("cnn_data", input, &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ExpectMatches(response, *cnn_, input, /*bit_identical=*/false);
    TearDown();
    worker_addresses_.clear();
  }
}

TEST_F(ClusterTest, PipelineAndHybridMatchTheWholeModel) {
  StartCluster(4);
  for (int k : {2, 3, 4}) {
    SCOPED_TRACE(absl::StrCat(k, " stages"));
    const Tensor image = RandomInput({3, 3, 32, 32}, k);
    inference::ModelInferResponse response;
    grpc::Status st = Infer(absl::StrCat("cnn_pipeline", k), image, &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ExpectMatches(response, *cnn_, image, /*bit_identical=*/true);
    const Tensor tokens = RandomInput({2, 9, 32}, k);
    st = Infer(absl::StrCat("transformer_pipeline", k), tokens, &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ExpectMatches(response, *transformer_, tokens, /*bit_identical=*/true);
  }
  const Tensor image = RandomInput({7, 3, 32, 32}, 11);
  inference::ModelInferResponse response;
  grpc::Status st = Infer("cnn_hybrid", image, &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ExpectMatches(response, *cnn_, image, /*bit_identical=*/false);
}

TEST_F(ClusterTest, SixtyFourConcurrentClientsAllAnsweredCorrectly) {
  StartCluster(3);
  const Tensor input = RandomInput({2, 3, 32, 32}, 5);
  const Tensor expected = Reference(*cnn_, "input", input);
  std::vector<std::thread> clients;
  std::vector<int> correct(64, 0);
  for (int c = 0; c < 64; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 3; ++i) {
        inference::ModelInferResponse response;
        if (!Infer(c % 2 ? "cnn_data" : "cnn_pipeline2", input, &response).ok()) return;
        const std::string& raw = response.raw_output_contents(0);
        const float* got = reinterpret_cast<const float*>(raw.data());
        if (raw.size() != expected.byte_size()) return;
        for (int64_t j = 0; j < expected.num_elements(); ++j) {
          if (std::fabs(got[j] - expected.data<float>()[j]) > 1e-5f * (1 + std::fabs(expected.data<float>()[j]))) {
            return;
          }
        }
      }
      correct[c] = 1;
    });
  }
  for (auto& t : clients) t.join();
  int ok = 0;
  for (int v : correct) ok += v;
  EXPECT_EQ(ok, 64);
}

TEST_F(ClusterTest, ModelOverFourMegabytes) {
  ASSERT_GT(large_->size(), 4u << 20);
  StartCluster(2);
  const Tensor input = RandomInput({5, 1024}, 2);
  inference::ModelInferResponse response;
  grpc::Status st = Infer("large", input, &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ExpectMatches(response, *large_, input, /*bit_identical=*/false);
}

TEST_F(ClusterTest, WorkerKilledAndRestartedBetweenRequests) {
  StartCluster(2);
  const Tensor input = RandomInput({6, 3, 32, 32}, 3);
  inference::ModelInferResponse response;
  ASSERT_TRUE(Infer("cnn_data", input, &response).ok());
  // Kill worker 0; requests keep being answered by worker 1.
  ASSERT_TRUE(workers_[0]->Signal(SIGKILL).ok());
  ASSERT_TRUE(workers_[0]->Wait(absl::Seconds(10)).ok());
  for (int i = 0; i < 3; ++i) {
    grpc::Status st = Infer("cnn_data", input, &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ExpectMatches(response, *cnn_, input, false);
  }
  // Restart it on the same address: it has lost its partitions; the
  // coordinator re-admits it and pushes them again.
  const std::string address = worker_addresses_[0];
  workers_[0].reset();
  StartWorker(address);
  absl::SleepFor(absl::Seconds(1));  // a few health intervals
  for (int i = 0; i < 4; ++i) {
    grpc::Status st = Infer("cnn_data", input, &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ExpectMatches(response, *cnn_, input, false);
  }
}

TEST_F(ClusterTest, TypedAndRawContentsGiveTheSameAnswer) {
  StartCluster(1);
  const Tensor input = RandomInput({3, 3, 32, 32}, 9);
  inference::ModelInferResponse raw, typed;
  ASSERT_TRUE(Infer("cnn_data", input, &raw, client::InferContents::kRaw).ok());
  grpc::Status st = Infer("cnn_data", input, &typed, client::InferContents::kTyped);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(raw.raw_output_contents(0), typed.raw_output_contents(0));
}

TEST_F(ClusterTest, StreamInferAnswersEveryRequestOfTheStream) {
  StartCluster(2);
  auto context = Context();
  auto stream = stub_->ModelStreamInfer(context.get());
  std::vector<Tensor> inputs;
  for (int i = 0; i < 6; ++i) {
    inputs.push_back(RandomInput({1 + i % 3, 3, 32, 32}, 40 + i));
    inference::ModelInferRequest request;
    request.set_model_name(i % 2 ? "cnn_pipeline2" : "cnn_data");
    request.set_id(absl::StrCat(i));
    client::AddInferInput("input", inputs.back(), client::InferContents::kRaw, &request);
    ASSERT_TRUE(stream->Write(request));
  }
  inference::ModelInferRequest bad;  // answered with an error; the stream goes on
  bad.set_model_name("nope");
  bad.set_id("bad");
  ASSERT_TRUE(stream->Write(bad));
  stream->WritesDone();
  int answered = 0, errors = 0;
  inference::ModelStreamInferResponse response;
  while (stream->Read(&response)) {
    if (!response.error_message().empty()) {
      ++errors;
      EXPECT_EQ(response.infer_response().id(), "bad");
      EXPECT_NE(response.error_message().find("nope"), std::string::npos) << response.error_message();
      continue;
    }
    const int i = std::stoi(response.infer_response().id());
    ExpectMatches(response.infer_response(), *cnn_, inputs[i], /*bit_identical=*/i % 2 == 1);
    ++answered;
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answered, 6);
  EXPECT_EQ(errors, 1);
}

TEST_F(ClusterTest, UnauthenticatedAndWrongPeersAreRefused) {
  StartCluster(1);
  const Tensor input = RandomInput({1, 3, 32, 32}, 1);
  inference::ModelInferResponse response;
  // No client certificate at all: plaintext to the TLS port.
  auto plaintext = Stub(coordinator_address_, {}, /*insecure=*/true);
  grpc::Status st = Infer("cnn_data", input, &response, client::InferContents::kRaw, plaintext.get());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // A client certificate from another CA.
  TlsFiles other = TlsFiles::InDirectory((*dir_ / "other_ca").string(), NodeRole::kClient);
  other.ca = (*dir_ / "certs" / "ca.pem").string();  // trusts the server; the server does not trust it
  auto foreign = Stub(coordinator_address_, other);
  st = Infer("cnn_data", input, &response, client::InferContents::kRaw, foreign.get());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // A client certificate presented to a worker: only coordinators may call it.
  TlsOptions tls;
  tls.files = TlsFiles::InDirectory((*dir_ / "certs").string(), NodeRole::kClient);
  auto channel = MakeChannel(worker_addresses_[0], tls);
  ASSERT_TRUE(channel.ok());
  auto worker = worker::Worker::NewStub(*channel);
  worker::StatusResponse status;
  st = worker->Status(Context(10).get(), {}, &status);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  // The cluster still serves its clients.
  EXPECT_TRUE(Infer("cnn_data", input, &response).ok());
}

}  // namespace
}  // namespace tessera
