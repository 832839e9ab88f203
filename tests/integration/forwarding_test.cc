// DIRECT stage forwarding with real processes on loopback (mutual TLS): three
// tessera-worker processes and a tessera-coordinator serving the same
// 3-stage PIPELINE model (tests/testdata/planner_resnet.onnx) twice, with
// parallelism.forwarding RELAY and DIRECT.
//
//   - both modes answer bit-identically to Engine::Run on the whole model
//     (one piece per request), and with micro-batches within rounding;
//   - DIRECT really goes worker to worker: the coordinator receives only the
//     final outputs from workers (tessera_received_from_workers_bytes_total),
//     RELAY also every intermediate activation;
//   - --stage-forwarding sets the default for configs that name none (a bad
//     value stops the coordinator with a message naming it);
//   - killing the middle stage's worker while requests run: every request
//     is still answered correctly (the failed chain is replayed by RELAY).
// Every wait is bounded; processes are killed when the fixture ends.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/kserve_request.h"
#include "client/process.h"
#include "common/certificate_authority.h"
#include "common/tls_credentials.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"
#include "tests/common/http_test_client.h"
#include "worker/engine/engine.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using client::Process;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);

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

Tensor Reference(const std::string& model_bytes, const Tensor& input) {
  auto engine = engine::Engine::LoadFromBytes(model_bytes, {.intra_op_threads = 1});
  EXPECT_TRUE(engine.ok()) << engine.status();
  auto out = (*engine)->Run({{"input", input}});
  EXPECT_TRUE(out.ok()) << out.status();
  return (*out)[0];
}

struct Server {
  std::unique_ptr<Process> process;
  std::string grpc_address;
  std::string ops_address;
};

class ForwardingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / absl::StrCat("tessera_forwarding_test_", ::getpid()));
    fs::remove_all(*dir_);
    ASSERT_TRUE(MakeClusterCertificates((*dir_ / "certs").string(), {}).ok());
    cnn_ = new std::string(ReadFile(fs::path(TESSERA_TESTDATA_DIR) / "planner_resnet.onnx"));
    auto add = [&](const std::string& name, const std::string& parallelism) {
      WriteFile(*dir_ / "models" / name / "config.pbtxt",
                absl::StrCat("platform: \"onnx\"\nmax_batch_size: 8\nparallelism { ", parallelism, " }\n"));
      WriteFile(*dir_ / "models" / name / "1" / "model.onnx", *cnn_);
    };
    add("cnn_relay", "strategy: PIPELINE stages: 3 forwarding: RELAY");
    add("cnn_direct", "strategy: PIPELINE stages: 3 forwarding: DIRECT");
    add("cnn_direct_micro", "strategy: PIPELINE stages: 3 micro_batch_size: 2 forwarding: DIRECT");
    add("cnn_default", "strategy: PIPELINE stages: 3");
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete cnn_;
  }

  void TearDown() override {
    coordinator_.process.reset();
    workers_.clear();
  }

  static std::string Bin(const std::string& name) { return absl::StrCat(TESSERA_BIN_DIR, "/", name); }

  // Starts a server with --ops-listen and reads its two announce lines.
  static Server Start(std::vector<std::string> argv) {
    argv.insert(argv.end(), {"--ops-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--certs",
                             (*dir_ / "certs").string(), "--threads", "1"});
    Server server;
    auto process = Process::Spawn({.argv = std::move(argv)});
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return server;
    server.process = *std::move(process);
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<std::string> line = server.process->ReadStdoutLine(kStartTimeout);
      EXPECT_TRUE(line.ok()) << line.status() << "\n" << server.process->StderrTail();
      if (!line.ok()) return server;
      const std::string address = line->substr(line->rfind(' ') + 1);
      if (absl::StrContains(*line, ": ops listening on ")) {
        server.ops_address = address;
      } else if (absl::StrContains(*line, ": listening on ")) {
        server.grpc_address = address;
      }
    }
    return server;
  }

  void StartCluster(std::vector<std::string> coordinator_flags = {}) {
    std::vector<std::string> addresses;
    for (int i = 0; i < 3; ++i) {
      workers_.push_back(Start({Bin("tessera-worker")}));
      ASSERT_FALSE(workers_.back().grpc_address.empty());
      addresses.push_back(workers_.back().grpc_address);
    }
    std::vector<std::string> argv = {Bin("tessera-coordinator"), "--model-repository", (*dir_ / "models").string(),
                                     "--workers", absl::StrJoin(addresses, ","), "--health-interval-ms", "200"};
    argv.insert(argv.end(), coordinator_flags.begin(), coordinator_flags.end());
    coordinator_ = Start(std::move(argv));
    ASSERT_FALSE(coordinator_.grpc_address.empty());
    TlsOptions tls;
    tls.files = TlsFiles::InDirectory((*dir_ / "certs").string(), NodeRole::kClient);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    auto channel = MakeChannel(coordinator_.grpc_address, tls, args);
    ASSERT_TRUE(channel.ok()) << channel.status();
    stub_ = inference::GRPCInferenceService::NewStub(*channel);
    const absl::Time give_up = absl::Now() + kStartTimeout;
    while (absl::Now() < give_up) {
      inference::ServerReadyResponse ready;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      if (stub_->ServerReady(&context, {}, &ready).ok() && ready.ready()) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL() << "the coordinator did not become ready\n" << coordinator_.process->StderrTail();
  }

  grpc::Status Infer(const std::string& model, const Tensor& input, inference::ModelInferResponse* response) {
    inference::ModelInferRequest request;
    request.set_model_name(model);
    client::AddInferInput("input", input, client::InferContents::kRaw, &request);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->ModelInfer(&context, request, response);
  }

  // What the coordinator receives from workers for `requests` answers of
  // `model` to `input`, each checked bit for bit against `expected`.
  double ReceivedFor(const std::string& model, const Tensor& input, const Tensor& expected, int requests) {
    const double before = ReceivedFromWorkers();
    for (int i = 0; i < requests; ++i) {
      inference::ModelInferResponse response;
      grpc::Status st = Infer(model, input, &response);
      EXPECT_TRUE(st.ok()) << model << ": " << st.error_message();
      if (st.ok()) ExpectMatches(response, expected, /*bit_identical=*/true);
    }
    return ReceivedFromWorkers() - before;
  }

  // The coordinator's tessera_received_from_workers_bytes_total{rpc="execute"}.
  double ReceivedFromWorkers() { return Metric("tessera_received_from_workers_bytes_total{", "rpc=\"execute\""); }

  // The first sample of the coordinator's metric whose line starts with
  // `prefix` and contains `label`.
  double Metric(const std::string& prefix, const std::string& label) {
    absl::StatusOr<testing::HttpResponse> metrics = testing::HttpGet(coordinator_.ops_address, "/metrics");
    EXPECT_TRUE(metrics.ok()) << metrics.status();
    if (!metrics.ok()) return -1;
    for (absl::string_view line : absl::StrSplit(metrics->body, '\n')) {
      if (!absl::StartsWith(line, prefix) || !absl::StrContains(line, label)) {
        continue;
      }
      double value = 0;
      if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) return value;
    }
    ADD_FAILURE() << "no " << prefix << " " << label << " in\n" << metrics->body;
    return -1;
  }

  static void ExpectMatches(const inference::ModelInferResponse& response, const Tensor& expected,
                            bool bit_identical) {
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
  std::vector<Server> workers_;
  Server coordinator_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

fs::path* ForwardingTest::dir_ = nullptr;
std::string* ForwardingTest::cnn_ = nullptr;

TEST_F(ForwardingTest, RelayAndDirectMatchTheWholeModelAndDirectSkipsTheCoordinator) {
  StartCluster();
  const Tensor input = RandomInput({4, 3, 32, 32}, 7);
  const Tensor expected = Reference(*cnn_, input);
  // Warm up both (partition pushes), then count what the coordinator
  // receives from workers for the same requests in each mode.
  inference::ModelInferResponse response;
  for (const char* model : {"cnn_relay", "cnn_direct"}) {
    grpc::Status st = Infer(model, input, &response);
    ASSERT_TRUE(st.ok()) << model << ": " << st.error_message() << "\n" << coordinator_.process->StderrTail();
    ExpectMatches(response, expected, /*bit_identical=*/true);
  }
  constexpr int kRequests = 3;
  const double received[2] = {ReceivedFor("cnn_relay", input, expected, kRequests),
                              ReceivedFor("cnn_direct", input, expected, kRequests)};
  // DIRECT: the final outputs (plus message framing and timings) only.
  const double outputs = static_cast<double>(kRequests * expected.byte_size());
  EXPECT_GE(received[1], outputs);
  EXPECT_LT(received[1], outputs + kRequests * 1024);
  // RELAY: every stage's outputs came back to the coordinator too.
  EXPECT_GT(received[0], received[1] + kRequests * 4096) << "relay " << received[0] << ", direct " << received[1];

  // Micro-batches: two chained pieces per request, merged in order.
  grpc::Status st = Infer("cnn_direct_micro", input, &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ExpectMatches(response, expected, /*bit_identical=*/false);
}

TEST_F(ForwardingTest, StageForwardingFlagSetsTheDefault) {
  const Tensor input = RandomInput({4, 3, 32, 32}, 5);
  const Tensor expected = Reference(*cnn_, input);
  const double output_bytes = static_cast<double>(expected.byte_size());
  // Default: relay (intermediate activations come back to the coordinator).
  StartCluster();
  ReceivedFor("cnn_default", input, expected, 1);  // warm-up: partition pushes
  EXPECT_GT(ReceivedFor("cnn_default", input, expected, 2), 2 * output_bytes + 2 * 4096);
  TearDown();
  workers_.clear();
  // --stage-forwarding direct: only the final outputs; a config's RELAY wins.
  StartCluster({"--stage-forwarding", "direct"});
  ReceivedFor("cnn_default", input, expected, 1);
  EXPECT_LT(ReceivedFor("cnn_default", input, expected, 2), 2 * output_bytes + 2 * 1024);
  ReceivedFor("cnn_relay", input, expected, 1);
  EXPECT_GT(ReceivedFor("cnn_relay", input, expected, 2), 2 * output_bytes + 2 * 4096);
}

TEST_F(ForwardingTest, BadStageForwardingFlagStopsTheCoordinator) {
  auto process = Process::Spawn({.argv = {Bin("tessera-coordinator"), "--model-repository",
                                          (*dir_ / "models").string(), "--workers", "127.0.0.1:1", "--listen",
                                          "127.0.0.1:0", "--certs", (*dir_ / "certs").string(),
                                          "--stage-forwarding", "sideways"}});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<client::ExitStatus> exit = (*process)->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->exited && exit->code != 0) << exit->ToString();
  EXPECT_TRUE(absl::StrContains((*process)->StderrTail(), "sideways")) << (*process)->StderrTail();
}

TEST_F(ForwardingTest, KillingTheMiddleWorkerMidRunStillAnswersByReplay) {
  StartCluster();
  const Tensor input = RandomInput({2, 3, 32, 32}, 11);
  const Tensor expected = Reference(*cnn_, input);
  inference::ModelInferResponse response;
  grpc::Status warm = Infer("cnn_direct", input, &response);
  ASSERT_TRUE(warm.ok()) << warm.error_message();
  // Stage s runs on the healthy workers sorted by address, position s: the
  // middle stage's worker is the second address.
  std::vector<std::string> sorted;
  for (const Server& w : workers_) sorted.push_back(w.grpc_address);
  std::sort(sorted.begin(), sorted.end());
  size_t middle = 0;
  while (workers_[middle].grpc_address != sorted[1]) ++middle;

  std::atomic<int> answered{0}, failed{0};
  std::atomic<bool> stop{false};
  std::string first_error;
  std::mutex error_mu;
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 200 && !stop.load(); ++i) {
        inference::ModelInferResponse r;
        grpc::Status st = Infer("cnn_direct", input, &r);
        if (!st.ok()) {
          ++failed;
          std::lock_guard<std::mutex> lock(error_mu);
          if (first_error.empty()) first_error = st.error_message();
          continue;
        }
        ExpectMatches(r, expected, /*bit_identical=*/true);
        ++answered;
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(Metric("tessera_piece_retries_total", ""), 0);
  const int before_kill = answered.load();
  ASSERT_TRUE(workers_[middle].process->Signal(SIGKILL).ok());
  ASSERT_TRUE(workers_[middle].process->Wait(absl::Seconds(10)).ok());
  absl::SleepFor(absl::Seconds(2));
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_GT(before_kill, 0);
  // Chains through the dead worker failed and were replayed by RELAY.
  EXPECT_GT(Metric("tessera_piece_retries_total", ""), 0);
  EXPECT_GT(answered.load(), before_kill) << "nothing answered after the kill";
  EXPECT_EQ(failed.load(), 0) << "first error: " << first_error;
  // And afterwards, on the two workers left.
  for (int i = 0; i < 3; ++i) {
    grpc::Status st = Infer("cnn_direct", input, &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ExpectMatches(response, expected, /*bit_identical=*/true);
  }
}

}  // namespace
}  // namespace tessera
