// SIGTERM drains, with the real binaries on loopback and mutual TLS: a
// request in flight when the coordinator (or a worker) gets SIGTERM still
// succeeds, new requests are refused once the drain began, and the process
// exits 0 within its grace period. The coordinator here takes its drain
// period and log format from TESSERA_* environment variables, so these tests
// also cover flags read from the environment.
//
// "In flight" is observed, not guessed: the test polls the worker's Status
// until it reports an Execute running. The model is a long chain of
// MatMul + Tanh on one engine thread, so an Execute lasts seconds; every
// wait is bounded, and processes are killed when a test ends.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "client/kserve_request.h"
#include "client/process.h"
#include "common/certificate_authority.h"
#include "common/tls_credentials.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"
#include "proto/worker.grpc.pb.h"
#include "tests/worker/engine/model_builder.h"

extern char** environ;

namespace tessera {
namespace {

namespace fs = std::filesystem;
using client::Process;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr int kWidth = 256;
constexpr int kLayers = 3000;
constexpr int kBatch = 64;
// Generous: the in-flight Execute must finish inside it even on a slow,
// shared machine. A clean drain ends as soon as the call is answered.
constexpr int kDrainSeconds = 60;

// y = Tanh(...Tanh(Tanh(x @ W) @ W)...), kLayers times: seconds of work for
// a batch of kBatch on one thread, from a 256 KiB model.
std::string SlowModel() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::vector<float> w(kWidth * kWidth);
  for (float& v : w) v = dist(rng);
  engine::testing::ModelBuilder b;
  b.Input("input", onnx::TensorProto::FLOAT, {-1, kWidth}).Initializer("W", Tensor::FromVector<float>({kWidth, kWidth}, w));
  std::string previous = "input";
  for (int i = 0; i < kLayers; ++i) {
    const std::string product = absl::StrCat("m", i);
    const std::string next = i + 1 == kLayers ? "output" : absl::StrCat("t", i);
    b.Node("MatMul", {previous, "W"}, {product}).Node("Tanh", {product}, {next});
    previous = next;
  }
  b.Output("output", {-1, kWidth});
  return b.Bytes();
}

void WriteFile(const fs::path& path, const std::string& contents) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

// The parent's environment plus `extra` ("NAME=VALUE").
std::vector<std::string> EnvironmentWith(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "TESSERA_")) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// A grpc.health.v1.Health/Watch stream for the whole server (service ""),
// through the generic API (the health protos are not part of the build).
class HealthWatch {
 public:
  explicit HealthWatch(const std::shared_ptr<grpc::Channel>& channel) : stub_(channel) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    call_ = stub_.PrepareCall(&context_, "/grpc.health.v1.Health/Watch", &queue_);
    call_->StartCall(Tag(1));
    started_ = Await(1);
    grpc::ByteBuffer request;  // HealthCheckRequest{service: ""}: no bytes
    grpc::Slice empty;
    request = grpc::ByteBuffer(&empty, 1);
    if (started_) {
      call_->Write(request, Tag(2));
      started_ = Await(2);
    }
  }
  ~HealthWatch() {
    context_.TryCancel();
    queue_.Shutdown();
    void* tag;
    bool ok;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  // The next status sent: "SERVING", "NOT_SERVING", ... or "" once the
  // stream ends.
  std::string Next() {
    if (!started_) return "";
    grpc::ByteBuffer response;
    call_->Read(&response, Tag(3));
    if (!Await(3)) return "";
    std::vector<grpc::Slice> slices;
    if (!response.Dump(&slices).ok()) return "";
    std::string bytes;
    for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    // HealthCheckResponse{status = 1: enum}: "\x08" then the value; absent means UNKNOWN.
    const int status = bytes.size() >= 2 && bytes[0] == '\x08' ? bytes[1] : 0;
    switch (status) {
      case 1:
        return "SERVING";
      case 2:
        return "NOT_SERVING";
      default:
        return absl::StrCat("status ", status);
    }
  }

 private:
  static void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }
  bool Await(intptr_t n) {
    void* tag = nullptr;
    bool ok = false;
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(60);
    if (queue_.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) return false;
    return ok && tag == Tag(n);
  }

  grpc::GenericStub stub_;
  grpc::ClientContext context_;
  grpc::CompletionQueue queue_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
};

class DrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / absl::StrCat("tessera_drain_test_", ::getpid()));
    fs::remove_all(*dir_);
    ASSERT_TRUE(MakeClusterCertificates((*dir_ / "certs").string(), {}).ok());
    WriteFile(*dir_ / "models" / "slow" / "config.pbtxt",
              absl::StrCat("platform: \"onnx\"\nmax_batch_size: ", kBatch, " parallelism { strategy: DATA }\n"));
    WriteFile(*dir_ / "models" / "slow" / "1" / "model.onnx", SlowModel());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static std::string Bin(const std::string& name) { return absl::StrCat(TESSERA_BIN_DIR, "/", name); }
  static std::string Certs() { return (*dir_ / "certs").string(); }

  static std::pair<std::unique_ptr<Process>, std::string> StartServer(std::vector<std::string> argv,
                                                                      std::vector<std::string> env = {}) {
    auto process = Process::Spawn({.argv = std::move(argv), .env = std::move(env)});
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return {};
    absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(kStartTimeout);
    EXPECT_TRUE(line.ok()) << line.status() << "\n" << (*process)->StderrTail();
    if (!line.ok()) return {};
    return {*std::move(process), line->substr(line->rfind(' ') + 1)};
  }

  // `workers` workers (one engine thread each, draining for kDrainSeconds)
  // and a coordinator started with `coordinator_env`.
  void StartCluster(int workers, std::vector<std::string> coordinator_env = {}) {
    std::vector<std::string> addresses;
    for (int i = 0; i < workers; ++i) {
      auto [worker, worker_address] =
          StartServer({Bin("tessera-worker"), "--listen", "127.0.0.1:0", "--certs", Certs(), "--threads", "1",
                       "--drain-seconds", absl::StrCat(kDrainSeconds)});
      ASSERT_NE(worker, nullptr);
      workers_.push_back(std::move(worker));
      worker_stubs_.push_back(WorkerStub(worker_address));
      ASSERT_NE(worker_stubs_.back(), nullptr);
      addresses.push_back(worker_address);
    }
    auto [coordinator, address] = StartServer(
        {Bin("tessera-coordinator"), "--listen", "127.0.0.1:0", "--model-repository", (*dir_ / "models").string(),
         "--workers", absl::StrJoin(addresses, ","), "--certs", Certs(), "--threads", "1", "--health-interval-ms",
         "200"},
        std::move(coordinator_env));
    ASSERT_NE(coordinator, nullptr);
    coordinator_ = std::move(coordinator);
    coordinator_address_ = address;
    stub_ = ClientStub();
    ASSERT_NE(stub_, nullptr);
    WaitReady();
  }

  // A client channel to the coordinator on a connection of its own.
  std::shared_ptr<grpc::Channel> ClientChannel() const {
    TlsOptions tls{.files = TlsFiles::InDirectory(Certs(), NodeRole::kClient)};
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = MakeChannel(coordinator_address_, tls, args);
    EXPECT_TRUE(channel.ok()) << channel.status();
    return channel.ok() ? *channel : nullptr;
  }
  std::unique_ptr<inference::GRPCInferenceService::Stub> ClientStub() const {
    std::shared_ptr<grpc::Channel> channel = ClientChannel();
    return channel ? inference::GRPCInferenceService::NewStub(channel) : nullptr;
  }

  // The worker's own API, as a coordinator: for its Status.
  static std::unique_ptr<worker::Worker::Stub> WorkerStub(const std::string& address) {
    TlsOptions tls{.files = TlsFiles::InDirectory(Certs(), NodeRole::kCoordinator)};
    auto channel = MakeChannel(address, tls);
    EXPECT_TRUE(channel.ok()) << channel.status();
    return channel.ok() ? worker::Worker::NewStub(*channel) : nullptr;
  }

  static std::unique_ptr<grpc::ClientContext> Context(int seconds) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    return context;
  }

  void WaitReady() {
    const absl::Time give_up = absl::Now() + kStartTimeout;
    while (absl::Now() < give_up) {
      inference::ModelReadyRequest request;
      request.set_name("slow");
      inference::ModelReadyResponse ready;
      if (stub_->ModelReady(Context(2).get(), request, &ready).ok() && ready.ready()) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL() << "the model did not become ready\n" << coordinator_->StderrTail();
  }

  static inference::ModelInferRequest SlowRequest() {
    Tensor input = Tensor::Allocate(DataType::kFloat32, {kBatch, kWidth});
    for (int64_t i = 0; i < input.num_elements(); ++i) input.data<float>()[i] = static_cast<float>(i % 7) - 3;
    inference::ModelInferRequest request;
    request.set_model_name("slow");
    client::AddInferInput("input", input, client::InferContents::kRaw, &request);
    return request;
  }

  // Starts the slow request on its own thread; `done` is notified with its
  // status in `status`.
  std::thread StartSlowRequest(grpc::Status* status, inference::ModelInferResponse* response,
                               absl::Notification* done) {
    return std::thread([this, status, response, done] {
      *status = stub_->ModelInfer(Context(180).get(), SlowRequest(), response);
      done->Notify();
    });
  }

  // Waits until worker `i` reports an Execute running.
  bool WaitForExecuteInFlight(const absl::Notification& done, size_t i = 0) {
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (absl::Now() < give_up && !done.HasBeenNotified()) {
      worker::StatusResponse status;
      if (worker_stubs_[i]->Status(Context(5).get(), {}, &status).ok() && status.executes_in_flight() > 0) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  // Waits until `process`'s stderr shows `text`.
  static bool WaitForStderr(Process& process, absl::string_view text, absl::Duration timeout) {
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      if (absl::StrContains(process.StderrTail(), text)) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  static fs::path* dir_;
  std::vector<std::unique_ptr<Process>> workers_;
  std::vector<std::unique_ptr<worker::Worker::Stub>> worker_stubs_;
  std::unique_ptr<Process> coordinator_;
  std::string coordinator_address_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

fs::path* DrainTest::dir_ = nullptr;

TEST_F(DrainTest, CoordinatorFinishesTheCallInFlightRefusesNewOnesAndExitsZero) {
  StartCluster(1, EnvironmentWith({absl::StrCat("TESSERA_DRAIN_SECONDS=", kDrainSeconds), "TESSERA_LOG_FORMAT=json"}));
  grpc::Status status;
  inference::ModelInferResponse response;
  absl::Notification done;
  std::thread request = StartSlowRequest(&status, &response, &done);
  ASSERT_TRUE(WaitForExecuteInFlight(done)) << "the request never reached the worker\n" << coordinator_->StderrTail();

  auto health = std::make_unique<HealthWatch>(ClientChannel());
  EXPECT_EQ(health->Next(), "SERVING");

  const absl::Time signalled = absl::Now();
  ASSERT_TRUE(coordinator_->Signal(SIGTERM).ok());
  // grpc.health.v1 says NOT_SERVING before the server stops accepting.
  EXPECT_EQ(health->Next(), "NOT_SERVING");
  health.reset();  // a watch is a call in flight too
  ASSERT_TRUE(WaitForStderr(*coordinator_, "\"message\":\"draining", absl::Seconds(10))) << coordinator_->StderrTail();
  absl::SleepFor(absl::Milliseconds(200));  // the drain log line comes just before the server stops accepting

  // New calls are refused, on the open connection and on a new one.
  inference::ServerLiveResponse live;
  const grpc::Status same_connection = stub_->ServerLive(Context(5).get(), {}, &live);
  EXPECT_EQ(same_connection.error_code(), grpc::StatusCode::UNAVAILABLE) << same_connection.error_message();
  auto fresh = ClientStub();
  ASSERT_NE(fresh, nullptr);
  inference::ModelInferResponse refused_response;
  const grpc::Status new_connection = fresh->ModelInfer(Context(5).get(), SlowRequest(), &refused_response);
  EXPECT_EQ(new_connection.error_code(), grpc::StatusCode::UNAVAILABLE) << new_connection.error_message();
  EXPECT_FALSE(done.HasBeenNotified()) << "the slow request ended before the refusals were checked";

  // The call in flight is answered in full.
  request.join();
  ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << coordinator_->StderrTail();
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  EXPECT_EQ(response.raw_output_contents(0).size(), size_t{kBatch} * kWidth * sizeof(float));

  // ...and the coordinator exits 0 within its grace period.
  absl::StatusOr<client::ExitStatus> exit = coordinator_->Wait(absl::Seconds(kDrainSeconds));
  ASSERT_TRUE(exit.ok()) << exit.status() << "\n" << coordinator_->StderrTail();
  EXPECT_TRUE(exit->success()) << exit->ToString() << "\n" << coordinator_->StderrTail();
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(kDrainSeconds));

  // TESSERA_LOG_FORMAT=json: every log line is one JSON object.
  const std::string tail = coordinator_->StderrTail();
  EXPECT_TRUE(absl::StrContains(tail, "\"message\":\"drained; exiting\"")) << tail;
  for (absl::string_view line : absl::StrSplit(tail, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, "{\"time\":\"") && absl::EndsWith(line, "}")) << line;
  }
}

// A worker leaving (a scaled-down or rolled pod) finishes the Execute it is
// running, its coordinator gets that answer, and it exits 0 within its grace
// period. WaitForExecuteInFlight sees an Execute only once it runs: the
// worker's Status counts Executes, not partition loads (the first request
// may still be waiting for the load the deployment started; an Execute sent
// after the drain began is refused, since the worker no longer listens).
void ExpectWorkerDrainsCleanly(Process& worker, const absl::Time signalled) {
  absl::StatusOr<client::ExitStatus> exit = worker.Wait(absl::Seconds(kDrainSeconds));
  ASSERT_TRUE(exit.ok()) << exit.status() << "\n" << worker.StderrTail();
  EXPECT_TRUE(exit->success()) << exit->ToString() << "\n" << worker.StderrTail();
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(kDrainSeconds));
  const std::string tail = worker.StderrTail();
  EXPECT_TRUE(absl::StrContains(tail, "INFO tessera-worker: draining")) << tail;
  EXPECT_TRUE(absl::StrContains(tail, "INFO tessera-worker: drained; exiting")) << tail;
  EXPECT_FALSE(absl::StrContains(tail, "cancelled")) << tail;
}

// One worker: no other worker could take a replay, so the answer is the
// drained worker's own.
TEST_F(DrainTest, LoneWorkerFinishesTheExecuteInFlightAndExitsZero) {
  StartCluster(1);
  grpc::Status status;
  inference::ModelInferResponse response;
  absl::Notification done;
  std::thread request = StartSlowRequest(&status, &response, &done);
  ASSERT_TRUE(WaitForExecuteInFlight(done, 0)) << "the request never reached the worker\n" << workers_[0]->StderrTail();

  const absl::Time signalled = absl::Now();
  ASSERT_TRUE(workers_[0]->Signal(SIGTERM).ok());
  request.join();
  ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << coordinator_->StderrTail();
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  EXPECT_EQ(response.raw_output_contents(0).size(), size_t{kBatch} * kWidth * sizeof(float));
  ExpectWorkerDrainsCleanly(*workers_[0], signalled);
}

// Two workers: the request succeeds; worker 0's piece is answered by worker
// 0 (worker 1 runs no more Executes than it was given before the drain).
TEST_F(DrainTest, WorkerFinishesTheExecuteInFlightAndExitsZero) {
  StartCluster(2);
  grpc::Status status;
  inference::ModelInferResponse response;
  absl::Notification done;
  std::thread request = StartSlowRequest(&status, &response, &done);
  ASSERT_TRUE(WaitForExecuteInFlight(done, 0)) << "the request never reached worker 0\n" << workers_[0]->StderrTail();
  ASSERT_TRUE(WaitForExecuteInFlight(done, 1)) << "the request never reached worker 1\n" << workers_[1]->StderrTail();

  const absl::Time signalled = absl::Now();
  ASSERT_TRUE(workers_[0]->Signal(SIGTERM).ok());
  request.join();
  ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << coordinator_->StderrTail();
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  EXPECT_EQ(response.raw_output_contents(0).size(), size_t{kBatch} * kWidth * sizeof(float));
  worker::StatusResponse survivor;
  ASSERT_TRUE(worker_stubs_[1]->Status(Context(5).get(), {}, &survivor).ok());
  EXPECT_EQ(survivor.executes_total(), 1u) << "worker 0's piece was replayed on worker 1";
  ExpectWorkerDrainsCleanly(*workers_[0], signalled);
}

}  // namespace
}  // namespace tessera
