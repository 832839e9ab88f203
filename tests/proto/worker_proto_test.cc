// proto/worker.proto: the shape of the Worker service the coordinator and
// workers are built against (streaming flags, the chunked load message).
#include <string>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "proto/worker.grpc.pb.h"
#include "proto/worker.pb.h"

namespace tessera {
namespace {

TEST(WorkerProtoTest, ServiceMethodsAndStreaming) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("tessera.worker.Worker");
  ASSERT_NE(service, nullptr);
  EXPECT_STREQ(worker::Worker::service_full_name(), "tessera.worker.Worker");
  ASSERT_EQ(service->method_count(), 5);
  EXPECT_EQ(service->method(4)->name(), "Profile");  // added last: the other methods keep their indices

  const auto* load = service->FindMethodByName("LoadPartition");
  ASSERT_NE(load, nullptr);
  EXPECT_TRUE(load->client_streaming());
  EXPECT_FALSE(load->server_streaming());
  for (const char* name : {"Execute", "Status", "Unload", "Profile"}) {
    const auto* method = service->FindMethodByName(name);
    ASSERT_NE(method, nullptr) << name;
    EXPECT_FALSE(method->client_streaming()) << name;
    EXPECT_FALSE(method->server_streaming()) << name;
  }
}

TEST(WorkerProtoTest, LoadRequestIsHeaderOrChunk) {
  worker::LoadPartitionRequest request;
  request.mutable_header()->set_partition_id(std::string(64, 'a'));
  request.mutable_header()->set_total_bytes(3);
  EXPECT_EQ(request.part_case(), worker::LoadPartitionRequest::kHeader);
  request.set_chunk("abc");
  EXPECT_EQ(request.part_case(), worker::LoadPartitionRequest::kChunk);
  EXPECT_FALSE(request.has_header());
}

// A chunk message stays a few bytes over its payload, so 1 MiB chunks are
// far below gRPC's default 4 MiB receive limit.
TEST(WorkerProtoTest, ChunkOverheadIsSmall) {
  worker::LoadPartitionRequest request;
  request.set_chunk(std::string(1 << 20, '\x5a'));
  EXPECT_LE(request.ByteSizeLong(), (1u << 20) + 8);
}

TEST(WorkerProtoTest, TensorRoundTrip) {
  worker::ExecuteRequest request;
  request.set_partition_id("p");
  request.set_request_id("r");
  request.set_piece_id(7);
  worker::Tensor* t = request.add_inputs();
  t->set_name("x");
  t->set_datatype("FP32");
  t->add_shape(2);
  t->add_shape(1);
  t->set_content(std::string(8, '\0'));
  // std::string, not a literal: GCC 12 reports a false -Wrestrict in the
  // inlined add_output_names(const char*) (GCC bug 105329).
  request.add_output_names(std::string("y"));

  worker::ExecuteRequest decoded;
  ASSERT_TRUE(decoded.ParseFromString(request.SerializeAsString()));
  EXPECT_EQ(decoded.piece_id(), 7u);
  ASSERT_EQ(decoded.inputs_size(), 1);
  EXPECT_EQ(decoded.inputs(0).datatype(), "FP32");
  EXPECT_EQ(decoded.inputs(0).shape_size(), 2);
  EXPECT_EQ(decoded.inputs(0).content().size(), 8u);
  EXPECT_EQ(decoded.output_names(0), "y");
}

}  // namespace
}  // namespace tessera
