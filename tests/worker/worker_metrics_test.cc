// The worker's metrics as the service records them, read from the registry
// (no HTTP): Executes by outcome and reason, times, in flight, bytes in and
// out, partitions and cache bytes, evictions.
#include "worker/worker_metrics.h"

#include <memory>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "common/wire_tensor.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/common/metrics_test_util.h"
#include "tests/worker/engine/model_builder.h"
#include "worker/partition_cache.h"
#include "worker/worker_service.h"

namespace tessera::worker {
namespace {

using tessera::testing::HistogramCount;
using tessera::testing::MetricValue;

// y = Relu(x @ W), x [batch, 4], W [4, 3].
std::string MatMulReluModel() {
  engine::testing::ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 4})
      .Initializer("W", tessera::Tensor::FromVector<float>({4, 3}, {1, -1, 0, 2, 0, 1, -3, 1, 0, 0.5, 2, -1}))
      .Node("MatMul", {"x", "W"}, {"h"})
      .Node("Relu", {"h"}, {"y"})
      .Output("y", {-1, 3});
  return b.Bytes();
}

ExecuteRequest Request(const std::string& id, const std::vector<float>& x) {
  ExecuteRequest request;
  request.set_partition_id(id);
  TensorToWire("x", tessera::Tensor::FromVector<float>({static_cast<int64_t>(x.size() / 4), 4}, x),
               request.add_inputs());
  return request;
}

class WorkerMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_ = std::make_unique<WorkerMetrics>(&registry_);
    core_ = std::make_unique<WorkerCore>(WorkerCore::Options{.metrics = metrics_.get()});
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
  void TearDown() override { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5)); }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  grpc::Status Upload(const std::string& bytes) {
    LoadPartitionResponse response;
    auto context = Context();
    auto writer = stub_->LoadPartition(context.get(), &response);
    LoadPartitionRequest request;
    request.mutable_header()->set_partition_id(Sha256Hex(bytes));
    request.mutable_header()->set_total_bytes(bytes.size());
    writer->Write(request);
    request.set_chunk(bytes);
    writer->Write(request);
    writer->WritesDone();
    return writer->Finish();
  }

  grpc::Status Execute(const ExecuteRequest& request) {
    ExecuteResponse response;
    auto context = Context();
    return stub_->Execute(context.get(), request, &response);
  }

  prometheus::Registry registry_;
  std::unique_ptr<WorkerMetrics> metrics_;
  std::unique_ptr<WorkerCore> core_;
  std::unique_ptr<WorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Worker::Stub> stub_;
};

TEST_F(WorkerMetricsTest, ExecutesAreCountedByOutcomeAndReason) {
  EXPECT_EQ(MetricValue(registry_, "tessera_worker_executes_total", {{"outcome", "success"}}), 0)
      << "the success series exists from the start";
  const std::string model = MatMulReluModel();
  ASSERT_TRUE(Upload(model).ok());
  const std::string id = Sha256Hex(model);
  ASSERT_TRUE(Execute(Request(id, {1, 2, 3, 4})).ok());
  ASSERT_TRUE(Execute(Request(id, {1, 2, 3, 4, 5, 6, 7, 8})).ok());
  EXPECT_EQ(Execute(Request(Sha256Hex("nothing"), {1, 2, 3, 4})).error_code(), grpc::StatusCode::NOT_FOUND);
  ExecuteRequest bad_output = Request(id, {1, 2, 3, 4});
  bad_output.add_output_names("z");
  EXPECT_EQ(Execute(bad_output).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_EQ(MetricValue(registry_, "tessera_worker_executes_total", {{"outcome", "success"}, {"reason", "OK"}}), 2);
  EXPECT_EQ(
      MetricValue(registry_, "tessera_worker_executes_total", {{"outcome", "failure"}, {"reason", "NOT_FOUND"}}), 1);
  EXPECT_EQ(MetricValue(registry_, "tessera_worker_executes_total",
                        {{"outcome", "failure"}, {"reason", "INVALID_ARGUMENT"}}),
            1);
  EXPECT_EQ(MetricValue(registry_, "tessera_worker_executes_total", {{"reason", "INTERNAL"}}), -1)
      << "no series for codes never seen";
  // Three Executes ran (NOT_FOUND never reached the engine).
  EXPECT_EQ(HistogramCount(registry_, "tessera_worker_execute_duration_seconds"), 3);
  EXPECT_EQ(HistogramCount(registry_, "tessera_worker_execute_queue_duration_seconds"), 3);
  EXPECT_EQ(MetricValue(registry_, "tessera_worker_executes_in_flight"), 0);
  EXPECT_GT(MetricValue(registry_, "tessera_worker_received_bytes_total", {{"rpc", "execute"}}), 4 * 4 * 4);
  EXPECT_GT(MetricValue(registry_, "tessera_worker_sent_bytes_total", {{"rpc", "execute"}}), 3 * 4 * 3);
  EXPECT_GE(MetricValue(registry_, "tessera_worker_received_bytes_total", {{"rpc", "load_partition"}}),
            static_cast<double>(model.size()));
  EXPECT_EQ(MetricValue(registry_, "tessera_worker_partitions_loaded"), 1);
  EXPECT_EQ(MetricValue(registry_, "tessera_worker_partition_cache_bytes"), static_cast<double>(model.size()));
}

std::shared_ptr<const LoadedPartition> Partition(const std::string& id, uint64_t bytes) {
  PartitionHeader header;
  header.set_partition_id(id);
  return std::make_shared<const LoadedPartition>(header, nullptr, bytes, absl::Now());
}

TEST(PartitionCacheMetricsTest, GaugesFollowTheCacheAndEvictionsCount) {
  prometheus::Registry registry;
  WorkerMetrics metrics(&registry);
  PartitionCache cache(100, &metrics);
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partition_cache_budget_bytes"), 100);
  ASSERT_TRUE(cache.Insert(Partition("a", 40)).ok());
  ASSERT_TRUE(cache.Insert(Partition("b", 40)).ok());
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partitions_loaded"), 2);
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partition_evictions_total"), 0);
  ASSERT_TRUE(cache.Insert(Partition("c", 40)).ok());  // evicts a
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partition_evictions_total"), 1);
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partitions_loaded"), 2);
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partition_cache_bytes"), 80);
  ASSERT_TRUE(cache.Insert(Partition("c", 40)).ok());  // replaces, evicts nothing
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partition_evictions_total"), 1);
  EXPECT_EQ(cache.Remove("b"), 40u);
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partitions_loaded"), 1);
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partition_cache_bytes"), 40);
  EXPECT_EQ(MetricValue(registry, "tessera_worker_partition_evictions_total"), 1) << "removal is not eviction";
}

TEST(WorkerCoreMetricsTest, ACoreWithoutMetricsStillRuns) {
  WorkerCore core({});
  EXPECT_EQ(MetricValue(core.metrics().registry(), "tessera_worker_executes_in_flight"), 0);
}

}  // namespace
}  // namespace tessera::worker
