// Wire compatibility of proto/inference.proto with the KServe v2 / Triton
// GRPCInferenceService: names, field numbers, field types and streaming
// flags that existing clients depend on, read back from the generated
// descriptors. The expected values were checked against Triton's
// protobuf/grpc_service.proto (triton-inference-server/common).
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"
#include "proto/inference.pb.h"

namespace tessera {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

struct FieldSpec {
  const char* name;
  int number;
  FieldDescriptor::Type type;
  bool repeated;
  // Full name of the message type for TYPE_MESSAGE fields (maps: the entry).
  const char* message_type = nullptr;
};

constexpr bool kRepeated = true;
constexpr bool kSingle = false;

const Descriptor* Message(const std::string& full_name) {
  const Descriptor* d = DescriptorPool::generated_pool()->FindMessageTypeByName(full_name);
  EXPECT_NE(d, nullptr) << full_name;
  return d;
}

// Asserts that `message` has exactly the fields in `specs`, with their
// numbers, types and labels.
void ExpectFields(const std::string& message, const std::vector<FieldSpec>& specs) {
  SCOPED_TRACE(message);
  const Descriptor* d = Message(message);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->field_count(), static_cast<int>(specs.size()));
  for (const FieldSpec& spec : specs) {
    SCOPED_TRACE(spec.name);
    const FieldDescriptor* f = d->FindFieldByName(spec.name);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->number(), spec.number);
    EXPECT_EQ(f->type(), spec.type) << f->type_name();
    EXPECT_EQ(f->is_repeated(), spec.repeated);
    if (spec.message_type != nullptr) {
      ASSERT_NE(f->message_type(), nullptr);
      EXPECT_EQ(f->message_type()->full_name(), spec.message_type);
    }
  }
}

constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
constexpr auto kInt64 = FieldDescriptor::TYPE_INT64;
constexpr auto kUint32 = FieldDescriptor::TYPE_UINT32;
constexpr auto kUint64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kFloat = FieldDescriptor::TYPE_FLOAT;
constexpr auto kDouble = FieldDescriptor::TYPE_DOUBLE;
constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;

TEST(InferenceProtoTest, ServiceHasExactlyTheTwelveKServeRpcs) {
  const ServiceDescriptor* service =
      DescriptorPool::generated_pool()->FindServiceByName("inference.GRPCInferenceService");
  ASSERT_NE(service, nullptr);
  EXPECT_STREQ(inference::GRPCInferenceService::service_full_name(), "inference.GRPCInferenceService");
  struct Rpc {
    const char* name;
    const char* input;
    const char* output;
    bool client_streaming;
    bool server_streaming;
  };
  const std::vector<Rpc> expected = {
      {"ServerLive", "ServerLiveRequest", "ServerLiveResponse", false, false},
      {"ServerReady", "ServerReadyRequest", "ServerReadyResponse", false, false},
      {"ModelReady", "ModelReadyRequest", "ModelReadyResponse", false, false},
      {"ServerMetadata", "ServerMetadataRequest", "ServerMetadataResponse", false, false},
      {"ModelMetadata", "ModelMetadataRequest", "ModelMetadataResponse", false, false},
      {"ModelInfer", "ModelInferRequest", "ModelInferResponse", false, false},
      {"ModelStreamInfer", "ModelInferRequest", "ModelStreamInferResponse", true, true},
      {"ModelConfig", "ModelConfigRequest", "ModelConfigResponse", false, false},
      {"ModelStatistics", "ModelStatisticsRequest", "ModelStatisticsResponse", false, false},
      {"RepositoryIndex", "RepositoryIndexRequest", "RepositoryIndexResponse", false, false},
      {"RepositoryModelLoad", "RepositoryModelLoadRequest", "RepositoryModelLoadResponse", false, false},
      {"RepositoryModelUnload", "RepositoryModelUnloadRequest", "RepositoryModelUnloadResponse", false, false},
  };
  ASSERT_EQ(service->method_count(), static_cast<int>(expected.size()));
  for (const Rpc& rpc : expected) {
    SCOPED_TRACE(rpc.name);
    const MethodDescriptor* m = service->FindMethodByName(rpc.name);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->input_type()->full_name(), std::string("inference.") + rpc.input);
    EXPECT_EQ(m->output_type()->full_name(), std::string("inference.") + rpc.output);
    EXPECT_EQ(m->client_streaming(), rpc.client_streaming);
    EXPECT_EQ(m->server_streaming(), rpc.server_streaming);
  }
}

TEST(InferenceProtoTest, HealthAndMetadataMessages) {
  ExpectFields("inference.ServerLiveRequest", {});
  ExpectFields("inference.ServerLiveResponse", {{"live", 1, kBool, kSingle}});
  ExpectFields("inference.ServerReadyResponse", {{"ready", 1, kBool, kSingle}});
  ExpectFields("inference.ModelReadyRequest", {{"name", 1, kString, kSingle}, {"version", 2, kString, kSingle}});
  ExpectFields("inference.ModelReadyResponse", {{"ready", 1, kBool, kSingle}});
  ExpectFields("inference.ServerMetadataResponse", {{"name", 1, kString, kSingle},
                                                    {"version", 2, kString, kSingle},
                                                    {"extensions", 3, kString, kRepeated}});
  ExpectFields("inference.ModelMetadataRequest", {{"name", 1, kString, kSingle}, {"version", 2, kString, kSingle}});
  ExpectFields("inference.ModelMetadataResponse",
               {{"name", 1, kString, kSingle},
                {"versions", 2, kString, kRepeated},
                {"platform", 3, kString, kSingle},
                {"inputs", 4, kMessage, kRepeated, "inference.ModelMetadataResponse.TensorMetadata"},
                {"outputs", 5, kMessage, kRepeated, "inference.ModelMetadataResponse.TensorMetadata"}});
  ExpectFields("inference.ModelMetadataResponse.TensorMetadata", {{"name", 1, kString, kSingle},
                                                                  {"datatype", 2, kString, kSingle},
                                                                  {"shape", 3, kInt64, kRepeated}});
}

TEST(InferenceProtoTest, InferParameterAndTensorContents) {
  ExpectFields("inference.InferParameter", {{"bool_param", 1, kBool, kSingle},
                                            {"int64_param", 2, kInt64, kSingle},
                                            {"string_param", 3, kString, kSingle},
                                            {"double_param", 4, kDouble, kSingle},
                                            {"uint64_param", 5, kUint64, kSingle}});
  const Descriptor* parameter = Message("inference.InferParameter");
  ASSERT_EQ(parameter->oneof_decl_count(), 1);
  EXPECT_EQ(parameter->oneof_decl(0)->name(), "parameter_choice");
  EXPECT_EQ(parameter->oneof_decl(0)->field_count(), 5);

  ExpectFields("inference.InferTensorContents", {{"bool_contents", 1, kBool, kRepeated},
                                                 {"int_contents", 2, kInt32, kRepeated},
                                                 {"int64_contents", 3, kInt64, kRepeated},
                                                 {"uint_contents", 4, kUint32, kRepeated},
                                                 {"uint64_contents", 5, kUint64, kRepeated},
                                                 {"fp32_contents", 6, kFloat, kRepeated},
                                                 {"fp64_contents", 7, kDouble, kRepeated},
                                                 {"bytes_contents", 8, kBytes, kRepeated}});
}

TEST(InferenceProtoTest, InferRequestAndResponse) {
  ExpectFields(
      "inference.ModelInferRequest",
      {{"model_name", 1, kString, kSingle},
       {"model_version", 2, kString, kSingle},
       {"id", 3, kString, kSingle},
       {"parameters", 4, kMessage, kRepeated, "inference.ModelInferRequest.ParametersEntry"},
       {"inputs", 5, kMessage, kRepeated, "inference.ModelInferRequest.InferInputTensor"},
       {"outputs", 6, kMessage, kRepeated, "inference.ModelInferRequest.InferRequestedOutputTensor"},
       {"raw_input_contents", 7, kBytes, kRepeated}});
  EXPECT_TRUE(Message("inference.ModelInferRequest")->FindFieldByName("parameters")->is_map());
  ExpectFields("inference.ModelInferRequest.InferInputTensor",
               {{"name", 1, kString, kSingle},
                {"datatype", 2, kString, kSingle},
                {"shape", 3, kInt64, kRepeated},
                {"parameters", 4, kMessage, kRepeated},
                {"contents", 5, kMessage, kSingle, "inference.InferTensorContents"}});
  ExpectFields("inference.ModelInferRequest.InferRequestedOutputTensor",
               {{"name", 1, kString, kSingle}, {"parameters", 2, kMessage, kRepeated}});

  ExpectFields("inference.ModelInferResponse",
               {{"model_name", 1, kString, kSingle},
                {"model_version", 2, kString, kSingle},
                {"id", 3, kString, kSingle},
                {"parameters", 4, kMessage, kRepeated},
                {"outputs", 5, kMessage, kRepeated, "inference.ModelInferResponse.InferOutputTensor"},
                {"raw_output_contents", 6, kBytes, kRepeated}});
  ExpectFields("inference.ModelInferResponse.InferOutputTensor",
               {{"name", 1, kString, kSingle},
                {"datatype", 2, kString, kSingle},
                {"shape", 3, kInt64, kRepeated},
                {"parameters", 4, kMessage, kRepeated},
                {"contents", 5, kMessage, kSingle, "inference.InferTensorContents"}});
  ExpectFields("inference.ModelStreamInferResponse",
               {{"error_message", 1, kString, kSingle},
                {"infer_response", 2, kMessage, kSingle, "inference.ModelInferResponse"}});
}

TEST(InferenceProtoTest, ModelConfigResponseCarriesModelConfig) {
  ExpectFields("inference.ModelConfigRequest", {{"name", 1, kString, kSingle}, {"version", 2, kString, kSingle}});
  ExpectFields("inference.ModelConfigResponse", {{"config", 1, kMessage, kSingle, "inference.ModelConfig"}});
}

TEST(InferenceProtoTest, StatisticsMessages) {
  const char* kDuration = "inference.StatisticDuration";
  ExpectFields("inference.ModelStatisticsRequest", {{"name", 1, kString, kSingle}, {"version", 2, kString, kSingle}});
  ExpectFields("inference.StatisticDuration", {{"count", 1, kUint64, kSingle}, {"ns", 2, kUint64, kSingle}});
  ExpectFields("inference.InferStatistics", {{"success", 1, kMessage, kSingle, kDuration},
                                             {"fail", 2, kMessage, kSingle, kDuration},
                                             {"queue", 3, kMessage, kSingle, kDuration},
                                             {"compute_input", 4, kMessage, kSingle, kDuration},
                                             {"compute_infer", 5, kMessage, kSingle, kDuration},
                                             {"compute_output", 6, kMessage, kSingle, kDuration},
                                             {"cache_hit", 7, kMessage, kSingle, kDuration},
                                             {"cache_miss", 8, kMessage, kSingle, kDuration}});
  ExpectFields("inference.InferBatchStatistics", {{"batch_size", 1, kUint64, kSingle},
                                                  {"compute_input", 2, kMessage, kSingle, kDuration},
                                                  {"compute_infer", 3, kMessage, kSingle, kDuration},
                                                  {"compute_output", 4, kMessage, kSingle, kDuration}});
  ExpectFields("inference.ModelStatistics",
               {{"name", 1, kString, kSingle},
                {"version", 2, kString, kSingle},
                {"last_inference", 3, kUint64, kSingle},
                {"inference_count", 4, kUint64, kSingle},
                {"execution_count", 5, kUint64, kSingle},
                {"inference_stats", 6, kMessage, kSingle, "inference.InferStatistics"},
                {"batch_stats", 7, kMessage, kRepeated, "inference.InferBatchStatistics"},
                {"memory_usage", 8, kMessage, kRepeated, "inference.MemoryUsage"},
                {"response_stats", 9, kMessage, kRepeated},
                {"stage_stats", 1000, kMessage, kRepeated, "inference.StageStatistics"}});
  ExpectFields("inference.StageStatistics", {{"stage", 1, kUint32, kSingle},
                                             {"workers", 2, kUint32, kSingle},
                                             {"dispatch", 3, kMessage, kSingle, kDuration},
                                             {"queue", 4, kMessage, kSingle, kDuration},
                                             {"compute", 5, kMessage, kSingle, kDuration},
                                             {"transfer", 6, kMessage, kSingle, kDuration},
                                             {"bytes_sent", 7, kUint64, kSingle},
                                             {"bytes_received", 8, kUint64, kSingle}});
  ExpectFields("inference.ModelStatisticsResponse",
               {{"model_stats", 1, kMessage, kRepeated, "inference.ModelStatistics"}});
}

TEST(InferenceProtoTest, RepositoryMessages) {
  ExpectFields("inference.ModelRepositoryParameter", {{"bool_param", 1, kBool, kSingle},
                                                      {"int64_param", 2, kInt64, kSingle},
                                                      {"string_param", 3, kString, kSingle},
                                                      {"bytes_param", 4, kBytes, kSingle}});
  ExpectFields("inference.RepositoryIndexRequest",
               {{"repository_name", 1, kString, kSingle}, {"ready", 2, kBool, kSingle}});
  ExpectFields("inference.RepositoryIndexResponse",
               {{"models", 1, kMessage, kRepeated, "inference.RepositoryIndexResponse.ModelIndex"}});
  ExpectFields("inference.RepositoryIndexResponse.ModelIndex", {{"name", 1, kString, kSingle},
                                                                {"version", 2, kString, kSingle},
                                                                {"state", 3, kString, kSingle},
                                                                {"reason", 4, kString, kSingle}});
  for (const char* request : {"inference.RepositoryModelLoadRequest", "inference.RepositoryModelUnloadRequest"}) {
    ExpectFields(request, {{"repository_name", 1, kString, kSingle},
                           {"model_name", 2, kString, kSingle},
                           {"parameters", 3, kMessage, kRepeated}});
  }
  ExpectFields("inference.RepositoryModelLoadResponse", {});
  ExpectFields("inference.RepositoryModelUnloadResponse", {});
}

// Bytes a Triton client would send for a small request, built by hand from
// the field numbers, decode into the fields they name.
TEST(InferenceProtoTest, DecodesHandEncodedRequest) {
  std::string wire;
  auto tag = [&](int field, int wire_type) { wire.push_back(static_cast<char>(field << 3 | wire_type)); };
  auto length_delimited = [&](int field, const std::string& bytes) {
    tag(field, 2);
    wire.push_back(static_cast<char>(bytes.size()));
    wire += bytes;
  };
  length_delimited(1, "m");   // model_name
  length_delimited(3, "r1");  // id
  std::string input;
  input += std::string("\x0a\x01x", 3);          // name = "x"
  input += std::string("\x12\x04" "FP32", 6);    // datatype
  input += std::string("\x1a\x02\x01\x02", 4);   // shape = [1, 2], packed
  length_delimited(5, input);                    // inputs
  length_delimited(7, std::string(8, '\0'));     // raw_input_contents

  inference::ModelInferRequest request;
  ASSERT_TRUE(request.ParseFromString(wire));
  EXPECT_EQ(request.model_name(), "m");
  EXPECT_EQ(request.id(), "r1");
  ASSERT_EQ(request.inputs_size(), 1);
  EXPECT_EQ(request.inputs(0).name(), "x");
  EXPECT_EQ(request.inputs(0).datatype(), "FP32");
  EXPECT_THAT(request.inputs(0).shape(), testing::ElementsAre(1, 2));
  ASSERT_EQ(request.raw_input_contents_size(), 1);
  EXPECT_EQ(request.raw_input_contents(0).size(), 8u);
}

}  // namespace
}  // namespace tessera
