// The Profile RPC over a real gRPC server on loopback: per-node traced times
// of a loaded partition (every node present, by name, with the Delay nodes'
// declared sleep visible in their times), NOT_FOUND for a partition that is
// not loaded, INVALID_ARGUMENT for bad run counts and shapes.
#include <memory>
#include <string>

#include "common/sha256.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "tests/worker/engine/model_builder.h"
#include "worker/worker_service.h"

namespace tessera::worker {
namespace {

using engine::testing::Attr;
using engine::testing::ModelBuilder;

// x [N, 8] -> Delay(2 ms per sample) "slow" -> Add(1) "add" -> Relu "relu" -> y.
std::string DelayModel() {
  ModelBuilder b;
  auto* imp = b.proto().add_opset_import();
  imp->set_domain("ai.tessera.sim");
  imp->set_version(1);
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 8});
  b.Initializer("one", tessera::Tensor::FromVector<float>({1}, {1.0f}));
  b.Node("Delay", {"x"}, {"d"}, {Attr("microseconds_per_sample", int64_t{2000})}, "slow", "ai.tessera.sim");
  b.Node("Add", {"d", "one"}, {"a"}, {}, "add");
  b.Node("Relu", {"a"}, {"y"}, {}, "relu");
  b.Output("y", {-1, 8});
  return b.Bytes();
}

class WorkerProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkerCore::Options options;
    options.intra_op_threads = 1;
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
  void TearDown() override { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5)); }

  std::string Load(const std::string& bytes) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    LoadPartitionResponse response;
    auto writer = stub_->LoadPartition(&context, &response);
    LoadPartitionRequest request;
    request.mutable_header()->set_partition_id(Sha256Hex(bytes));
    request.mutable_header()->set_total_bytes(bytes.size());
    EXPECT_TRUE(writer->Write(request));
    request.set_chunk(bytes);
    EXPECT_TRUE(writer->Write(request));
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return Sha256Hex(bytes);
  }

  grpc::Status Profile(const ProfileRequest& request, ProfileResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub_->Profile(&context, request, response);
  }

  std::unique_ptr<WorkerCore> core_;
  std::unique_ptr<WorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Worker::Stub> stub_;
};

TEST_F(WorkerProfileTest, EveryNodeIsTimedByNameAndTheDelayShows) {
  const std::string id = Load(DelayModel());
  ProfileRequest request;
  request.set_partition_id(id);
  request.set_runs(2);
  ProfileInputShape* shape = request.add_inputs();
  shape->set_name("x");
  shape->add_shape(3);
  shape->add_shape(8);
  ProfileResponse response;
  grpc::Status status = Profile(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.partition_id(), id);
  ASSERT_EQ(response.nodes_size(), 3);
  EXPECT_EQ(response.nodes(0).name(), "slow");
  EXPECT_EQ(response.nodes(0).op_type(), "ai.tessera.sim.Delay");
  EXPECT_EQ(response.nodes(1).name(), "add");
  EXPECT_EQ(response.nodes(2).name(), "relu");
  // 3 samples x 2 ms: the sleep is a lower bound on the fastest run.
  EXPECT_GE(response.nodes(0).ms(), 6.0);
  EXPECT_LT(response.nodes(1).ms(), response.nodes(0).ms());
  double sum = 0;
  for (const NodeTime& node : response.nodes()) {
    EXPECT_GE(node.ms(), 0.0);
    sum += node.ms();
  }
  EXPECT_DOUBLE_EQ(response.total_ms(), sum);
  EXPECT_GE(response.profile_time_us(), 12000u);  // two runs of at least 6 ms
  // Profiles are not Executes.
  EXPECT_EQ(core_->Status().executes_total(), 0u);
}

TEST_F(WorkerProfileTest, DynamicDimensionsBindToBatchWhenNoShapeIsGiven) {
  const std::string id = Load(DelayModel());
  ProfileRequest request;
  request.set_partition_id(id);
  request.set_runs(1);
  request.set_batch(5);
  ProfileResponse response;
  ASSERT_TRUE(Profile(request, &response).ok());
  ASSERT_EQ(response.nodes_size(), 3);
  EXPECT_GE(response.nodes(0).ms(), 10.0);  // 5 samples x 2 ms
}

TEST_F(WorkerProfileTest, PartitionNotLoadedIsNotFound) {
  ProfileRequest request;
  request.set_partition_id(std::string(64, 'a'));
  request.set_runs(1);
  ProfileResponse response;
  grpc::Status status = Profile(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("not loaded"), std::string::npos) << status.error_message();
}

TEST_F(WorkerProfileTest, BadRunsAndShapesAreInvalidArgument) {
  const std::string id = Load(DelayModel());
  ProfileResponse response;
  for (uint32_t runs : {0u, 21u}) {
    ProfileRequest request;
    request.set_partition_id(id);
    request.set_runs(runs);
    grpc::Status status = Profile(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << runs;
    EXPECT_NE(status.error_message().find("runs"), std::string::npos) << status.error_message();
  }
  struct Case {
    std::string name;
    std::vector<int64_t> shape;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{{"x", {2}, "rank"},
                                         {"x", {2, 9}, "dimension 1"},
                                         {"x", {-2, 8}, "dimension 0"},
                                         {"nope", {2, 8}, "no input 'nope'"},
                                         {"x", {int64_t{1} << 40, 8}, "'x'"}}) {
    ProfileRequest request;
    request.set_partition_id(id);
    request.set_runs(1);
    ProfileInputShape* shape = request.add_inputs();
    shape->set_name(c.name);
    for (int64_t d : c.shape) shape->add_shape(d);
    grpc::Status status = Profile(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_NE(status.error_message().find(c.message), std::string::npos) << status.error_message();
  }
}

}  // namespace
}  // namespace tessera::worker
