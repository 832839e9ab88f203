// FakeWorkerClient: the scripted mode's contract (NOT_FOUND until loaded,
// DATA_LOSS for wrong bytes, compute time from the speed), the engine mode
// running a real partition, programmed failures, delays and deadlines, and
// pending calls cancelled when the fake goes away.
#include "coordinator/pool/fake_worker_client.h"

#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "common/sha256.h"
#include "common/wire_tensor.h"
#include "gtest/gtest.h"
#include "tests/coordinator/pool/sync_call.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera::coordinator {
namespace {

using testing::SyncCall;

absl::StatusOr<worker::LoadPartitionResponse> Load(FakeWorkerClient& fake, const std::string& bytes,
                                                   absl::Duration timeout = absl::Seconds(5)) {
  worker::PartitionHeader header;
  header.set_partition_id(Sha256Hex(bytes));
  header.set_total_bytes(bytes.size());
  auto data = std::make_shared<const std::string>(bytes);
  return SyncCall<worker::LoadPartitionResponse>(
      [&](auto done) { fake.LoadPartition(header, data, absl::Now() + timeout, std::move(done)); });
}

absl::StatusOr<worker::ExecuteResponse> Execute(FakeWorkerClient& fake, std::shared_ptr<worker::ExecuteRequest> request,
                                                absl::Duration timeout = absl::Seconds(5)) {
  return SyncCall<worker::ExecuteResponse>(
      [&](auto done) { fake.Execute(request, absl::Now() + timeout, std::move(done)); });
}

absl::StatusOr<worker::StatusResponse> Status(FakeWorkerClient& fake, absl::Duration timeout = absl::Seconds(5)) {
  return SyncCall<worker::StatusResponse>([&](auto done) { fake.Status(absl::Now() + timeout, std::move(done)); });
}

std::shared_ptr<worker::ExecuteRequest> Request(const std::string& id, int64_t batch, int64_t width = 1) {
  auto request = std::make_shared<worker::ExecuteRequest>();
  request->set_partition_id(id);
  request->set_request_id("r");
  request->set_piece_id(3);
  std::vector<float> x(batch * width);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) - 2.0f;
  TensorToWire("x", Tensor::FromVector<float>({batch, width}, x), request->add_inputs());
  return request;
}

TEST(FakeWorkerClientTest, ScriptedLoadExecuteUnload) {
  FakeWorkerClient fake({.samples_per_second = 50});
  const std::string id = Sha256Hex("model");
  EXPECT_EQ(Execute(fake, Request(id, 4)).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<worker::LoadPartitionResponse> loaded = Load(fake, "model");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->already_loaded());
  EXPECT_TRUE(Load(fake, "model")->already_loaded());
  EXPECT_TRUE(fake.HasPartition(id));

  absl::StatusOr<worker::ExecuteResponse> executed = Execute(fake, Request(id, 4));
  ASSERT_TRUE(executed.ok()) << executed.status();
  EXPECT_EQ(executed->request_id(), "r");
  EXPECT_EQ(executed->piece_id(), 3u);
  EXPECT_EQ(executed->compute_time_us(), 80000u);  // 4 samples at 50/s
  ASSERT_EQ(executed->outputs_size(), 1);

  absl::StatusOr<worker::StatusResponse> status = Status(fake);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->boot_id(), fake.boot_id());
  EXPECT_EQ(status->partitions_size(), 1);
  EXPECT_EQ(status->samples_per_second(), 50);

  absl::StatusOr<worker::UnloadResponse> unloaded = SyncCall<worker::UnloadResponse>(
      [&](auto done) { fake.Unload(id, absl::Now() + absl::Seconds(5), std::move(done)); });
  ASSERT_TRUE(unloaded.ok());
  EXPECT_TRUE(unloaded->was_loaded());
  EXPECT_FALSE(fake.HasPartition(id));
  EXPECT_EQ(fake.CountCalls(FakeWorkerClient::Method::kExecute), 2);
  EXPECT_EQ(fake.calls().front().method, FakeWorkerClient::Method::kExecute);
}

TEST(FakeWorkerClientTest, WrongBytesAreDataLoss) {
  FakeWorkerClient fake({});
  worker::PartitionHeader header;
  header.set_partition_id(Sha256Hex("model"));
  header.set_total_bytes(5);
  auto data = std::make_shared<const std::string>("mode!");
  absl::StatusOr<worker::LoadPartitionResponse> loaded = SyncCall<worker::LoadPartitionResponse>(
      [&](auto done) { fake.LoadPartition(header, data, absl::Now() + absl::Seconds(5), std::move(done)); });
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
}

TEST(FakeWorkerClientTest, RestartChangesBootIdAndEmptiesTheCache) {
  FakeWorkerClient fake({});
  ASSERT_TRUE(Load(fake, "model").ok());
  const std::string boot = fake.boot_id();
  fake.Restart();
  EXPECT_NE(fake.boot_id(), boot);
  EXPECT_EQ(Execute(fake, Request(Sha256Hex("model"), 1)).status().code(), absl::StatusCode::kNotFound);
}

TEST(FakeWorkerClientTest, ProgrammedFailuresDelaysAndDeadlines) {
  FakeWorkerClient fake({});
  fake.FailNext(FakeWorkerClient::Method::kStatus, absl::InternalError("boom"), 2);
  EXPECT_EQ(Status(fake).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Status(fake).status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(Status(fake).ok());

  fake.SetUnavailable(true);
  EXPECT_EQ(Status(fake).status().code(), absl::StatusCode::kUnavailable);
  fake.SetUnavailable(false);

  fake.SetDelay(absl::Milliseconds(30));
  absl::Time start = absl::Now();
  EXPECT_TRUE(Status(fake).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(30));
  // A delay past the deadline ends at the deadline.
  start = absl::Now();
  EXPECT_EQ(Status(fake, absl::Milliseconds(10)).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  fake.SetDelay(absl::ZeroDuration());

  fake.SetHung(true);
  start = absl::Now();
  EXPECT_EQ(Status(fake, absl::Milliseconds(50)).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
}

TEST(FakeWorkerClientTest, DestructionCancelsPendingCalls) {
  auto fake = std::make_unique<FakeWorkerClient>(FakeWorkerClient::Options{});
  fake->SetHung(true);
  absl::Notification done;
  absl::Status status;
  fake->Status(absl::InfiniteFuture(), [&](absl::StatusOr<worker::StatusResponse> result) {
    status = result.status();
    done.Notify();
  });
  fake.reset();
  ASSERT_TRUE(done.HasBeenNotified());
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
}

// y = Relu(x @ W), x [batch, 4], W [4, 3].
std::string MatMulReluModel() {
  engine::testing::ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 4})
      .Initializer("W", Tensor::FromVector<float>({4, 3}, {1, -1, 0, 2, 0, 1, -3, 1, 0, 0.5, 2, -1}))
      .Node("MatMul", {"x", "W"}, {"h"})
      .Node("Relu", {"h"}, {"y"})
      .Output("y", {-1, 3});
  return b.Bytes();
}

TEST(FakeWorkerClientTest, EngineModeRunsThePartition) {
  FakeWorkerClient fake({.engine = true});
  const std::string model = MatMulReluModel();
  const std::string id = Sha256Hex(model);
  EXPECT_EQ(Execute(fake, Request(id, 2, 4)).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<worker::LoadPartitionResponse> loaded = Load(fake, model);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(fake.HasPartition(id));

  // x = [[-2 -1 0 1], [2 3 4 5]].
  absl::StatusOr<worker::ExecuteResponse> executed = Execute(fake, Request(id, 2, 4));
  ASSERT_TRUE(executed.ok()) << executed.status();
  ASSERT_EQ(executed->outputs_size(), 1);
  absl::StatusOr<Tensor> y = TensorFromWire(executed->outputs(0));
  ASSERT_TRUE(y.ok()) << y.status();
  // Row 0: [-2-2+0+0.5, 2+0+0+2, 0-1+0-1] = [-3.5, 4, -2] -> [0, 4, 0].
  // Row 1: [2+6-12+2.5, -2+0+4+10, 0+3+0-5] = [-1.5, 12, -2] -> [0, 12, 0].
  const std::vector<float> expected = {0, 4, 0, 0, 12, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y->data<float>()[i], expected[i]) << i;

  absl::StatusOr<worker::StatusResponse> status = Status(fake);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->boot_id(), fake.boot_id());
  fake.Restart();
  EXPECT_NE(fake.boot_id(), status->boot_id());
  EXPECT_FALSE(fake.HasPartition(id));
  EXPECT_EQ(Execute(fake, Request(id, 2, 4)).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::coordinator

namespace tessera::coordinator {
namespace {

absl::StatusOr<worker::ProfileResponse> Profile(FakeWorkerClient& fake, const std::string& id, uint32_t runs = 1) {
  worker::ProfileRequest request;
  request.set_partition_id(id);
  request.set_runs(runs);
  return SyncCall<worker::ProfileResponse>(
      [&](auto done) { fake.Profile(request, absl::Now() + absl::Seconds(5), std::move(done)); });
}

TEST(FakeWorkerClientTest, ScriptedProfileAndLoadTime) {
  FakeWorkerClient fake({});
  engine::testing::ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 2}).Node("Relu", {"x"}, {"h"}, {}, "first");
  b.Node("Neg", {"h"}, {"y"}, {}, "second").Output("y", {-1, 2});
  const std::string bytes = b.Bytes();
  EXPECT_EQ(Profile(fake, Sha256Hex(bytes)).status().code(), absl::StatusCode::kNotFound);

  fake.SetLoadTime(absl::Milliseconds(7));
  absl::StatusOr<worker::LoadPartitionResponse> loaded = Load(fake, bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->load_time_us(), 7000u);

  fake.SetProfileTimes({{"second", 4.0}}, 0.5);
  absl::StatusOr<worker::ProfileResponse> profile = Profile(fake, Sha256Hex(bytes));
  ASSERT_TRUE(profile.ok()) << profile.status();
  ASSERT_EQ(profile->nodes_size(), 2);
  EXPECT_EQ(profile->nodes(0).name(), "first");
  EXPECT_EQ(profile->nodes(0).op_type(), "Relu");
  EXPECT_DOUBLE_EQ(profile->nodes(0).ms(), 0.5);
  EXPECT_EQ(profile->nodes(1).name(), "second");
  EXPECT_DOUBLE_EQ(profile->nodes(1).ms(), 4.0);
  EXPECT_DOUBLE_EQ(profile->total_ms(), 4.5);
  EXPECT_EQ(Profile(fake, Sha256Hex(bytes), 21).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fake.CountCalls(FakeWorkerClient::Method::kProfile), 3);
}

}  // namespace
}  // namespace tessera::coordinator
