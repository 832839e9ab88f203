// The tessera.worker.Worker service over a real gRPC server on loopback
// (plaintext here; TLS and authorization are tested with the credentials):
// partitions streamed in chunks and checked, Execute against the local
// engine, NOT_FOUND for a partition that is not loaded, bad inputs, the
// memory budget, Status and Unload, concurrent Executes, deadlines (the
// call's and the request's absolute one).
#include "worker/worker_service.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/sha256.h"
#include "common/wire_tensor.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera::worker {
namespace {

using engine::testing::ModelBuilder;

// y = Relu(x @ W), x [batch, 4], W [4, 3].
std::string MatMulReluModel() {
  ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 4})
      .Initializer("W", tessera::Tensor::FromVector<float>({4, 3}, {1, -1, 0, 2, 0, 1, -3, 1, 0, 0.5, 2, -1}))
      .Node("MatMul", {"x", "W"}, {"h"})
      .Node("Relu", {"h"}, {"y"})
      .Output("y", {-1, 3});
  return b.Bytes();
}

class WorkerServiceTest : public ::testing::Test {
 protected:
  void StartServer(WorkerCore::Options options) {
    core_ = std::make_unique<WorkerCore>(options);
    service_ = std::make_unique<WorkerService>(core_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = Worker::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void SetUp() override { StartServer({}); }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  // Streams `bytes` in `chunk`-byte pieces under `header` (id and size filled
  // from the bytes unless already set).
  grpc::Status Upload(const std::string& bytes, size_t chunk, LoadPartitionResponse* response,
                      PartitionHeader header = {}) {
    if (header.partition_id().empty()) header.set_partition_id(Sha256Hex(bytes));
    if (header.total_bytes() == 0) header.set_total_bytes(bytes.size());
    auto context = Context();
    std::unique_ptr<grpc::ClientWriter<LoadPartitionRequest>> writer = stub_->LoadPartition(context.get(), response);
    LoadPartitionRequest request;
    *request.mutable_header() = header;
    if (writer->Write(request)) {
      for (size_t at = 0; at < bytes.size(); at += chunk) {
        request.set_chunk(bytes.substr(at, chunk));
        if (!writer->Write(request)) break;  // the server answered early
      }
    }
    writer->WritesDone();
    return writer->Finish();
  }

  grpc::Status Execute(const ExecuteRequest& request, ExecuteResponse* response) {
    auto context = Context();
    return stub_->Execute(context.get(), request, response);
  }

  std::unique_ptr<WorkerCore> core_;
  std::unique_ptr<WorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Worker::Stub> stub_;
};

ExecuteRequest Request(const std::string& id, const std::vector<float>& x) {
  ExecuteRequest request;
  request.set_partition_id(id);
  request.set_request_id("r1");
  request.set_piece_id(7);
  TensorToWire("x", tessera::Tensor::FromVector<float>({static_cast<int64_t>(x.size() / 4), 4}, x),
               request.add_inputs());
  return request;
}

TEST_F(WorkerServiceTest, LoadsInChunksAndExecutes) {
  const std::string model = MatMulReluModel();
  LoadPartitionResponse loaded;
  grpc::Status st = Upload(model, 7, &loaded);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(loaded.already_loaded());
  EXPECT_EQ(loaded.model_bytes(), model.size());
  EXPECT_EQ(loaded.partition_id(), Sha256Hex(model));

  ExecuteResponse response;
  st = Execute(Request(Sha256Hex(model), {1, 2, 3, 4, -1, 0, 0, 0}), &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(response.request_id(), "r1");
  EXPECT_EQ(response.piece_id(), 7u);
  ASSERT_EQ(response.outputs_size(), 1);
  absl::StatusOr<tessera::Tensor> y = TensorFromWire(response.outputs(0));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(response.outputs(0).name(), "y");
  EXPECT_EQ(y->shape(), (Shape{2, 3}));
  // W rows: [1 -1 0], [2 0 1], [-3 1 0], [0.5 2 -1].
  // Row 0: [1 2 3 4] @ W = [1+4-9+2, -1+0+3+8, 0+2+0-4] = [-2, 10, -2] -> relu.
  // Row 1: [-1 0 0 0] @ W = [-1, 1, 0] -> relu.
  const std::vector<float> expected = {0, 10, 0, 0, 1, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y->data<float>()[i], expected[i]) << i;
}

TEST_F(WorkerServiceTest, SecondUploadIsAnsweredAsAlreadyLoaded) {
  const std::string model = MatMulReluModel();
  LoadPartitionResponse first, second;
  ASSERT_TRUE(Upload(model, 1 << 20, &first).ok());
  grpc::Status st = Upload(model, 16, &second);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(second.already_loaded());
}

TEST_F(WorkerServiceTest, PartitionNotLoadedIsNotFound) {
  ExecuteResponse response;
  grpc::Status st = Execute(Request(Sha256Hex("nothing"), {1, 2, 3, 4}), &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("not loaded"), std::string::npos) << st.error_message();
}

TEST_F(WorkerServiceTest, CorruptUploadIsDataLossAndNotCached) {
  std::string model = MatMulReluModel();
  PartitionHeader header;
  header.set_partition_id(Sha256Hex(model));
  model[model.size() / 2] ^= 0x5a;
  LoadPartitionResponse response;
  grpc::Status st = Upload(model, 64, &response, header);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_NE(st.error_message().find("hash"), std::string::npos) << st.error_message();
  EXPECT_EQ(core_->cache().Find(header.partition_id()), nullptr);
}

TEST_F(WorkerServiceTest, GarbagePartitionIsInvalidArgumentNamingIt) {
  const std::string garbage = "this is not an ONNX model at all";
  LoadPartitionResponse response;
  grpc::Status st = Upload(garbage, 8, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find(Sha256Hex(garbage)), std::string::npos) << st.error_message();
}

TEST_F(WorkerServiceTest, ChunkBeforeHeaderIsInvalidArgument) {
  auto context = Context();
  LoadPartitionResponse response;
  auto writer = stub_->LoadPartition(context.get(), &response);
  LoadPartitionRequest request;
  request.set_chunk("bytes");
  writer->Write(request);
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("header"), std::string::npos) << st.error_message();
}

TEST_F(WorkerServiceTest, BadInputsAreInvalidArgument) {
  const std::string model = MatMulReluModel();
  LoadPartitionResponse loaded;
  ASSERT_TRUE(Upload(model, 1024, &loaded).ok());
  const std::string id = Sha256Hex(model);
  ExecuteResponse response;

  ExecuteRequest short_content = Request(id, {1, 2, 3, 4});
  short_content.mutable_inputs(0)->mutable_content()->resize(12);
  grpc::Status st = Execute(short_content, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("needs 16 bytes"), std::string::npos) << st.error_message();

  ExecuteRequest wrong_type = Request(id, {1, 2, 3, 4});
  wrong_type.mutable_inputs(0)->set_datatype("FLOAT32");
  st = Execute(wrong_type, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("FLOAT32"), std::string::npos) << st.error_message();

  ExecuteRequest duplicated = Request(id, {1, 2, 3, 4});
  *duplicated.add_inputs() = duplicated.inputs(0);
  st = Execute(duplicated, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("more than once"), std::string::npos) << st.error_message();

  ExecuteRequest wrong_shape = Request(id, {1, 2, 3, 4});
  wrong_shape.mutable_inputs(0)->set_shape(1, 2);
  wrong_shape.mutable_inputs(0)->set_shape(0, 2);
  st = Execute(wrong_shape, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();

  ExecuteRequest unknown_output = Request(id, {1, 2, 3, 4});
  unknown_output.add_output_names("z");
  st = Execute(unknown_output, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("no output 'z'"), std::string::npos) << st.error_message();

  ExecuteRequest negative = Request(id, {1, 2, 3, 4});
  negative.mutable_inputs(0)->set_shape(0, -1);
  st = Execute(negative, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();

  // The worker still serves good requests.
  st = Execute(Request(id, {1, 2, 3, 4}), &response);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(WorkerServiceTest, StatusAndUnload) {
  const std::string model = MatMulReluModel();
  LoadPartitionResponse loaded;
  PartitionHeader header;
  header.set_model_name("mm");
  header.set_model_version("3");
  header.set_stage_index(1);
  header.set_stage_count(2);
  ASSERT_TRUE(Upload(model, 1024, &loaded, header).ok());
  ExecuteResponse response;
  ASSERT_TRUE(Execute(Request(Sha256Hex(model), {1, 2, 3, 4, 5, 6, 7, 8}), &response).ok());

  StatusResponse status;
  auto context = Context();
  ASSERT_TRUE(stub_->Status(context.get(), StatusRequest(), &status).ok());
  EXPECT_EQ(status.boot_id().size(), 32u);
  ASSERT_EQ(status.partitions_size(), 1);
  EXPECT_EQ(status.partitions(0).model_name(), "mm");
  EXPECT_EQ(status.partitions(0).stage_index(), 1u);
  EXPECT_EQ(status.partitions(0).execute_count(), 1u);
  EXPECT_EQ(status.memory_in_use_bytes(), model.size());
  EXPECT_EQ(status.executes_total(), 1u);
  EXPECT_GT(status.samples_per_second(), 0);
  EXPECT_GE(status.max_concurrent_executes(), 1u);

  UnloadRequest unload;
  unload.set_partition_id(Sha256Hex(model));
  UnloadResponse unloaded;
  context = Context();
  ASSERT_TRUE(stub_->Unload(context.get(), unload, &unloaded).ok());
  EXPECT_TRUE(unloaded.was_loaded());
  EXPECT_EQ(unloaded.freed_bytes(), model.size());
  context = Context();
  ASSERT_TRUE(stub_->Unload(context.get(), unload, &unloaded).ok());
  EXPECT_FALSE(unloaded.was_loaded());
  EXPECT_EQ(Execute(Request(Sha256Hex(model), {1, 2, 3, 4}), &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(WorkerServiceTest, PartitionOverBudgetIsRefusedFromTheHeader) {
  TearDown();
  StartServer({.memory_budget_bytes = 100});
  const std::string model = MatMulReluModel();
  ASSERT_GT(model.size(), 100u);
  LoadPartitionResponse response;
  grpc::Status st = Upload(model, 16, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("budget"), std::string::npos) << st.error_message();
}

TEST_F(WorkerServiceTest, ConcurrentExecutesAllAnswerCorrectly) {
  TearDown();
  StartServer({.max_concurrent_executes = 2});
  const std::string model = MatMulReluModel();
  LoadPartitionResponse loaded;
  ASSERT_TRUE(Upload(model, 1024, &loaded).ok());
  std::vector<std::thread> clients;
  std::vector<int> correct(8, 0);
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 20; ++i) {
        const float v = static_cast<float>(c * 100 + i);
        ExecuteResponse response;
        if (!Execute(Request(Sha256Hex(model), {v, 0, 0, 0}), &response).ok()) return;
        absl::StatusOr<tessera::Tensor> y = TensorFromWire(response.outputs(0));
        // [v 0 0 0] @ W = [v, -v, 0] -> relu [v, 0, 0] for v >= 0.
        if (!y.ok() || y->data<float>()[0] != v || y->data<float>()[1] != 0) return;
      }
      correct[c] = 1;
    });
  }
  for (auto& t : clients) t.join();
  for (int c = 0; c < 8; ++c) EXPECT_EQ(correct[c], 1) << "client " << c;
}


// y = x @ W repeated `layers` times, x [batch, n], W [n, n]: slow enough on
// one engine thread to keep the only execution slot busy.
std::string SlowModel(int64_t n, int layers) {
  std::vector<float> w(n * n, 1.0f / static_cast<float>(n));
  ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, n}).Initializer("W", tessera::Tensor::FromVector<float>({n, n}, w));
  std::string last = "x";
  for (int i = 0; i < layers; ++i) {
    const std::string out = i + 1 == layers ? "y" : absl::StrCat("h", i);
    b.Node("MatMul", {last, "W"}, {out});
    last = out;
  }
  b.Output("y", {-1, n});
  return b.Bytes();
}

TEST_F(WorkerServiceTest, QueuedPiecePastItsDeadlineIsDroppedWithoutRunning) {
  TearDown();
  StartServer({.intra_op_threads = 1, .max_concurrent_executes = 1});
  const int64_t n = 512;
  const std::string model = SlowModel(n, 160);
  LoadPartitionResponse loaded;
  ASSERT_TRUE(Upload(model, 1 << 20, &loaded).ok());
  ExecuteRequest slow;
  slow.set_partition_id(Sha256Hex(model));
  TensorToWire("x", tessera::Tensor::FromVector<float>({n, n}, std::vector<float>(n * n, 1.0f)), slow.add_inputs());

  // The slow piece takes the only slot...
  absl::Duration slow_took;
  grpc::Status slow_status;
  std::thread first([&] {
    const absl::Time start = absl::Now();
    ExecuteResponse response;
    slow_status = Execute(slow, &response);
    slow_took = absl::Now() - start;
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (core_->Status().executes_in_flight() == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(core_->Status().executes_in_flight(), 1u);
  // ... a piece with a 100 ms deadline queues behind it: the caller hears
  // DEADLINE_EXCEEDED at its deadline, not when the slot frees.
  ExecuteRequest quick = slow;
  quick.set_piece_id(2);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  ExecuteResponse response;
  const absl::Time start = absl::Now();
  grpc::Status st = stub_->Execute(&context, quick, &response);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  EXPECT_LT(took, absl::Milliseconds(600)) << took;
  first.join();
  ASSERT_TRUE(slow_status.ok()) << slow_status.error_message();
  ASSERT_GT(slow_took, absl::Milliseconds(250)) << "the slow piece was too fast to make the point";
  // The worker dropped the late piece without running it: one Execute ran.
  while (core_->Status().executes_in_flight() > 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(core_->Status().executes_in_flight(), 0u);
  EXPECT_EQ(core_->Status().executes_total(), 1u);
}

TEST_F(WorkerServiceTest, PieceWhoseDeadlinePassedIsNotRun) {
  const std::string model = MatMulReluModel();
  LoadPartitionResponse loaded;
  ASSERT_TRUE(Upload(model, 1 << 20, &loaded).ok());
  ExecuteRequest request = Request(Sha256Hex(model), {1, 2, 3, 4});
  ExecuteResponse response;
  absl::Notification done;
  absl::Status result;
  core_->Execute(&request, &response, nullptr, absl::Now() - absl::Milliseconds(1), [&](absl::Status status) {
    result = status;
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(result.code(), absl::StatusCode::kDeadlineExceeded) << result;
  EXPECT_NE(result.message().find("not run"), absl::string_view::npos) << result;
  EXPECT_EQ(response.outputs_size(), 0);
  EXPECT_EQ(core_->Status().executes_total(), 0u);
}

// A worker that reads a call late (it was stopped, say) counts gRPC's
// relative timeout from then; the request's absolute deadline still holds.
TEST_F(WorkerServiceTest, PieceWhoseAbsoluteDeadlinePassedIsNotRunThoughItsCallHasTime) {
  const std::string model = MatMulReluModel();
  LoadPartitionResponse loaded;
  ASSERT_TRUE(Upload(model, 1 << 20, &loaded).ok());
  ExecuteRequest request = Request(Sha256Hex(model), {1, 2, 3, 4});
  request.set_deadline_unix_us(absl::ToUnixMicros(absl::Now() - absl::Milliseconds(50)));
  ExecuteResponse response;
  grpc::Status st = Execute(request, &response);  // the call itself has 20 s
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  EXPECT_NE(st.error_message().find("deadline passed"), std::string::npos) << st.error_message();
  EXPECT_NE(st.error_message().find("before this worker read it; not run"), std::string::npos) << st.error_message();
  EXPECT_EQ(response.outputs_size(), 0);
  EXPECT_EQ(core_->Status().executes_total(), 0u);

  // The same piece with its absolute deadline ahead (or none: older
  // callers) runs.
  request.set_deadline_unix_us(absl::ToUnixMicros(absl::Now() + absl::Seconds(20)));
  st = Execute(request, &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(response.outputs_size(), 1);
  request.set_deadline_unix_us(0);
  st = Execute(request, &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(response.outputs_size(), 1);
  absl::StatusOr<tessera::Tensor> y = TensorFromWire(response.outputs(0));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->data<float>()[1], 10.0f);  // [1 2 3 4] @ W = [-2, 10, -2] -> relu
  EXPECT_EQ(core_->Status().executes_total(), 2u);
}

TEST_F(WorkerServiceTest, QueuedPiecePastItsAbsoluteDeadlineIsDroppedThoughItsCallHasTime) {
  TearDown();
  StartServer({.intra_op_threads = 1, .max_concurrent_executes = 1});
  const int64_t n = 512;
  const std::string model = SlowModel(n, 160);
  LoadPartitionResponse loaded;
  ASSERT_TRUE(Upload(model, 1 << 20, &loaded).ok());
  ExecuteRequest slow;
  slow.set_partition_id(Sha256Hex(model));
  TensorToWire("x", tessera::Tensor::FromVector<float>({n, n}, std::vector<float>(n * n, 1.0f)), slow.add_inputs());

  // The slow piece takes the only slot...
  absl::Time slow_ended;
  grpc::Status slow_status;
  std::thread first([&] {
    ExecuteResponse response;
    slow_status = Execute(slow, &response);
    slow_ended = absl::Now();
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (core_->Status().executes_in_flight() == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(core_->Status().executes_in_flight(), 1u);
  // ... a piece whose absolute deadline is 100 ms away (its call has 20 s)
  // queues behind it and is dropped when the slot frees.
  ExecuteRequest quick = slow;
  quick.set_piece_id(2);
  const absl::Time absolute = absl::Now() + absl::Milliseconds(100);
  quick.set_deadline_unix_us(absl::ToUnixMicros(absolute));
  ExecuteResponse response;
  grpc::Status st = Execute(quick, &response);
  first.join();
  ASSERT_TRUE(slow_status.ok()) << slow_status.error_message();
  ASSERT_GT(slow_ended, absolute + absl::Milliseconds(50)) << "the slow piece was too fast to make the point";
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  EXPECT_NE(st.error_message().find("in the queue; not run"), std::string::npos) << st.error_message();
  EXPECT_EQ(response.outputs_size(), 0);
  while (core_->Status().executes_in_flight() > 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(core_->Status().executes_total(), 1u);
}

}  // namespace
}  // namespace tessera::worker
