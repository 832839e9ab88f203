// Bad models loaded into a real cluster through RepositoryModelLoad, sent
// over the network with Triton's overrides ("config" JSON and
// "file:<version>/model.onnx" bytes) and, for a few, written into the
// repository directory and loaded from there: garbage, truncated, cyclic,
// absurd declared or computed sizes, unsupported operators, configs naming
// inputs that do not exist, and more. Each gets a clear error (the right
// code, a message naming the problem), the coordinator and the workers keep
// running, and the other models keep answering correctly. A valid model
// sent the same way loads and answers.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/kserve_request.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/real_cluster.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera {
namespace {

using engine::testing::ModelBuilder;
using ::testing::HasSubstr;
using testing::RealCluster;

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;
constexpr char kConfig[] = R"({"platform": "onnx", "max_batch_size": 4})";

ModelBuilder Relu() {
  ModelBuilder b;
  b.Input("x", kFloat, {-1, 4}).Node("Relu", {"x"}, {"y"}).Output("y", {-1, 4});
  return b;
}

// y = x + W, W [4].
ModelBuilder AddW() {
  ModelBuilder b;
  b.Input("x", kFloat, {-1, 4})
      .Initializer("W", Tensor::FromVector<float>({4}, {1, 2, 3, 4}))
      .Node("Add", {"x", "W"}, {"y"})
      .Output("y", {-1, 4});
  return b;
}

struct BadModel {
  std::string name;
  std::string bytes;
  std::string config = kConfig;
  grpc::StatusCode code;
  std::string message;
};

std::vector<BadModel> Catalog() {
  std::vector<BadModel> c;
  c.push_back({"garbage", "this is not an ONNX model at all \x01\x02\x03", kConfig,
               grpc::StatusCode::INVALID_ARGUMENT, "not a valid ONNX protobuf"});
  c.push_back({"empty", "", kConfig, grpc::StatusCode::INVALID_ARGUMENT, "model is empty"});
  {
    const std::string good = AddW().Bytes();
    c.push_back({"truncated", good.substr(0, good.size() / 2), kConfig, grpc::StatusCode::INVALID_ARGUMENT,
                 "not a valid ONNX protobuf (corrupt or truncated)"});
  }
  {
    ModelBuilder b;  // a -> b -> a
    b.Input("x", kFloat, {-1, 4})
        .Node("Add", {"x", "b"}, {"a"}, {}, "first")
        .Node("Relu", {"a"}, {"b"}, {}, "second")
        .Output("b", {-1, 4});
    c.push_back({"cyclic", b.Bytes(), kConfig, grpc::StatusCode::INVALID_ARGUMENT, "cycle"});
  }
  {
    ModelBuilder b = AddW();  // 16 bytes declaring 2^40 elements
    onnx::TensorProto* w = b.proto().mutable_graph()->mutable_initializer(0);
    w->clear_dims();
    w->add_dims(int64_t{1} << 20);
    w->add_dims(int64_t{1} << 20);
    c.push_back({"initializer_2e40", b.Bytes(), kConfig, grpc::StatusCode::INVALID_ARGUMENT,
                 "initializer 'W' declares 1099511627776 elements (4398046511104 bytes) but holds 16 bytes"});
  }
  {
    ModelBuilder b = AddW();
    onnx::TensorProto* w = b.proto().mutable_graph()->mutable_initializer(0);
    w->clear_dims();
    for (int i = 0; i < 3; ++i) w->add_dims(int64_t{1} << 40);
    c.push_back({"initializer_overflow", b.Bytes(), kConfig, grpc::StatusCode::INVALID_ARGUMENT,
                 "initializer 'W' declares dims whose byte size overflows int64"});
  }
  {
    ModelBuilder b;
    b.Input("x", kFloat, {-1, int64_t{1} << 40, int64_t{1} << 40})
        .Node("Relu", {"x"}, {"y"})
        .Output("y", {-1, -1, -1});
    c.push_back({"input_dims_overflow", b.Bytes(), kConfig, grpc::StatusCode::INVALID_ARGUMENT,
                 "graph input 'x' declares dims whose byte size overflows int64"});
  }
  {
    ModelBuilder b = AddW();  // external data pointing at a file of the coordinator
    onnx::TensorProto* w = b.proto().mutable_graph()->mutable_initializer(0);
    w->clear_raw_data();
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* location = w->add_external_data();
    location->set_key("location");
    location->set_value("/etc/passwd");
    c.push_back({"external_data", b.Bytes(), kConfig, grpc::StatusCode::UNIMPLEMENTED,
                 "initializer 'W' uses external data"});
  }
  {
    // Folded at load: a 512 GiB constant. Refused for memory (where the
    // machine cannot grant it at once) rather than taking the coordinator
    // down.
    ModelBuilder b;
    b.Input("x", kFloat, {-1, 4})
        .Initializer("s", Tensor::FromVector<int64_t>({3}, {int64_t{1} << 17, int64_t{1} << 18, 4}))
        .Node("ConstantOfShape", {"s"}, {"c"}, {}, "bomb")
        .Node("Add", {"x", "c"}, {"y"})
        .Output("y", {-1, -1, -1});
    c.push_back({"constant_512gib", b.Bytes(), kConfig, grpc::StatusCode::RESOURCE_EXHAUSTED,
                 "node 'bomb' (ConstantOfShape)"});
  }
  {
    ModelBuilder b;
    auto* imp = b.proto().add_opset_import();
    imp->set_domain("com.example");
    imp->set_version(1);
    b.Input("x", kFloat, {-1, 4}).Node("FancyOp", {"x"}, {"y"}, {}, "fancy", "com.example").Output("y", {-1, 4});
    c.push_back({"unsupported_domain", b.Bytes(), kConfig, grpc::StatusCode::UNIMPLEMENTED, "com.example"});
  }
  {
    ModelBuilder b;
    b.Input("x", kFloat, {-1, 4}).Node("NotAnOnnxOp", {"x"}, {"y"}, {}, "mystery").Output("y", {-1, 4});
    c.push_back({"unsupported_operator", b.Bytes(), kConfig, grpc::StatusCode::UNIMPLEMENTED, "'NotAnOnnxOp'"});
  }
  {
    ModelBuilder b(99);
    b.Input("x", kFloat, {-1, 4}).Node("Relu", {"x"}, {"y"}).Output("y", {-1, 4});
    c.push_back({"opset_99", b.Bytes(), kConfig, grpc::StatusCode::UNIMPLEMENTED, "99"});
  }
  {
    ModelBuilder b;
    b.Input("x", kFloat, {-1, 4}).Node("Relu", {"x"}, {"y"}).Output("nowhere", {-1, 4});
    c.push_back({"output_never_produced", b.Bytes(), kConfig, grpc::StatusCode::INVALID_ARGUMENT, "'nowhere'"});
  }
  {
    ModelBuilder b;
    b.Input("x", kFloat, {-1, 4}).Node("Relu", {"x", "ghost"}, {"y"}, {}, "relu").Output("y", {-1, 4});
    c.push_back({"node_input_undefined", b.Bytes(), kConfig, grpc::StatusCode::INVALID_ARGUMENT, "'ghost'"});
  }
  {
    // Nested subgraphs deeper than the parser's recursion limit.
    onnx::GraphProto graph;
    graph.set_name("g0");
    for (int depth = 0; depth < 80; ++depth) {
      onnx::GraphProto outer;
      outer.set_name(absl::StrCat("g", depth + 1));
      auto* node = outer.add_node();
      node->set_op_type("If");
      auto* attr = node->add_attribute();
      attr->set_name("then_branch");
      attr->set_type(onnx::AttributeProto::GRAPH);
      *attr->mutable_g() = std::move(graph);
      graph = std::move(outer);
    }
    ModelBuilder b = Relu();
    auto* node = b.proto().mutable_graph()->mutable_node(0);
    auto* attr = node->add_attribute();
    attr->set_name("nested");
    attr->set_type(onnx::AttributeProto::GRAPH);
    *attr->mutable_g() = std::move(graph);
    c.push_back({"nesting_too_deep", b.Bytes(), kConfig, grpc::StatusCode::INVALID_ARGUMENT,
                 "not a valid ONNX protobuf"});
  }
  c.push_back({"config_names_missing_input", Relu().Bytes(),
               R"({"platform": "onnx", "max_batch_size": 4,
                   "input": [{"name": "nope", "data_type": "TYPE_FP32", "dims": [4]}]})",
               grpc::StatusCode::INVALID_ARGUMENT, "'nope'"});
  c.push_back({"config_wrong_dtype", Relu().Bytes(),
               R"({"platform": "onnx", "max_batch_size": 4,
                   "input": [{"name": "x", "data_type": "TYPE_INT64", "dims": [4]}]})",
               grpc::StatusCode::INVALID_ARGUMENT, "'x'"});
  c.push_back({"config_wrong_platform", Relu().Bytes(), R"({"platform": "tensorflow_savedmodel"})",
               grpc::StatusCode::INVALID_ARGUMENT, "platform"});
  c.push_back({"config_negative_batch", Relu().Bytes(), R"({"platform": "onnx", "max_batch_size": -3})",
               grpc::StatusCode::INVALID_ARGUMENT, "max_batch_size"});
  c.push_back({"config_not_json", Relu().Bytes(), "platform: onnx", grpc::StatusCode::INVALID_ARGUMENT,
               "load parameter 'config' is not a model configuration"});
  return c;
}

grpc::Status LoadOverride(RealCluster::Stub* stub, const std::string& name, const std::string& config,
                          const std::string& bytes) {
  inference::RepositoryModelLoadRequest request;
  request.set_model_name(name);
  (*request.mutable_parameters())["config"].set_string_param(config);
  (*request.mutable_parameters())["file:1/model.onnx"].set_bytes_param(bytes);
  inference::RepositoryModelLoadResponse response;
  return stub->RepositoryModelLoad(RealCluster::Context(60).get(), request, &response);
}

// "good" (Relu, from the repository directory) answers correctly.
void ExpectGoodAnswers(RealCluster::Stub* stub, const std::string& model = "good") {
  inference::ModelInferRequest r;
  r.set_model_name(model);
  client::AddInferInput("x", Tensor::FromVector<float>({2, 4}, {-1, 2, -3, 4, 5, -6, 7, -8}),
                        client::InferContents::kRaw, &r);
  inference::ModelInferResponse response;
  grpc::Status st = stub->ModelInfer(RealCluster::Context().get(), r, &response);
  ASSERT_TRUE(st.ok()) << model << ": " << st.error_message();
  const float expected[8] = {0, 2, 0, 4, 5, 0, 7, 0};
  ASSERT_EQ(response.raw_output_contents(0).size(), sizeof(expected));
  EXPECT_EQ(0, std::memcmp(response.raw_output_contents(0).data(), expected, sizeof(expected)));
}

bool HugeAllocationsFail() {
  std::ifstream overcommit("/proc/sys/vm/overcommit_memory");
  int mode = -1;
  overcommit >> mode;
  if (mode != 0) return false;
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  int64_t kib = 0, total = 0;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemTotal:" || key == "SwapTotal:") total += kib;
  }
  return total > 0 && total < (int64_t{256} << 20);
}

TEST(BadModelTest, EveryBadModelIsRefusedClearlyAndOthersKeepServing) {
  RealCluster cluster("bad_model_test", {.cnn_models = false, .ops_endpoint = false});
  cluster.WriteModel("good", "max_batch_size: 4", Relu().Bytes());
  ASSERT_TRUE(
      cluster.Start(2, {.flags = {"--health-interval-ms", "200", "--measure-plans=false", "--max-message-mb", "4"}})
          .ok());
  auto admin = cluster.NewStub();
  auto client = cluster.NewStub();
  ExpectGoodAnswers(client.get());

  int refused = 0;
  for (const BadModel& bad : Catalog()) {
    SCOPED_TRACE(bad.name);
    if (bad.name == "constant_512gib" && !HugeAllocationsFail()) continue;
    const grpc::Status st = LoadOverride(admin.get(), bad.name, bad.config, bad.bytes);
    std::printf("  %-28s -> %d %s\n", bad.name.c_str(), static_cast<int>(st.error_code()),
                st.error_message().substr(0, 160).c_str());
    EXPECT_EQ(st.error_code(), bad.code) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(bad.message));
    // Errors from the repository name the model (a parameter error names
    // the parameter).
    if (bad.name != "config_not_json") {
      EXPECT_THAT(st.error_message(), HasSubstr(bad.name));
    }
    refused += st.error_code() == bad.code;
    // Not served, and everything else still is.
    inference::ModelReadyRequest ready_request;
    ready_request.set_name(bad.name);
    inference::ModelReadyResponse ready;
    const grpc::Status ready_status = client->ModelReady(RealCluster::Context().get(), ready_request, &ready);
    EXPECT_TRUE(!ready_status.ok() || !ready.ready());
    ExpectGoodAnswers(client.get());
    ASSERT_TRUE(cluster.AllAlive()) << bad.name << "\n" << cluster.coordinator().StderrTail();
  }
  std::printf("bad-model catalog: %d models refused\n", refused);

  // A bad model loaded under the name of a served one: the served version
  // stays.
  grpc::Status st = LoadOverride(admin.get(), "good", kConfig, "garbage");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  ExpectGoodAnswers(client.get());

  // Through the repository directory: garbage and a cyclic model written
  // there, then loaded without parameters.
  testing::WriteWholeFile(cluster.models() / "dir_garbage" / "config.pbtxt", "platform: \"onnx\"\n");
  testing::WriteWholeFile(cluster.models() / "dir_garbage" / "1" / "model.onnx", "\x08\x07garbage");
  inference::RepositoryModelLoadRequest load;
  load.set_model_name("dir_garbage");
  inference::RepositoryModelLoadResponse loaded;
  st = admin->RepositoryModelLoad(RealCluster::Context(60).get(), load, &loaded);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("model 'dir_garbage' version 1"));
  // An absent model file.
  testing::WriteWholeFile(cluster.models() / "dir_nofile" / "config.pbtxt", "platform: \"onnx\"\n");
  std::filesystem::create_directories(cluster.models() / "dir_nofile" / "1");
  load.set_model_name("dir_nofile");
  st = admin->RepositoryModelLoad(RealCluster::Context(60).get(), load, &loaded);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("does not exist"));

  // A model file over --max-message-mb is refused by gRPC.
  st = LoadOverride(admin.get(), "too_big", kConfig, std::string(5 << 20, 'x'));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();

  // A valid model sent the same way is served; then unloaded.
  st = LoadOverride(admin.get(), "sent", kConfig, Relu().Bytes());
  ASSERT_TRUE(st.ok()) << st.error_message();
  ExpectGoodAnswers(client.get(), "sent");
  inference::RepositoryModelUnloadRequest unload;
  unload.set_model_name("sent");
  inference::RepositoryModelUnloadResponse unloaded;
  st = admin->RepositoryModelUnload(RealCluster::Context().get(), unload, &unloaded);
  EXPECT_TRUE(st.ok()) << st.error_message();

  ExpectGoodAnswers(client.get());
  EXPECT_TRUE(cluster.AllAlive());
}

// A model that loads but computes an absurd tensor at run time (Expand to a
// shape given by the request): the request fails with RESOURCE_EXHAUSTED,
// the workers survive, and the model answers sane requests.
TEST(BadModelTest, AbsurdSizeComputedAtRunTimeFailsTheRequestNotTheWorker) {
  if (!HugeAllocationsFail()) GTEST_SKIP() << "this machine could grant a 512 GiB allocation";
  RealCluster cluster("bad_model_runtime_test", {.cnn_models = false, .ops_endpoint = false});
  ModelBuilder b;
  // y = Expand(x, s + 1): the planner's trial run with s = 0 expands to
  // [1,1,4].
  b.Input("x", kFloat, {1, 4})
      .Input("s", onnx::TensorProto::INT64, {3})
      .Initializer("one", Tensor::FromVector<int64_t>({3}, {1, 1, 1}))
      .Node("Add", {"s", "one"}, {"shape"})
      .Node("Expand", {"x", "shape"}, {"y"}, {}, "expand")
      .Output("y", {-1, -1, -1});
  cluster.WriteModel("expand", "max_batch_size: 0", b.Bytes());
  const absl::Status started = cluster.Start(1, {.flags = {"--health-interval-ms", "200", "--measure-plans=false"}});
  ASSERT_TRUE(started.ok()) << started;
  auto stub = cluster.NewStub();
  auto infer = [&](std::vector<int64_t> shape, inference::ModelInferResponse* response) {
    inference::ModelInferRequest r;
    r.set_model_name("expand");
    client::AddInferInput("x", Tensor::FromVector<float>({1, 4}, {1, 2, 3, 4}), client::InferContents::kRaw, &r);
    client::AddInferInput("s", Tensor::FromVector<int64_t>({3}, shape), client::InferContents::kRaw, &r);
    return stub->ModelInfer(RealCluster::Context().get(), r, response);
  };
  inference::ModelInferResponse response;
  grpc::Status st = infer({(int64_t{1} << 17) - 1, (int64_t{1} << 18) - 1, 3}, &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("node 'expand' (Expand): out of memory"));
  st = infer({1, 0, 3}, &response);  // [2,1,4]
  ASSERT_TRUE(st.ok()) << st.error_message();
  const float expected[8] = {1, 2, 3, 4, 1, 2, 3, 4};
  ASSERT_EQ(response.raw_output_contents(0).size(), sizeof(expected));
  EXPECT_EQ(0, std::memcmp(response.raw_output_contents(0).data(), expected, sizeof(expected)));
  EXPECT_TRUE(cluster.AllAlive());
}

}  // namespace
}  // namespace tessera
