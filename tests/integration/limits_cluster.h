// A real cluster for the bad-input, bad-model and overload tests: tessera-
// worker and tessera-coordinator processes on loopback with mutual TLS
// (certificates made in a temporary directory), a model repository the test
// writes, KServe client stubs, and small ONNX models built in C++.
//
//   LimitsCluster cluster("bad_request");          // temp dir, certs
//   cluster.WriteModel("two", config, bytes);      // before or after start
//   ASSERT_TRUE(cluster.Start(2, {"--max-message-mb", "2"}).ok());
//   auto stub = cluster.NewStub();                  // one channel each
//
// Every wait is bounded; the processes are killed when the object goes.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/process.h"
#include "common/certificate_authority.h"
#include "common/tls_credentials.h"
#include "grpcpp/grpcpp.h"
#include "proto/inference.grpc.pb.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera::testing {

class LimitsCluster {
 public:
  using Stub = inference::GRPCInferenceService::Stub;

  explicit LimitsCluster(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() / absl::StrCat("tessera_", name, "_", ::getpid())) {
    std::filesystem::remove_all(dir_);
    certs_ok_ = MakeClusterCertificates((dir_ / "certs").string(), {});
  }
  ~LimitsCluster() {
    Stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::filesystem::path models() const { return dir_ / "models"; }
  std::string certs() const { return (dir_ / "certs").string(); }

  static void WriteFile(const std::filesystem::path& path, const std::string& contents) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << contents;
  }
  // <models>/<name>/config.pbtxt ("platform: onnx" + `config`) and
  // <models>/<name>/<version>/model.onnx.
  void WriteModel(const std::string& name, const std::string& config, const std::string& bytes, int version = 1) {
    WriteFile(models() / name / "config.pbtxt", absl::StrCat("platform: \"onnx\"\n", config, "\n"));
    WriteFile(models() / name / absl::StrCat(version) / "model.onnx", bytes);
  }

  // Starts `workers` workers and the coordinator (with `coordinator_flags`
  // added) and waits until it is ready.
  // `coordinator_env`: variables added to the coordinator's environment.
  absl::Status Start(int workers, const std::vector<std::string>& coordinator_flags = {},
                     const std::vector<std::string>& coordinator_env = {}) {
    if (!certs_ok_.ok()) return certs_ok_;
    std::filesystem::create_directories(models());
    std::vector<std::string> addresses;
    for (int i = 0; i < workers; ++i) {
      absl::StatusOr<std::string> address =
          Spawn({Bin("tessera-worker"), "--listen", "127.0.0.1:0", "--certs", certs(), "--threads", "1"});
      if (!address.ok()) return address.status();
      addresses.push_back(*address);
    }
    worker_processes_ = processes_.size();
    std::vector<std::string> argv = {Bin("tessera-coordinator"), "--listen", "127.0.0.1:0", "--model-repository",
                                     models().string(), "--workers", absl::StrJoin(addresses, ","), "--certs",
                                     certs(), "--threads", "1", "--health-interval-ms", "200",
                                     "--measure-plans=false"};
    argv.insert(argv.end(), coordinator_flags.begin(), coordinator_flags.end());
    std::vector<std::string> env;
    if (!coordinator_env.empty()) {
      for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
      env.insert(env.end(), coordinator_env.begin(), coordinator_env.end());
    }
    absl::StatusOr<std::string> address = Spawn(argv, std::move(env));
    if (!address.ok()) return address.status();
    address_ = *address;
    auto stub = NewStub();
    if (stub == nullptr) return absl::InternalError("no channel to the coordinator");
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (absl::Now() < give_up) {
      inference::ServerReadyResponse ready;
      if (stub->ServerReady(Context(2).get(), {}, &ready).ok() && ready.ready()) return absl::OkStatus();
      absl::SleepFor(absl::Milliseconds(100));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("the coordinator did not become ready\n", coordinator().StderrTail()));
  }

  void Stop() { processes_.clear(); }

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
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(address_, tls, args);
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

  client::Process& coordinator() { return *processes_.back(); }
  client::Process& worker(int i) { return *processes_[static_cast<size_t>(i)]; }
  int workers() const { return static_cast<int>(worker_processes_); }
  const std::string& address() const { return address_; }

  // Every process still running (none has exited or crashed).
  bool AllAlive() {
    for (auto& p : processes_) {
      if (p->TryWait().has_value()) return false;
    }
    return !processes_.empty();
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

 private:
  static std::string Bin(const std::string& name) { return absl::StrCat(TESSERA_BIN_DIR, "/", name); }

  // Starts a server and returns the address of its "listening on HOST:PORT" line.
  absl::StatusOr<std::string> Spawn(std::vector<std::string> argv, std::vector<std::string> env = {}) {
    absl::StatusOr<std::unique_ptr<client::Process>> process =
        client::Process::Spawn({.argv = std::move(argv), .env = std::move(env)});
    if (!process.ok()) return process.status();
    absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(absl::Seconds(60));
    if (!line.ok()) return absl::Status(line.status().code(), absl::StrCat(line.status().message(), "\n",
                                                                          (*process)->StderrTail()));
    processes_.push_back(*std::move(process));
    return line->substr(line->rfind(' ') + 1);
  }

  std::filesystem::path dir_;
  absl::Status certs_ok_;
  std::vector<std::unique_ptr<client::Process>> processes_;  // workers, then the coordinator
  size_t worker_processes_ = 0;
  std::string address_;
};

}  // namespace tessera::testing
