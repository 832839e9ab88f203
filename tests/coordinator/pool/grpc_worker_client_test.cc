// GrpcWorkerClient against real in-process workers (WorkerService over
// WorkerCore on 127.0.0.1): a multi-MiB partition streamed in chunks,
// already_loaded answered early, Execute, Status and Unload; NOT_FOUND after
// the worker is replaced by a fresh process on the same port, seen by the
// pool as a restart, and the partition pushed again; DEADLINE_EXCEEDED on a
// worker that never answers, and a cancelled Execute ending at once with the
// worker seeing the cancellation; UNAVAILABLE when nothing listens; mutual TLS
// with the cluster's certificates (and a client certificate refused).
#include "coordinator/pool/grpc_worker_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/certificate_authority.h"
#include "common/server_authorization.h"
#include "common/sha256.h"
#include "common/wire_tensor.h"
#include "coordinator/pool/partition_loader.h"
#include "coordinator/pool/worker_pool.h"
#include "gtest/gtest.h"
#include "tests/common/tls_test_cluster.h"
#include "tests/coordinator/pool/sync_call.h"
#include "tests/worker/engine/model_builder.h"
#include "worker/worker_service.h"

namespace tessera::coordinator {
namespace {

using testing::SyncCall;
using testing::SyncStatus;
using testing::WaitUntil;

// Keeps gRPC initialized for the whole binary, and never shuts it down: a
// callback thread may still be releasing its call when the test that waited
// for the callback has ended, so a grpc_shutdown at the end of a test (the
// last gRPC object gone) or at exit could race with it.
const bool grpc_initialized = [] {
  grpc_init();
  return true;
}();

constexpr int64_t kWidth = 1024;  // W is kWidth x kWidth floats: 4 MiB

// y = x @ I: a partition of a little over 4 MiB whose output is its input.
std::string IdentityMatMulModel() {
  std::vector<float> w(kWidth * kWidth, 0.0f);
  for (int64_t i = 0; i < kWidth; ++i) w[i * kWidth + i] = 1.0f;
  engine::testing::ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, kWidth})
      .Initializer("W", Tensor::FromVector<float>({kWidth, kWidth}, w))
      .Node("MatMul", {"x", "W"}, {"y"})
      .Output("y", {-1, kWidth});
  return b.Bytes();
}

const std::string& Model() {
  static const std::string model = IdentityMatMulModel();
  return model;
}

// A worker process in miniature: core, service, server.
class InProcessWorker {
 public:
  // Port 0: the kernel picks one. `credentials` default to insecure.
  static std::unique_ptr<InProcessWorker> Start(int port = 0,
                                                std::shared_ptr<grpc::ServerCredentials> credentials = nullptr,
                                                grpc::ServerBuilder* configured = nullptr) {
    auto w = std::make_unique<InProcessWorker>();
    w->core_ = std::make_unique<worker::WorkerCore>(worker::WorkerCore::Options{});
    w->service_ = std::make_unique<worker::WorkerService>(w->core_.get());
    grpc::ServerBuilder local;
    grpc::ServerBuilder& builder = configured != nullptr ? *configured : local;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                             credentials != nullptr ? credentials : grpc::InsecureServerCredentials(), &w->port_);
    builder.RegisterService(w->service_.get());
    w->server_ = builder.BuildAndStart();
    if (w->server_ == nullptr || w->port_ == 0) return nullptr;
    return w;
  }
  ~InProcessWorker() {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
  }

  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  worker::WorkerCore& core() { return *core_; }

 private:
  std::unique_ptr<worker::WorkerCore> core_;
  std::unique_ptr<worker::WorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

std::unique_ptr<GrpcWorkerClient> InsecureClient(const std::string& address, GrpcWorkerClient::Options options = {}) {
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                           GrpcWorkerClient::ChannelArguments(options));
  return std::make_unique<GrpcWorkerClient>(address, std::move(channel), options);
}

absl::Time Deadline(absl::Duration d = absl::Seconds(10)) { return absl::Now() + d; }

absl::StatusOr<worker::LoadPartitionResponse> Load(WorkerClient& client, const LoadablePartition& partition) {
  return SyncCall<worker::LoadPartitionResponse>([&](auto done) {
    client.LoadPartition(partition.header, partition.bytes, Deadline(), std::move(done));
  });
}

std::shared_ptr<worker::ExecuteRequest> Request(const std::string& id) {
  auto request = std::make_shared<worker::ExecuteRequest>();
  request->set_partition_id(id);
  request->set_request_id("req");
  request->set_piece_id(1);
  std::vector<float> x(2 * kWidth);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 97) - 40.0f;
  TensorToWire("x", Tensor::FromVector<float>({2, kWidth}, x), request->add_inputs());
  return request;
}

absl::StatusOr<worker::ExecuteResponse> Execute(WorkerClient& client, const std::string& id) {
  return SyncCall<worker::ExecuteResponse>(
      [&](auto done) { client.Execute(Request(id), Deadline(), std::move(done)); });
}

absl::StatusOr<worker::StatusResponse> Status(WorkerClient& client, absl::Duration deadline = absl::Seconds(10)) {
  return SyncCall<worker::StatusResponse>(
      [&](auto done) { client.Status(Deadline(deadline), std::move(done)); });
}

absl::StatusOr<worker::ProfileResponse> Profile(WorkerClient& client, const std::string& id, uint32_t runs = 1) {
  worker::ProfileRequest request;
  request.set_partition_id(id);
  request.set_runs(runs);
  return SyncCall<worker::ProfileResponse>(
      [&](auto done) { client.Profile(request, Deadline(), std::move(done)); });
}

LoadablePartition Partition() {
  worker::PartitionHeader header;
  header.set_model_name("identity");
  header.set_stage_count(1);
  return LoadablePartition::FromBytes(std::make_shared<const std::string>(Model()), header);
}

TEST(GrpcWorkerClientTest, LoadsAMultiMiBPartitionInChunksAndExecutes) {
  std::unique_ptr<InProcessWorker> w = InProcessWorker::Start();
  ASSERT_NE(w, nullptr);
  std::unique_ptr<GrpcWorkerClient> client = InsecureClient(w->address());
  EXPECT_EQ(client->address(), w->address());
  const LoadablePartition partition = Partition();
  ASSERT_GT(partition.bytes->size(), 4u << 20);  // over gRPC's default message limit: chunks are needed

  absl::StatusOr<worker::LoadPartitionResponse> loaded = Load(*client, partition);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->already_loaded());
  EXPECT_EQ(loaded->partition_id(), partition.id());
  EXPECT_EQ(loaded->model_bytes(), partition.bytes->size());

  // The worker answers right after the header; the client stops writing.
  absl::StatusOr<worker::LoadPartitionResponse> again = Load(*client, partition);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_loaded());

  absl::StatusOr<worker::ExecuteResponse> executed = Execute(*client, partition.id());
  ASSERT_TRUE(executed.ok()) << executed.status();
  EXPECT_EQ(executed->request_id(), "req");
  ASSERT_EQ(executed->outputs_size(), 1);
  EXPECT_EQ(executed->outputs(0).content(), Request(partition.id())->inputs(0).content());

  absl::StatusOr<worker::StatusResponse> status = Status(*client);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->boot_id().empty());
  ASSERT_EQ(status->partitions_size(), 1);
  EXPECT_EQ(status->partitions(0).partition_id(), partition.id());
  EXPECT_EQ(status->partitions(0).model_name(), "identity");

  absl::StatusOr<worker::ProfileResponse> profile = Profile(*client, partition.id(), 2);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->partition_id(), partition.id());
  ASSERT_EQ(profile->nodes_size(), 1);
  EXPECT_EQ(profile->nodes(0).op_type(), "MatMul");
  EXPECT_GT(profile->nodes(0).ms(), 0.0);
  EXPECT_DOUBLE_EQ(profile->total_ms(), profile->nodes(0).ms());
  EXPECT_EQ(Profile(*client, partition.id(), 0).status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<worker::UnloadResponse> unloaded = SyncCall<worker::UnloadResponse>(
      [&](auto done) { client->Unload(partition.id(), Deadline(), std::move(done)); });
  ASSERT_TRUE(unloaded.ok()) << unloaded.status();
  EXPECT_TRUE(unloaded->was_loaded());
  EXPECT_EQ(Execute(*client, partition.id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Profile(*client, partition.id()).status().code(), absl::StatusCode::kNotFound);
}

TEST(GrpcWorkerClientTest, CorruptBytesAreDataLoss) {
  std::unique_ptr<InProcessWorker> w = InProcessWorker::Start();
  ASSERT_NE(w, nullptr);
  std::unique_ptr<GrpcWorkerClient> client = InsecureClient(w->address(), {.chunk_bytes = 1000});
  LoadablePartition partition = Partition();
  auto corrupt = std::make_shared<std::string>(*partition.bytes);
  (*corrupt)[corrupt->size() / 2] ^= 0x5a;
  partition.bytes = corrupt;
  EXPECT_EQ(Load(*client, partition).status().code(), absl::StatusCode::kDataLoss);
}

TEST(GrpcWorkerClientTest, ReplacedWorkerAnswersNotFoundAndGetsThePartitionAgain) {
  std::unique_ptr<InProcessWorker> w = InProcessWorker::Start();
  ASSERT_NE(w, nullptr);
  const int port = w->port();
  const std::string address = w->address();
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Create({
      .workers = {address},
      .client_factory =
          [](const WorkerEndpoint& endpoint) -> absl::StatusOr<std::unique_ptr<WorkerClient>> {
        return InsecureClient(endpoint.address);
      },
      .health_deadline = absl::Seconds(2),
  });
  ASSERT_TRUE(pool.ok()) << pool.status();
  (*pool)->PollNow();
  WorkerPool::WorkerPtr worker = (*pool)->Find(address);
  ASSERT_TRUE(worker->healthy());
  const std::string first_boot = worker->boot_id();

  PartitionLoader loader;
  const LoadablePartition partition = Partition();
  auto ensure = [&] {
    return SyncStatus([&](PartitionLoader::Done done) {
      loader.EnsureLoaded(worker, partition, Deadline(), std::move(done));
    });
  };
  ASSERT_TRUE(ensure().ok());
  ASSERT_TRUE(Execute(worker->client(), partition.id()).ok());

  // The worker process is replaced: same address, empty cache, new boot_id.
  w.reset();
  w = InProcessWorker::Start(port);
  ASSERT_NE(w, nullptr);

  // The client reconnects (short backoff); the fresh worker has no partition.
  absl::Status executed;
  ASSERT_TRUE(WaitUntil([&] {
    executed = Execute(worker->client(), partition.id()).status();
    return executed.code() != absl::StatusCode::kUnavailable;
  }, absl::Seconds(8))) << executed;
  ASSERT_EQ(executed.code(), absl::StatusCode::kNotFound) << executed;
  loader.MarkNotLoaded(*worker, partition.id());

  // The pool sees the restart too.
  ASSERT_TRUE(WaitUntil([&] {
    (*pool)->PollNow();
    return worker->generation() == 1;
  }, absl::Seconds(8)));
  EXPECT_NE(worker->boot_id(), first_boot);
  EXPECT_TRUE(worker->healthy());

  ASSERT_TRUE(ensure().ok());
  EXPECT_EQ(loader.pushes_started(), 2u);
  absl::StatusOr<worker::ExecuteResponse> again = Execute(worker->client(), partition.id());
  ASSERT_TRUE(again.ok()) << again.status();
  (*pool)->Stop();
}

// A worker that never answers Status (until the test ends).
class HungWorkerService final : public worker::Worker::CallbackService {
 public:
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context, const worker::StatusRequest*,
                                   worker::StatusResponse*) override {
    absl::MutexLock lock(&mu_);
    reactors_.push_back(context->DefaultReactor());
    return reactors_.back();
  }
  void ReleaseAll() {
    absl::MutexLock lock(&mu_);
    for (grpc::ServerUnaryReactor* reactor : reactors_) reactor->Finish(grpc::Status::CANCELLED);
    reactors_.clear();
  }

 private:
  absl::Mutex mu_;
  std::vector<grpc::ServerUnaryReactor*> reactors_ ABSL_GUARDED_BY(mu_);
};

TEST(GrpcWorkerClientTest, HungWorkerIsDeadlineExceeded) {
  HungWorkerService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<GrpcWorkerClient> client = InsecureClient(absl::StrCat("127.0.0.1:", port));
  const absl::Time start = absl::Now();
  EXPECT_EQ(Status(*client, absl::Milliseconds(200)).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  service.ReleaseAll();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

// A worker whose Execute never answers; it records the calls it saw
// cancelled by the client.
class HungExecuteService final : public worker::Worker::CallbackService {
 public:
  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context, const worker::ExecuteRequest*,
                                    worker::ExecuteResponse*) override {
    class Reactor final : public grpc::ServerUnaryReactor {
     public:
      explicit Reactor(HungExecuteService* service) : service_(service) {}
      void OnCancel() override {
        ++service_->cancelled_;
        Finish(grpc::Status::CANCELLED);
      }
      void OnDone() override { delete this; }  // gRPC's reactor contract

     private:
      HungExecuteService* const service_;
    };
    ++started_;
    (void)context;
    return new Reactor(this);
  }
  std::atomic<int> started_{0};
  std::atomic<int> cancelled_{0};
};

TEST(GrpcWorkerClientTest, CancelledExecuteEndsAtOnceAndTheWorkerSeesIt) {
  HungExecuteService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<GrpcWorkerClient> client = InsecureClient(absl::StrCat("127.0.0.1:", port));
  auto canceller = std::make_shared<CallCanceller>();
  absl::Notification answered;
  absl::Status status;
  client->ExecuteCancellable(Request("p"), Deadline(absl::Seconds(30)), canceller,
                             [&](absl::StatusOr<worker::ExecuteResponse> response) {
                               status = response.status();
                               answered.Notify();
                             });
  ASSERT_TRUE(WaitUntil([&] { return service.started_.load() == 1; }, absl::Seconds(10)));
  EXPECT_FALSE(answered.HasBeenNotified());
  const absl::Time cancelled_at = absl::Now();
  canceller->Cancel();
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(2));  // not the 30 s deadline
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_TRUE(WaitUntil([&] { return service.cancelled_.load() == 1; }));  // the worker saw it
  EXPECT_TRUE(canceller->cancelled());
  canceller->Cancel();  // idempotent; the call is gone

  // Cancelled before the call starts: it ends CANCELLED at once.
  absl::Notification second;
  absl::Status second_status;
  client->ExecuteCancellable(Request("p"), Deadline(absl::Seconds(30)), canceller,
                             [&](absl::StatusOr<worker::ExecuteResponse> response) {
                               second_status = response.status();
                               second.Notify();
                             });
  ASSERT_TRUE(second.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(second_status.code(), absl::StatusCode::kCancelled) << second_status;
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

TEST(GrpcWorkerClientTest, NobodyListeningIsUnavailable) {
  // Find a free port, then close it.
  int port = 0;
  {
    std::unique_ptr<InProcessWorker> w = InProcessWorker::Start();
    ASSERT_NE(w, nullptr);
    port = w->port();
  }
  std::unique_ptr<GrpcWorkerClient> client = InsecureClient(absl::StrCat("127.0.0.1:", port));
  EXPECT_EQ(Status(*client, absl::Seconds(5)).status().code(), absl::StatusCode::kUnavailable);
}

TEST(GrpcWorkerClientTest, MutualTlsWithTheClusterCertificates) {
  tessera::testing::TemporaryDirectory dir("pool_tls");
  ASSERT_TRUE(MakeClusterCertificates(dir.path().string(), {}).ok());
  grpc::ServerBuilder builder;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_credentials = ConfigureServerSecurity(
      NodeRole::kWorker, TlsOptions{.files = TlsFiles::InDirectory(dir.path().string(), NodeRole::kWorker)},
      &builder);
  ASSERT_TRUE(server_credentials.ok()) << server_credentials.status();
  std::unique_ptr<InProcessWorker> w = InProcessWorker::Start(0, *server_credentials, &builder);
  ASSERT_NE(w, nullptr);

  absl::StatusOr<GrpcWorkerClientFactory> factory = MakeGrpcWorkerClientFactory(
      TlsOptions{.files = TlsFiles::InDirectory(dir.path().string(), NodeRole::kCoordinator)}, {});
  ASSERT_TRUE(factory.ok()) << factory.status();
  absl::StatusOr<std::unique_ptr<WorkerClient>> client = (*factory)(w->address());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<worker::StatusResponse> status = Status(**client);
  ASSERT_TRUE(status.ok()) << status.status();
  absl::StatusOr<worker::LoadPartitionResponse> loaded = Load(**client, Partition());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(Execute(**client, Partition().id()).ok());
  EXPECT_TRUE(Profile(**client, Partition().id()).ok());  // a coordinator RPC like the others

  // The worker's policy admits coordinators only.
  absl::StatusOr<GrpcWorkerClientFactory> as_client = MakeGrpcWorkerClientFactory(
      TlsOptions{.files = TlsFiles::InDirectory(dir.path().string(), NodeRole::kClient)}, {});
  ASSERT_TRUE(as_client.ok()) << as_client.status();
  absl::StatusOr<std::unique_ptr<WorkerClient>> intruder = (*as_client)(w->address());
  ASSERT_TRUE(intruder.ok());
  EXPECT_EQ(Status(**intruder).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Profile(**intruder, Partition().id()).status().code(), absl::StatusCode::kPermissionDenied);
}

// A worker found through DNS is dialled by IP, and its certificate is
// checked against the DNS name, not skipped: the right name passes, a name
// the certificate does not carry fails the handshake.
TEST(GrpcWorkerClientTest, DiscoveredEndpointsVerifyTheCertificateAgainstTheirName) {
  tessera::testing::TemporaryDirectory dir("pool_tls_name");
  ASSERT_TRUE(MakeClusterCertificates(dir.path().string(), {"tessera-worker"}).ok());
  grpc::ServerBuilder builder;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_credentials = ConfigureServerSecurity(
      NodeRole::kWorker, TlsOptions{.files = TlsFiles::InDirectory(dir.path().string(), NodeRole::kWorker)},
      &builder);
  ASSERT_TRUE(server_credentials.ok()) << server_credentials.status();
  std::unique_ptr<InProcessWorker> w = InProcessWorker::Start(0, *server_credentials, &builder);
  ASSERT_NE(w, nullptr);
  absl::StatusOr<GrpcWorkerClientFactory> factory = MakeGrpcWorkerClientFactory(
      TlsOptions{.files = TlsFiles::InDirectory(dir.path().string(), NodeRole::kCoordinator)}, {});
  ASSERT_TRUE(factory.ok()) << factory.status();

  absl::StatusOr<std::unique_ptr<WorkerClient>> named = (*factory)(WorkerEndpoint(w->address(), "tessera-worker"));
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ((*named)->address(), w->address());
  EXPECT_TRUE(Status(**named).ok());

  absl::StatusOr<std::unique_ptr<WorkerClient>> misnamed = (*factory)(WorkerEndpoint(w->address(), "other-worker"));
  ASSERT_TRUE(misnamed.ok()) << misnamed.status();
  EXPECT_EQ(Status(**misnamed, absl::Seconds(5)).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tessera::coordinator
