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
#include "tests/integration/real_cluster.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using client::Process;
using testing::HttpGet;
using testing::RealCluster;

constexpr absl::Duration kStartTimeout = RealCluster::kStartTimeout;

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
  void SetUp() override {
    cluster_.WriteModel("cnn", "max_batch_size: 8 parallelism { strategy: DATA }",
                        testing::ReadWholeFile(fs::path(TESSERA_TESTDATA_DIR) / "planner_resnet.onnx"));
  }

  // `workers` workers and the coordinator, each with its ops endpoint
  // (127.0.0.1:0); the coordinator needs them all to be ready.
  void StartCluster(int workers) {
    for (int i = 0; i < workers; ++i) {
      absl::StatusOr<int> worker = cluster_.StartWorker({.flags = {"--ops-listen", "127.0.0.1:0"}});
      ASSERT_TRUE(worker.ok()) << worker.status();
    }
    const absl::Status started = cluster_.StartCoordinator(
        {.flags = {"--health-interval-ms", "200", "--min-ready-workers", absl::StrCat(workers)}});
    ASSERT_TRUE(started.ok()) << started;
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
    inference::ModelInferResponse response;
    return cluster_.Infer(model, input, absl::Seconds(60), &response);
  }

  static std::vector<Sample> Metrics(const std::string& address) {
    absl::StatusOr<testing::HttpResponse> response = HttpGet(address, "/metrics");
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    EXPECT_EQ(response->status, 200);
    EXPECT_TRUE(absl::StartsWith(response->Header("Content-Type"), "text/plain; version=0.0.4"));
    return ParseExposition(response->body);
  }

  RealCluster cluster_{"ops_test", {.cnn_models = false}};
};

TEST_F(OpsTest, HealthReadinessAndMetricsOfARealCluster) {
  StartCluster(2);
  for (const std::string& ops_address :
       {cluster_.worker_ops_address(0), cluster_.worker_ops_address(1), cluster_.ops_address()}) {
    ASSERT_FALSE(ops_address.empty());
    absl::StatusOr<testing::HttpResponse> health = HttpGet(ops_address, "/healthz");
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(health->body, "ok\n");
    absl::StatusOr<testing::HttpResponse> wrong = HttpGet(ops_address, "/nothing");
    ASSERT_TRUE(wrong.ok()) << wrong.status();
    EXPECT_EQ(wrong->status, 404);
  }
  absl::StatusOr<testing::HttpResponse> ready = WaitFor(cluster_.worker_ops_address(0), "/readyz", 200);
  ASSERT_TRUE(ready.ok()) << ready.status();
  ready = WaitFor(cluster_.ops_address(), "/readyz", 200);
  ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << cluster_.coordinator().StderrTail();

  // Three answered, one malformed, one for a model nobody serves.
  for (int i = 0; i < 3; ++i) {
    grpc::Status st = Infer("cnn", {2, 3, 32, 32});
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(Infer("cnn", {2, 3, 31, 32}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Infer("nope", {1, 3, 32, 32}).error_code(), grpc::StatusCode::NOT_FOUND);

  std::vector<Sample> m = Metrics(cluster_.ops_address());
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
  for (int i = 0; i < cluster_.workers(); ++i) {
    std::vector<Sample> w = Metrics(cluster_.worker_ops_address(i));
    executes += std::max(0.0, Value(w, "tessera_worker_executes_total", {{"outcome", "success"}}));
    loaded += std::max(0.0, Value(w, "tessera_worker_partitions_loaded"));
    EXPECT_EQ(Value(w, "tessera_worker_executes_in_flight"), 0);
  }
  EXPECT_GE(executes, 3);
  EXPECT_GE(loaded, 1);

  // A worker dies: the coordinator is no longer ready (--min-ready-workers
  // 2), says why, and counts the worker down; it stays alive.
  ASSERT_NO_FATAL_FAILURE(cluster_.KillWorker(1));
  absl::StatusOr<testing::HttpResponse> unready = WaitFor(cluster_.ops_address(), "/readyz", 503);
  ASSERT_TRUE(unready.ok()) << unready.status();
  EXPECT_TRUE(absl::StrContains(unready->body, "1 healthy worker, 2 needed")) << unready->body;
  m = Metrics(cluster_.ops_address());
  EXPECT_EQ(Value(m, "tessera_workers_up"), 1);
  EXPECT_EQ(Value(m, "tessera_workers_down"), 1);
  absl::StatusOr<testing::HttpResponse> health = HttpGet(cluster_.ops_address(), "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
}

TEST_F(OpsTest, AnUnusableOpsAddressStopsTheServer) {
  auto process = Process::Spawn({.argv = {RealCluster::Bin("tessera-worker"), "--ops-listen", "not-an-address",
                                          "--listen", "127.0.0.1:0", "--certs", cluster_.certs()}});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<client::ExitStatus> exit = (*process)->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_FALSE(exit->success());
  EXPECT_TRUE(absl::StrContains((*process)->StderrTail(), "--ops-listen")) << (*process)->StderrTail();
}

}  // namespace
}  // namespace tessera
