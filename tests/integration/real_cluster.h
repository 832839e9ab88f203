// A cluster of real tessera-worker and tessera-coordinator processes on
// loopback over mutual TLS, the one fixture of the integration tests that run
// the binaries (chaos, failover, overload, bad_request, bad_model, security,
// ops).
//
//   RealCluster cluster("overload_test", {.cnn_models = false});
//   cluster.WriteModel("slow", config, bytes);         // before or after start
//   ASSERT_TRUE(cluster.Start(2, {.flags = {"--max-message-mb", "4"}}).ok());
//   auto stub = cluster.NewStub();                      // a connection each
//
// Contract:
//   - The constructor makes certificates (MakeClusterCertificates: ca, and
//     coordinator/worker/client pairs naming `extra_hosts` too) in
//     dir()/certs and, unless `cnn_models` is false, a model repository in
//     dir()/models holding a CNN (planner_resnet.onnx) as cnn_data (DATA),
//     cnn_pipeline2 (PIPELINE, 2 stages) and cnn_hybrid (HYBRID 2 stages x
//     2 replicas, micro-batches of 2). dir() is a fresh temp directory,
//     removed with the object.
//   - Every process gets "--certs dir()/certs --threads 1", the coordinator
//     also its listen port and (unless ops_endpoint is false) ops port, both
//     127.0.0.1:0, the repository and every worker started so far; ServerOptions::flags come last, so they
//     can override (--ca/--cert/--key override --certs).
//   - Each process's stdout and stderr are kept whole (output()), across a
//     worker's restarts, for tests that scan them.
//   - Processes are spawned from the calling thread; workers get SIGKILL
//     when that thread dies (Process's death signal), so start them from the
//     test's main thread. Every wait is bounded; processes still running are
//     killed when the cluster is destroyed.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
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

// Lines a process wrote, appended from its reader thread; thread-safe.
class CapturedOutput {
 public:
  void Append(absl::string_view line) {
    absl::MutexLock lock(&mu_);
    absl::StrAppend(&text_, line, "\n");
  }
  std::string text() const {
    absl::MutexLock lock(&mu_);
    return text_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
};

// How one process is started.
struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // workers only
  std::vector<std::string> prefix;     // put before the binary, e.g. {ip, "netns", "exec", NS}
  std::vector<std::string> flags;      // after the defaults
  std::vector<std::string> env;        // "NAME=VALUE" added to this process's environment
};

// What a RealCluster writes before any process starts.
struct RealClusterOptions {
  std::vector<std::string> extra_hosts;  // names the certificates carry besides localhost/127.0.0.1
  bool cnn_models = true;                // write cnn_data, cnn_pipeline2 and cnn_hybrid
  // The coordinator's ops endpoint (--ops-listen; Metric() reads it). Off, a
  // coordinator stopped with SIGTERM exits at once rather than after its
  // HTTP server's drain.
  bool ops_endpoint = true;
};

class RealCluster {
 public:
  using Stub = inference::GRPCInferenceService::Stub;
  static constexpr absl::Duration kStartTimeout = absl::Seconds(60);

  using Options = RealClusterOptions;

  explicit RealCluster(const std::string& name, Options options = {})
      : dir_(fs::temp_directory_path() / absl::StrCat("tessera_", name, "_", ::getpid())),
        ops_endpoint_(options.ops_endpoint) {
    fs::remove_all(dir_);
    certs_ok_ = MakeClusterCertificates(certs(), options.extra_hosts);
    EXPECT_TRUE(certs_ok_.ok()) << certs_ok_;
    fs::create_directories(models());
    if (!options.cnn_models) return;
    cnn_ = ReadWholeFile(fs::path(TESSERA_TESTDATA_DIR) / "planner_resnet.onnx");
    EXPECT_GT(cnn_.size(), 1000u);
    WriteModel("cnn_data", "max_batch_size: 8 parallelism { strategy: DATA }", cnn_);
    WriteModel("cnn_pipeline2", "max_batch_size: 8 parallelism { strategy: PIPELINE stages: 2 }", cnn_);
    WriteModel("cnn_hybrid",
               "max_batch_size: 8 parallelism { strategy: HYBRID stages: 2 replicas: 2 micro_batch_size: 2 }", cnn_);
  }
  ~RealCluster() {
    coordinator_.reset();
    workers_.clear();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  RealCluster(const RealCluster&) = delete;
  RealCluster& operator=(const RealCluster&) = delete;

  static std::string Bin(const std::string& name) { return absl::StrCat(TESSERA_BIN_DIR, "/", name); }
  const fs::path& dir() const { return dir_; }
  std::string certs() const { return (dir_ / "certs").string(); }
  fs::path models() const { return dir_ / "models"; }
  const std::string& cnn() const { return cnn_; }

  // <models>/<name>/config.pbtxt ("platform: onnx" + `config`) and
  // <models>/<name>/<version>/model.onnx.
  void WriteModel(const std::string& name, const std::string& config, const std::string& bytes, int version = 1) {
    WriteWholeFile(models() / name / "config.pbtxt", absl::StrCat("platform: \"onnx\"\n", config, "\n"));
    WriteWholeFile(models() / name / absl::StrCat(version) / "model.onnx", bytes);
  }

  // Starts a worker and waits for its "listening on" line; its index.
  absl::StatusOr<int> StartWorker(const ServerOptions& options = {}) {
    if (!certs_ok_.ok()) return certs_ok_;
    std::vector<std::string> argv = options.prefix;
    argv.insert(argv.end(), {Bin("tessera-worker"), "--listen", options.listen, "--certs", certs(), "--threads", "1"});
    argv.insert(argv.end(), options.flags.begin(), options.flags.end());
    Node node{.argv = std::move(argv), .env = WithEnvironment(options.env)};
    absl::Status started = Spawn(node, SIGKILL);
    if (!started.ok()) return started;
    workers_.push_back(std::move(node));
    return static_cast<int>(workers_.size()) - 1;
  }

  // Starts the coordinator over every worker started so far and connects a
  // client stub to it (it does not wait for readiness: WaitReady).
  absl::Status StartCoordinator(const ServerOptions& options = {}) {
    if (!certs_ok_.ok()) return certs_ok_;
    std::vector<std::string> argv = options.prefix;
    argv.insert(argv.end(),
                {Bin("tessera-coordinator"), "--listen", "127.0.0.1:0", "--model-repository", models().string(),
                 "--workers", absl::StrJoin(worker_addresses(), ","), "--certs", certs(), "--threads", "1"});
    if (ops_endpoint_) argv.insert(argv.end(), {"--ops-listen", "127.0.0.1:0"});
    argv.insert(argv.end(), options.flags.begin(), options.flags.end());
    coordinator_ = std::make_unique<Node>(Node{.argv = std::move(argv), .env = WithEnvironment(options.env)});
    absl::Status started = Spawn(*coordinator_, /*death_signal=*/SIGTERM);
    if (!started.ok()) return started;
    std::shared_ptr<grpc::Channel> channel = NewChannel();
    if (channel == nullptr) return absl::InternalError("no channel to the coordinator");
    stub_ = inference::GRPCInferenceService::NewStub(channel);
    status_stub_ = status::ClusterStatus::NewStub(channel);
    return absl::OkStatus();
  }

  // Waits (kStartTimeout at most) until the coordinator answers ServerReady
  // (or, with `model`, ModelReady of it) true over `channel` (the client
  // certificate's when null).
  absl::Status WaitReady(std::shared_ptr<grpc::Channel> channel = nullptr, const std::string& model = "") {
    if (channel == nullptr) channel = NewChannel();
    if (channel == nullptr) return absl::InternalError("no channel to the coordinator");
    auto stub = inference::GRPCInferenceService::NewStub(channel);
    const absl::Time give_up = absl::Now() + kStartTimeout;
    while (absl::Now() < give_up) {
      if (model.empty()) {
        inference::ServerReadyResponse ready;
        if (stub->ServerReady(Context(2).get(), {}, &ready).ok() && ready.ready()) return absl::OkStatus();
      } else {
        inference::ModelReadyRequest request;
        request.set_name(model);
        inference::ModelReadyResponse ready;
        if (stub->ModelReady(Context(2).get(), request, &ready).ok() && ready.ready()) return absl::OkStatus();
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return absl::DeadlineExceededError(absl::StrCat("the coordinator did not become ready\n", coordinator_output()));
  }

  // `workers` workers, then the coordinator with `coordinator`; waits until
  // it is ready (ServerReady).
  absl::Status Start(int workers, const ServerOptions& coordinator = {}) {
    for (int i = 0; i < workers; ++i) {
      absl::StatusOr<int> worker = StartWorker();
      if (!worker.ok()) return worker.status();
    }
    absl::Status started = StartCoordinator(coordinator);
    if (!started.ok()) return started;
    return WaitReady();
  }

  // SIGKILL and reap worker `i`.
  void KillWorker(int i) {
    ASSERT_NE(workers_[i].process, nullptr);
    ASSERT_TRUE(workers_[i].process->Signal(SIGKILL).ok());
    ASSERT_TRUE(workers_[i].process->Wait(absl::Seconds(10)).ok());
    workers_[i].process.reset();
  }
  void SignalWorker(int i, int signal) { ASSERT_TRUE(workers_[i].process->Signal(signal).ok()); }
  // SIGTERM and wait (15 s at most): its output() is then complete.
  void StopWorker(int i) { StopNode(workers_[i]); }
  void StopCoordinator() {
    if (coordinator_ != nullptr) StopNode(*coordinator_);
  }
  // The coordinator, then every worker, as StopWorker.
  void Stop() {
    StopCoordinator();
    for (int i = 0; i < workers(); ++i) StopWorker(i);
  }

  // Starts worker `i` again on its address (same argv, port fixed), retrying
  // for 10 s while the port may still be held.
  absl::Status RestartWorker(int i) {
    Node& node = workers_[i];
    for (size_t a = 0; a + 1 < node.argv.size(); ++a) {
      if (node.argv[a] == "--listen") node.argv[a + 1] = node.address;
    }
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    for (;;) {
      absl::Status started = Spawn(node, SIGKILL);
      if (started.ok()) return started;
      if (absl::Now() > give_up) {
        return absl::Status(started.code(), absl::StrCat("worker ", i, " could not restart on ", node.address, ": ",
                                                         started.message()));
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

  // A new channel (its own connection) to the coordinator, as a client;
  // null on error.
  std::shared_ptr<grpc::Channel> NewChannel() const {
    TlsOptions tls;
    tls.files = TlsFiles::InDirectory(certs(), NodeRole::kClient);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    args.SetMaxSendMessageSize(256 << 20);
    // Distinct channels really are distinct connections.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(address(), tls, args);
    if (!channel.ok()) return nullptr;
    return *channel;
  }
  std::unique_ptr<Stub> NewStub() const {
    std::shared_ptr<grpc::Channel> channel = NewChannel();
    if (channel == nullptr) return nullptr;
    return inference::GRPCInferenceService::NewStub(channel);
  }
  static std::unique_ptr<grpc::ClientContext> Context(int seconds = 30) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    return context;
  }

  // ModelInfer of `input` as the model's "input" (raw contents) on the
  // cluster's own stub (shared, thread-safe).
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
    absl::StatusOr<HttpResponse> response = HttpGet(ops_address(), "/metrics");
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

  // Every process still running (none has exited or crashed).
  bool AllAlive() {
    if (coordinator_ == nullptr || coordinator_->process == nullptr) return false;
    if (coordinator_->process->TryWait().has_value()) return false;
    for (Node& worker : workers_) {
      if (worker.process == nullptr || worker.process->TryWait().has_value()) return false;
    }
    return true;
  }

  // Resident memory of `pid` in KiB (VmRSS of /proc/PID/status), -1 if unknown.
  static int64_t RssKiB(pid_t pid) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) != 0) continue;
      std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      int64_t kib = -1;
      if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib;
    }
    return -1;
  }

  // The coordinator's client port ("127.0.0.1:PORT"); its ops endpoint.
  const std::string& address() const { return coordinator_address_; }
  std::string ops_address() const { return coordinator_ == nullptr ? "" : coordinator_->ops_address; }
  // A worker's ops endpoint, when it was given --ops-listen.
  const std::string& worker_ops_address(int i) const { return workers_[i].ops_address; }
  std::vector<std::string> worker_addresses() const {
    std::vector<std::string> addresses;
    for (const Node& worker : workers_) addresses.push_back(worker.address);
    return addresses;
  }
  const std::string& worker_address(int i) const { return workers_[i].address; }
  int workers() const { return static_cast<int>(workers_.size()); }
  client::Process& coordinator() { return *coordinator_->process; }
  client::Process& worker(int i) { return *workers_[i].process; }
  // Everything the process wrote on stdout and stderr (all its runs).
  std::string coordinator_output() const { return coordinator_ == nullptr ? "" : coordinator_->output->text(); }
  std::string worker_output(int i) const { return workers_[i].output->text(); }

 private:
  struct Node {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // whole; empty: this process's
    std::unique_ptr<client::Process> process;
    std::string address;      // its gRPC port, announced as "listening on"
    std::string ops_address;  // announced as "ops listening on" when given --ops-listen
    std::shared_ptr<CapturedOutput> output = std::make_shared<CapturedOutput>();
  };

  // This process's environment plus `added`; empty when nothing is added.
  static std::vector<std::string> WithEnvironment(const std::vector<std::string>& added) {
    std::vector<std::string> env;
    if (added.empty()) return env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.insert(env.end(), added.begin(), added.end());
    return env;
  }

  // Spawns `node` and reads its "... listening on HOST:PORT" lines: the
  // gRPC one, and an "ops listening on" one when its argv has --ops-listen
  // (they set node.address and node.ops_address); the rest of its output
  // goes to node.output.
  absl::Status Spawn(Node& node, int death_signal) {
    const int announce_lines = 1 + static_cast<int>(absl::c_count(node.argv, "--ops-listen"));
    std::shared_ptr<CapturedOutput> output = node.output;
    absl::StatusOr<std::unique_ptr<client::Process>> process =
        client::Process::Spawn({.argv = node.argv,
                                .env = node.env,
                                .death_signal = death_signal,
                                .stderr_sink = [output](absl::string_view line) { output->Append(line); }});
    if (!process.ok()) return process.status();
    for (int i = 0; i < announce_lines; ++i) {
      absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(kStartTimeout);
      if (!line.ok()) {
        return absl::Status(line.status().code(),
                            absl::StrCat(line.status().message(), "\n", (*process)->StderrTail()));
      }
      output->Append(*line);
      const std::string address = line->substr(line->rfind(' ') + 1);
      if (absl::StrContains(*line, "ops listening on ")) {
        node.ops_address = address;
      } else {
        node.address = address;
      }
    }
    (*process)->ForwardStdout([output](absl::string_view line) { output->Append(line); });
    node.process = *std::move(process);
    if (&node == coordinator_.get()) coordinator_address_ = node.address;
    return absl::OkStatus();
  }

  static void StopNode(Node& node) {
    if (node.process == nullptr) return;
    EXPECT_TRUE(node.process->Signal(SIGTERM).ok());
    absl::StatusOr<client::ExitStatus> status = node.process->Wait(absl::Seconds(15));
    EXPECT_TRUE(status.ok()) << status.status();
    node.process.reset();  // joins the reader: every line has been delivered
  }

  const fs::path dir_;
  const bool ops_endpoint_;
  absl::Status certs_ok_;
  std::string cnn_;
  std::vector<Node> workers_;
  std::unique_ptr<Node> coordinator_;
  std::string coordinator_address_;
  std::unique_ptr<Stub> stub_;
  std::unique_ptr<status::ClusterStatus::Stub> status_stub_;
};

}  // namespace tessera::testing
