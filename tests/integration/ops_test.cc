// The ops HTTP port of real tessera-worker and tessera-coordinator processes
// on loopback (--ops-listen 127.0.0.1:0, mutual TLS on the gRPC ports):
// /healthz and /readyz on both, readiness lost when a worker dies below
// --min-ready-workers, and /metrics showing what a few inference requests
// (some failing) did: requests by model, version, outcome and reason,
// latency histogram buckets, bytes to and from workers, partitions pushed,
// workers up and down, and the workers' own Execute counts.
// Every wait is bounded; processes are killed when the fixture ends.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
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

namespace tessera {
namespace {

namespace fs = std::filesystem;
using client::Process;
using testing::HttpGet;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const fs::path& path, const std::string& contents) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

// One sample line of the text exposition: name{labels} value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> ParseExposition(const std::string& text) {
  std::vector<Sample> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    Sample sample;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    if (brace != absl::string_view::npos && brace < space) {
      sample.name = std::string(line.substr(0, brace));
      const size_t close = line.rfind('}');
      for (absl::string_view pair : absl::StrSplit(line.substr(brace + 1, close - brace - 1), "\",")) {
        const size_t eq = pair.find("=\"");
        if (eq == absl::string_view::npos) continue;
        std::string value(pair.substr(eq + 2));
        if (!value.empty() && value.back() == '"') value.pop_back();
        sample.labels[std::string(pair.substr(0, eq))] = value;
      }
    } else {
      sample.name = std::string(line.substr(0, space));
    }
    if (!absl::SimpleAtod(line.substr(space + 1), &sample.value)) continue;
    samples.push_back(std::move(sample));
  }
  return samples;
}

// The sum of the samples named `name` whose labels include `labels`; -1
// when there is none.
double Value(const std::vector<Sample>& samples, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  double sum = 0;
  bool found = false;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (!match) continue;
    sum += s.value;
    found = true;
  }
  return found ? sum : -1;
}

class OpsTest : public ::testing::Test {
 protected:
  struct Server {
    std::unique_ptr<Process> process;
    std::string grpc_address;
    std::string ops_address;
  };

  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / absl::StrCat("tessera_ops_test_", ::getpid()));
    fs::remove_all(*dir_);
    ASSERT_TRUE(MakeClusterCertificates((*dir_ / "certs").string(), {}).ok());
    const std::string cnn = ReadFile(fs::path(TESSERA_TESTDATA_DIR) / "planner_resnet.onnx");
    WriteFile(*dir_ / "models" / "cnn" / "config.pbtxt",
              "platform: \"onnx\"\nmax_batch_size: 8 parallelism { strategy: DATA }\n");
    WriteFile(*dir_ / "models" / "cnn" / "1" / "model.onnx", cnn);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static std::string Bin(const std::string& name) { return absl::StrCat(TESSERA_BIN_DIR, "/", name); }

  // Starts a server with --ops-listen and reads both announce lines: the
  // ops one first, then the gRPC one.
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
    EXPECT_FALSE(server.ops_address.empty());
    EXPECT_FALSE(server.grpc_address.empty());
    return server;
  }

  void StartCluster(int workers) {
    std::vector<std::string> addresses;
    for (int i = 0; i < workers; ++i) {
      workers_.push_back(Start({Bin("tessera-worker")}));
      ASSERT_NE(workers_.back().process, nullptr);
      addresses.push_back(workers_.back().grpc_address);
    }
    coordinator_ = Start({Bin("tessera-coordinator"), "--model-repository", (*dir_ / "models").string(), "--workers",
                          absl::StrJoin(addresses, ","), "--health-interval-ms", "200", "--min-ready-workers",
                          absl::StrCat(workers)});
    ASSERT_NE(coordinator_.process, nullptr);
    TlsOptions tls;
    tls.files = TlsFiles::InDirectory((*dir_ / "certs").string(), NodeRole::kClient);
    auto channel = MakeChannel(coordinator_.grpc_address, tls, grpc::ChannelArguments());
    ASSERT_TRUE(channel.ok()) << channel.status();
    stub_ = inference::GRPCInferenceService::NewStub(*channel);
  }

  // Polls `path` on `address` until it answers `status` (bounded).
  static absl::StatusOr<testing::HttpResponse> WaitFor(const std::string& address, const std::string& path,
                                                       int status) {
    const absl::Time give_up = absl::Now() + kStartTimeout;
    absl::StatusOr<testing::HttpResponse> response;
    while (absl::Now() < give_up) {
      response = HttpGet(address, path);
      if (response.ok() && response->status == status) return response;
      absl::SleepFor(absl::Milliseconds(100));
    }
    if (!response.ok()) return response.status();
    return absl::DeadlineExceededError(
        absl::StrCat(path, " answered ", response->status, " ", response->body, ", not ", status));
  }

  grpc::Status Infer(const std::string& model, const Shape& shape) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-1, 1);
    Tensor input = Tensor::Allocate(DataType::kFloat32, shape);
    for (int64_t i = 0; i < input.num_elements(); ++i) input.data<float>()[i] = dist(rng);
    inference::ModelInferRequest request;
    request.set_model_name(model);
    client::AddInferInput("input", input, client::InferContents::kRaw, &request);
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->ModelInfer(&context, request, &response);
  }

  static std::vector<Sample> Metrics(const std::string& address) {
    absl::StatusOr<testing::HttpResponse> response = HttpGet(address, "/metrics");
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    EXPECT_EQ(response->status, 200);
    EXPECT_TRUE(absl::StartsWith(response->Header("Content-Type"), "text/plain; version=0.0.4"));
    return ParseExposition(response->body);
  }

  static fs::path* dir_;
  std::vector<Server> workers_;
  Server coordinator_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

fs::path* OpsTest::dir_ = nullptr;

TEST_F(OpsTest, HealthReadinessAndMetricsOfARealCluster) {
  StartCluster(2);
  for (const Server* server : {&workers_[0], &workers_[1], &coordinator_}) {
    absl::StatusOr<testing::HttpResponse> health = HttpGet(server->ops_address, "/healthz");
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(health->body, "ok\n");
    absl::StatusOr<testing::HttpResponse> wrong = HttpGet(server->ops_address, "/nothing");
    ASSERT_TRUE(wrong.ok()) << wrong.status();
    EXPECT_EQ(wrong->status, 404);
  }
  absl::StatusOr<testing::HttpResponse> ready = WaitFor(workers_[0].ops_address, "/readyz", 200);
  ASSERT_TRUE(ready.ok()) << ready.status();
  ready = WaitFor(coordinator_.ops_address, "/readyz", 200);
  ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << coordinator_.process->StderrTail();

  // Three answered, one malformed, one for a model nobody serves.
  for (int i = 0; i < 3; ++i) {
    grpc::Status st = Infer("cnn", {2, 3, 32, 32});
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(Infer("cnn", {2, 3, 31, 32}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Infer("nope", {1, 3, 32, 32}).error_code(), grpc::StatusCode::NOT_FOUND);

  std::vector<Sample> m = Metrics(coordinator_.ops_address);
  EXPECT_EQ(Value(m, "tessera_requests_total",
                  {{"model", "cnn"}, {"version", "1"}, {"outcome", "success"}, {"reason", "OK"}}),
            3);
  EXPECT_EQ(Value(m, "tessera_requests_total",
                  {{"model", "cnn"}, {"version", "1"}, {"outcome", "failure"}, {"reason", "INVALID_ARGUMENT"}}),
            1);
  EXPECT_EQ(Value(m, "tessera_requests_total", {{"model", ""}, {"outcome", "failure"}, {"reason", "NOT_FOUND"}}), 1);
  EXPECT_EQ(Value(m, "tessera_request_duration_seconds_count", {{"model", "cnn"}, {"version", "1"}}), 4);
  EXPECT_EQ(Value(m, "tessera_request_duration_seconds_bucket", {{"model", "cnn"}, {"le", "+Inf"}}), 4);
  EXPECT_GE(Value(m, "tessera_request_duration_seconds_bucket", {{"model", "cnn"}, {"le", "60"}}), 0)
      << "latency buckets are exposed";
  EXPECT_EQ(Value(m, "tessera_request_batch_size_sum", {{"model", "cnn"}}), 6);
  EXPECT_EQ(Value(m, "tessera_requests_in_flight", {{"model", "cnn"}}), 0);
  EXPECT_GE(Value(m, "tessera_stage_compute_duration_seconds_count", {{"model", "cnn"}, {"stage", "1"}}), 3);
  EXPECT_GT(Value(m, "tessera_sent_to_workers_bytes_total", {{"rpc", "execute"}}), 3 * 2 * 3 * 32 * 32 * 4);
  EXPECT_GT(Value(m, "tessera_sent_to_workers_bytes_total", {{"rpc", "load_partition"}}), 0);
  EXPECT_GT(Value(m, "tessera_received_from_workers_bytes_total", {{"rpc", "execute"}}), 0);
  EXPECT_GE(Value(m, "tessera_partitions_pushed_total"), 1);
  EXPECT_EQ(Value(m, "tessera_workers_up"), 2);
  EXPECT_EQ(Value(m, "tessera_workers_down"), 0);
  EXPECT_GE(Value(m, "tessera_piece_retries_total"), 0);

  double executes = 0, loaded = 0;
  for (const Server& worker : workers_) {
    std::vector<Sample> w = Metrics(worker.ops_address);
    executes += std::max(0.0, Value(w, "tessera_worker_executes_total", {{"outcome", "success"}}));
    loaded += std::max(0.0, Value(w, "tessera_worker_partitions_loaded"));
    EXPECT_EQ(Value(w, "tessera_worker_executes_in_flight"), 0);
  }
  EXPECT_GE(executes, 3);
  EXPECT_GE(loaded, 1);

  // A worker dies: the coordinator is no longer ready (--min-ready-workers
  // 2), says why, and counts the worker down; it stays alive.
  ASSERT_TRUE(workers_[1].process->Signal(SIGKILL).ok());
  ASSERT_TRUE(workers_[1].process->Wait(absl::Seconds(10)).ok());
  absl::StatusOr<testing::HttpResponse> unready = WaitFor(coordinator_.ops_address, "/readyz", 503);
  ASSERT_TRUE(unready.ok()) << unready.status();
  EXPECT_TRUE(absl::StrContains(unready->body, "1 healthy worker, 2 needed")) << unready->body;
  m = Metrics(coordinator_.ops_address);
  EXPECT_EQ(Value(m, "tessera_workers_up"), 1);
  EXPECT_EQ(Value(m, "tessera_workers_down"), 1);
  absl::StatusOr<testing::HttpResponse> health = HttpGet(coordinator_.ops_address, "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
}

TEST_F(OpsTest, AnUnusableOpsAddressStopsTheServer) {
  auto process = Process::Spawn({.argv = {Bin("tessera-worker"), "--ops-listen", "not-an-address", "--listen",
                                          "127.0.0.1:0", "--certs", (*dir_ / "certs").string()}});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<client::ExitStatus> exit = (*process)->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_FALSE(exit->success());
  EXPECT_TRUE(absl::StrContains((*process)->StderrTail(), "--ops-listen")) << (*process)->StderrTail();
}

}  // namespace
}  // namespace tessera
