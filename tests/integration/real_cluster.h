// A cluster of real tessera-worker and tessera-coordinator processes over
// mutual TLS, for the failure tests (chaos_test.cc, failover_test.cc):
// workers that can be killed, stopped, restarted on the same address or run
// inside a network namespace; the coordinator with its ops endpoint
// (/metrics) and ClusterStatus; a KServe client; a CNN (planner_resnet.onnx)
// served as DATA, PIPELINE and HYBRID, with answers checked against the
// engine running the whole model in-process.
//
// Processes are spawned from the thread that calls StartWorker /
// StartCoordinator: they get SIGKILL when that thread dies (Process's
// death signal), so call them from the test's main thread. Every wait is
// bounded; processes are killed when the cluster is destroyed.
#pragma once

#include <signal.h>

#include <cmath>
#include <cstring>
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
#include "proto/cluster_status.grpc.pb.h"
#include "proto/inference.grpc.pb.h"
#include "tests/common/http_test_client.h"
#include "worker/engine/engine.h"

namespace tessera::testing {

namespace fs = std::filesystem;

inline std::string ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteWholeFile(const fs::path& path, const std::string& contents) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

inline Tensor RandomImage(int64_t batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  Tensor t = Tensor::Allocate(DataType::kFloat32, {batch, 3, 32, 32});
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// The whole model on one engine thread in-process.
inline Tensor ReferenceOutput(const std::string& model_bytes, const Tensor& input) {
  auto engine = engine::Engine::LoadFromBytes(model_bytes, {.intra_op_threads = 1});
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return Tensor();
  auto out = (*engine)->Run({{"input", input}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

// Whether a response's only output is `expected` (relative 1e-4: shards and
// micro-batches may sum in another order than the whole model).
inline bool Matches(const inference::ModelInferResponse& response, const Tensor& expected) {
  if (response.raw_output_contents_size() != 1) return false;
  const std::string& raw = response.raw_output_contents(0);
  if (raw.size() != expected.byte_size()) return false;
  const float* got = reinterpret_cast<const float*>(raw.data());
  double max_diff = 0, max_abs = 1e-30;
  for (int64_t i = 0; i < expected.num_elements(); ++i) {
    max_diff = std::max(max_diff, double(std::fabs(got[i] - expected.data<float>()[i])));
    max_abs = std::max(max_abs, double(std::fabs(expected.data<float>()[i])));
  }
  return max_diff / max_abs < 1e-4;
}

class RealCluster {
 public:
  static constexpr absl::Duration kStartTimeout = absl::Seconds(60);

  // Certificates (naming `extra_hosts` too) and a model repository under a
  // fresh temp directory: cnn_data (DATA), cnn_pipeline2 (PIPELINE, 2
  // stages), cnn_hybrid (HYBRID 2 stages x 2 replicas, micro-batches of 2).
  explicit RealCluster(const std::string& name, const std::vector<std::string>& extra_hosts = {})
      : dir_(fs::temp_directory_path() / absl::StrCat("tessera_", name, "_", ::getpid())) {
    fs::remove_all(dir_);
    std::vector<std::string> hosts = extra_hosts;
    absl::Status certs = MakeClusterCertificates((dir_ / "certs").string(), hosts);
    EXPECT_TRUE(certs.ok()) << certs;
    cnn_ = ReadWholeFile(fs::path(TESSERA_TESTDATA_DIR) / "planner_resnet.onnx");
    EXPECT_GT(cnn_.size(), 1000u);
    auto add = [&](const std::string& model, const std::string& config) {
      WriteWholeFile(dir_ / "models" / model / "config.pbtxt", absl::StrCat("platform: \"onnx\"\n", config, "\n"));
      WriteWholeFile(dir_ / "models" / model / "1" / "model.onnx", cnn_);
    };
    add("cnn_data", "max_batch_size: 8 parallelism { strategy: DATA }");
    add("cnn_pipeline2", "max_batch_size: 8 parallelism { strategy: PIPELINE stages: 2 }");
    add("cnn_hybrid", "max_batch_size: 8 parallelism { strategy: HYBRID stages: 2 replicas: 2 micro_batch_size: 2 }");
  }
  ~RealCluster() {
    coordinator_.reset();
    workers_.clear();
    fs::remove_all(dir_);
  }

  static std::string Bin(const std::string& name) { return absl::StrCat(TESSERA_BIN_DIR, "/", name); }
  const fs::path& dir() const { return dir_; }
  const std::string& cnn() const { return cnn_; }
  std::string certs() const { return (dir_ / "certs").string(); }

  // Starts a worker on `listen`; `prefix` is put before the binary (e.g.
  // {"/usr/sbin/ip", "netns", "exec", NS}). Returns its index.
  int StartWorker(const std::string& listen = "127.0.0.1:0", std::vector<std::string> prefix = {}) {
    std::vector<std::string> argv = std::move(prefix);
    for (const std::string& a : {Bin("tessera-worker"), std::string("--listen"), listen, std::string("--certs"),
                                 certs(), std::string("--threads"), std::string("1")}) {
      argv.push_back(a);
    }
    auto [process, address] = StartServer(argv);
    if (process == nullptr) return -1;
    workers_.push_back(std::move(process));
    worker_addresses_.push_back(address);
    worker_argv_.push_back(argv);
    return static_cast<int>(workers_.size()) - 1;
  }

  // SIGKILL and reap worker `i`.
  void KillWorker(int i) {
    ASSERT_NE(workers_[i], nullptr);
    ASSERT_TRUE(workers_[i]->Signal(SIGKILL).ok());
    ASSERT_TRUE(workers_[i]->Wait(absl::Seconds(10)).ok());
    workers_[i].reset();
  }
  void SignalWorker(int i, int signal) { ASSERT_TRUE(workers_[i]->Signal(signal).ok()); }

  // Starts worker `i` again on its address (same argv, port fixed).
  void RestartWorker(int i) {
    std::vector<std::string> argv = worker_argv_[i];
    for (size_t a = 0; a + 1 < argv.size(); ++a) {
      if (argv[a] == "--listen") argv[a + 1] = worker_addresses_[i];
    }
    absl::Time give_up = absl::Now() + absl::Seconds(10);
    for (;;) {
      auto [process, address] = StartServer(argv, /*expect_ok=*/absl::Now() + absl::Seconds(1) > give_up);
      if (process != nullptr) {
        workers_[i] = std::move(process);
        return;
      }
      if (absl::Now() > give_up) {
        ADD_FAILURE() << "worker " << i << " could not restart on " << worker_addresses_[i];
        return;
      }
      absl::SleepFor(absl::Milliseconds(200));  // the port may still be held
    }
  }

  void StartCoordinator(std::vector<std::string> extra_flags = {}) {
    std::vector<std::string> argv = {Bin("tessera-coordinator"),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--ops-listen",
                                     "127.0.0.1:0",
                                     "--model-repository",
                                     (dir_ / "models").string(),
                                     "--workers",
                                     absl::StrJoin(worker_addresses_, ","),
                                     "--certs",
                                     certs(),
                                     "--threads",
                                     "1"};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    auto process = client::Process::Spawn({.argv = argv});
    ASSERT_TRUE(process.ok()) << process.status();
    coordinator_ = *std::move(process);
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<std::string> line = coordinator_->ReadStdoutLine(kStartTimeout);
      ASSERT_TRUE(line.ok()) << line.status() << "\n" << coordinator_->StderrTail();
      const std::string address = line->substr(line->rfind(' ') + 1);
      if (absl::StrContains(*line, "ops listening on ")) {
        ops_address_ = address;
      } else {
        coordinator_address_ = address;
      }
    }
    ASSERT_FALSE(ops_address_.empty());
    ASSERT_FALSE(coordinator_address_.empty());
    TlsOptions tls;
    tls.files = TlsFiles::InDirectory(certs(), NodeRole::kClient);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    auto channel = MakeChannel(coordinator_address_, tls, args);
    ASSERT_TRUE(channel.ok()) << channel.status();
    stub_ = inference::GRPCInferenceService::NewStub(*channel);
    status_stub_ = status::ClusterStatus::NewStub(*channel);
    WaitReady();
  }

  void WaitReady() {
    const absl::Time give_up = absl::Now() + kStartTimeout;
    while (absl::Now() < give_up) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      inference::ServerReadyResponse ready;
      if (stub_->ServerReady(&context, {}, &ready).ok() && ready.ready()) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL() << "the coordinator did not become ready\n" << coordinator_->StderrTail();
  }

  grpc::Status Infer(const std::string& model, const Tensor& input, absl::Duration deadline,
                     inference::ModelInferResponse* response) {
    inference::ModelInferRequest request;
    request.set_model_name(model);
    client::AddInferInput("input", input, client::InferContents::kRaw, &request);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    return stub_->ModelInfer(&context, request, response);
  }

  // The coordinator's /metrics value of `name` (summed over label sets);
  // -1 when unreadable.
  double Metric(const std::string& name) const {
    absl::StatusOr<HttpResponse> response = HttpGet(ops_address_, "/metrics");
    if (!response.ok()) return -1;
    double sum = 0;
    bool found = false;
    for (absl::string_view line : absl::StrSplit(response->body, '\n')) {
      if (!absl::StartsWith(line, name)) continue;
      const absl::string_view rest = line.substr(name.size());
      if (!rest.empty() && rest[0] != ' ' && rest[0] != '{') continue;
      double value = 0;
      if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
        sum += value;
        found = true;
      }
    }
    return found ? sum : -1;
  }

  absl::StatusOr<status::GetStatusResponse> ClusterStatus() const {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    status::GetStatusResponse response;
    grpc::Status st = status_stub_->GetStatus(&context, {}, &response);
    if (!st.ok()) return absl::UnavailableError(st.error_message());
    return response;
  }

  // Waits until the coordinator sees `healthy` healthy workers.
  bool WaitHealthy(int healthy, absl::Duration timeout) const {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      absl::StatusOr<status::GetStatusResponse> st = ClusterStatus();
      if (st.ok()) {
        int n = 0;
        for (const status::WorkerStatus& w : st->workers()) n += w.healthy();
        if (n == healthy) return true;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  const std::vector<std::string>& worker_addresses() const { return worker_addresses_; }
  int workers() const { return static_cast<int>(workers_.size()); }
  client::Process* coordinator() const { return coordinator_.get(); }

 private:
  static std::pair<std::unique_ptr<client::Process>, std::string> StartServer(std::vector<std::string> argv,
                                                                              bool expect_ok = true) {
    auto process = client::Process::Spawn({.argv = std::move(argv), .death_signal = SIGKILL});
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return {};
    absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(kStartTimeout);
    if (!line.ok()) {
      if (expect_ok) ADD_FAILURE() << line.status() << "\n" << (*process)->StderrTail();
      return {};
    }
    const std::string address = line->substr(line->rfind(' ') + 1);
    return {*std::move(process), address};
  }

  const fs::path dir_;
  std::string cnn_;
  std::vector<std::unique_ptr<client::Process>> workers_;
  std::vector<std::string> worker_addresses_;
  std::vector<std::vector<std::string>> worker_argv_;
  std::unique_ptr<client::Process> coordinator_;
  std::string coordinator_address_;
  std::string ops_address_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  std::unique_ptr<status::ClusterStatus::Stub> status_stub_;
};

}  // namespace tessera::testing
