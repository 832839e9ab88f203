// MeteredWorkerClient: the coordinator's traffic counters around a worker
// client (a scripted FakeWorkerClient here).
#include "coordinator/scheduler/metered_worker_client.h"

#include <memory>
#include <string>
#include <utility>

#include "common/sha256.h"
#include "coordinator/pool/fake_worker_client.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "tests/coordinator/pool/sync_call.h"

namespace tessera::coordinator {
namespace {

using testing::SyncCall;

struct Counters {
  prometheus::Counter retries;
  prometheus::Counter pushed;
  prometheus::Counter sent;
  prometheus::Counter received;
  prometheus::Counter partition_bytes;
  ClusterMetrics metrics() {
    return {.retries = &retries,
            .partitions_pushed = &pushed,
            .execute_bytes_sent = &sent,
            .execute_bytes_received = &received,
            .partition_bytes_sent = &partition_bytes};
  }
};

// A partition's bytes, from a name and a size, and its header (the id is
// the bytes' SHA-256, which the fake checks).
std::shared_ptr<const std::string> Bytes(const std::string& name, size_t size) {
  std::string bytes = name;
  bytes.resize(size, 'm');
  return std::make_shared<const std::string>(std::move(bytes));
}

worker::PartitionHeader Header(const std::string& bytes) {
  worker::PartitionHeader header;
  header.set_partition_id(Sha256Hex(bytes));
  header.set_total_bytes(bytes.size());
  return header;
}

std::shared_ptr<worker::ExecuteRequest> Request(const std::string& partition, size_t content_bytes) {
  auto request = std::make_shared<worker::ExecuteRequest>();
  request->set_partition_id(partition);
  worker::Tensor* x = request->add_inputs();
  x->set_name("x");
  x->set_datatype("UINT8");
  x->add_shape(static_cast<int64_t>(content_bytes));
  x->set_content(std::string(content_bytes, '\x07'));
  return request;
}

class MeteredWorkerClientTest : public ::testing::Test {
 protected:
  MeteredWorkerClientTest() {
    auto fake = std::make_unique<FakeWorkerClient>(FakeWorkerClient::Options{});
    fake_ = fake.get();
    client_ = std::make_unique<MeteredWorkerClient>(std::move(fake), counters_.metrics());
  }

  absl::StatusOr<worker::LoadPartitionResponse> Load(const std::string& name, size_t size) {
    std::shared_ptr<const std::string> onnx = Bytes(name, size);
    return SyncCall<worker::LoadPartitionResponse>(
        [&](auto done) { client_->LoadPartition(Header(*onnx), onnx, absl::InfiniteFuture(), std::move(done)); });
  }

  static std::string Id(const std::string& name, size_t size) { return Sha256Hex(*Bytes(name, size)); }

  absl::StatusOr<worker::ExecuteResponse> Execute(std::shared_ptr<worker::ExecuteRequest> request) {
    return SyncCall<worker::ExecuteResponse>(
        [&](auto done) { client_->Execute(std::move(request), absl::InfiniteFuture(), std::move(done)); });
  }

  Counters counters_;
  FakeWorkerClient* fake_ = nullptr;
  std::unique_ptr<MeteredWorkerClient> client_;
};

TEST_F(MeteredWorkerClientTest, CountsCompletedPushesOnceWithTheirBytes) {
  ASSERT_TRUE(Load("p1", 3000).ok());
  EXPECT_EQ(counters_.pushed.Value(), 1);
  EXPECT_EQ(counters_.partition_bytes.Value(), 3000);
  // Pushing what the worker already holds moves no partition bytes.
  absl::StatusOr<worker::LoadPartitionResponse> again = Load("p1", 3000);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_loaded());
  EXPECT_EQ(counters_.pushed.Value(), 1);
  EXPECT_EQ(counters_.partition_bytes.Value(), 3000);
  // A failed push counts nothing.
  fake_->FailNext(FakeWorkerClient::Method::kLoadPartition, absl::UnavailableError("gone"));
  EXPECT_FALSE(Load("p2", 500).ok());
  EXPECT_EQ(counters_.pushed.Value(), 1);
  EXPECT_EQ(counters_.partition_bytes.Value(), 3000);
}

TEST_F(MeteredWorkerClientTest, CountsSerializedExecuteBytesBothWays) {
  ASSERT_TRUE(Load("p1", 100).ok());
  auto request = Request(Id("p1", 100), 1000);
  const double request_bytes = static_cast<double>(request->ByteSizeLong());
  absl::StatusOr<worker::ExecuteResponse> response = Execute(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(counters_.sent.Value(), request_bytes);
  EXPECT_EQ(counters_.received.Value(), static_cast<double>(response->ByteSizeLong()));
  EXPECT_GT(counters_.received.Value(), 1000);  // the fake echoes the input
  // A failed Execute still sent its request, and received nothing.
  absl::StatusOr<worker::ExecuteResponse> missing = Execute(Request("unknown", 10));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_GT(counters_.sent.Value(), request_bytes);
  EXPECT_EQ(counters_.received.Value(), static_cast<double>(response->ByteSizeLong()));
}

TEST_F(MeteredWorkerClientTest, OtherCallsPassThroughUncounted) {
  EXPECT_EQ(client_->address(), "fake:1");
  absl::StatusOr<worker::StatusResponse> status =
      SyncCall<worker::StatusResponse>([&](auto done) { client_->Status(absl::InfiniteFuture(), std::move(done)); });
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(Load("p1", 10).ok());
  absl::StatusOr<worker::UnloadResponse> unloaded = SyncCall<worker::UnloadResponse>(
      [&](auto done) { client_->Unload(Id("p1", 10), absl::InfiniteFuture(), std::move(done)); });
  ASSERT_TRUE(unloaded.ok());
  EXPECT_TRUE(unloaded->was_loaded());
  EXPECT_EQ(counters_.sent.Value(), 0);
  EXPECT_EQ(counters_.received.Value(), 0);
  EXPECT_EQ(counters_.retries.Value(), 0);
}

TEST(MeteredWorkerClientNullMetricsTest, NullCountersRecordNothingAndCallsStillWork) {
  MeteredWorkerClient client(std::make_unique<FakeWorkerClient>(FakeWorkerClient::Options{}), ClusterMetrics{});
  std::shared_ptr<const std::string> onnx = Bytes("p", 10);
  ASSERT_TRUE(SyncCall<worker::LoadPartitionResponse>([&](auto done) {
                client.LoadPartition(Header(*onnx), onnx, absl::InfiniteFuture(), std::move(done));
              }).ok());
  EXPECT_TRUE(SyncCall<worker::ExecuteResponse>([&](auto done) {
                client.Execute(Request(Sha256Hex(*onnx), 4), absl::InfiniteFuture(), std::move(done));
              }).ok());
}

TEST_F(MeteredWorkerClientTest, ExecuteCancellablePassesTheCancellerOn) {
  ASSERT_TRUE(Load("m", 64).ok());
  fake_->SetHung(true);
  auto canceller = std::make_shared<CallCanceller>();
  absl::StatusOr<worker::ExecuteResponse> answer = SyncCall<worker::ExecuteResponse>([&](auto done) {
    client_->ExecuteCancellable(Request(Id("m", 64), 10), absl::InfiniteFuture(), canceller, std::move(done));
    canceller->Cancel();
  });
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kCancelled) << answer.status();
  EXPECT_EQ(fake_->CountCancelled(), 1);
  EXPECT_EQ(counters_.received.Value(), 0);
}

}  // namespace
}  // namespace tessera::coordinator
