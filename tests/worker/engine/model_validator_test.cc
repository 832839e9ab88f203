#include "worker/engine/model_validator.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera::engine {
namespace {

using ::testing::HasSubstr;
using testing::ModelBuilder;

namespace testing_attr {
onnx::AttributeProto Int(const std::string& name, int64_t v) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(v);
  return a;
}
onnx::AttributeProto Ints(const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a.add_ints(x);
  return a;
}
}  // namespace testing_attr
constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

ModelBuilder ReluModel() {
  ModelBuilder b;
  b.Input("x", kFloat, {-1, 4}).Node("Relu", {"x"}, {"y"}, {}, "relu1").Output("y", {-1, -1});
  return b;
}

TEST(ModelValidatorTest, AcceptsValidModelAndInfersShapes) {
  auto model = ParseAndValidateModel(ReluModel().Bytes());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->graph().node_size(), 1);
  EXPECT_EQ(OpsetFor(*model, ""), 17);
}

TEST(ModelValidatorTest, RefusesEmptyBytes) {
  auto model = ParseAndValidateModel("");
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("empty"));
}

TEST(ModelValidatorTest, RefusesGarbage) {
  auto model = ParseAndValidateModel("this is certainly not a protobuf \xff\xff\xff\xff");
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("not a valid ONNX protobuf"));
}

TEST(ModelValidatorTest, RefusesEveryTruncation) {
  const std::string bytes = ReluModel().Bytes();
  for (size_t len = 1; len < bytes.size(); ++len) {
    auto model = ParseAndValidateModel(absl::string_view(bytes.data(), len));
    EXPECT_FALSE(model.ok()) << "truncated to " << len << " bytes was accepted";
  }
}

TEST(ModelValidatorTest, NamesUnsupportedOperatorAndNode) {
  ModelBuilder b;
  b.Input("x", kFloat, {2}).Node("FancyOp", {"x"}, {"y"}, {}, "fancy_node").Output("y", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(model.status().message(), HasSubstr("'FancyOp'"));
  EXPECT_THAT(model.status().message(), HasSubstr("fancy_node"));
}

TEST(ModelValidatorTest, NamesMissingInitializer) {
  ModelBuilder b;
  b.Input("x", kFloat, {2}).Node("Add", {"x", "bias"}, {"y"}, {}, "add1").Output("y", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("'bias'"));
  EXPECT_THAT(model.status().message(), HasSubstr("add1"));
}

TEST(ModelValidatorTest, DetectsCycle) {
  ModelBuilder b;
  b.Input("x", kFloat, {2})
      .Node("Add", {"x", "b"}, {"a"}, {}, "n1")
      .Node("Relu", {"a"}, {"b"}, {}, "n2")
      .Output("a", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("cycle"));
}

TEST(ModelValidatorTest, SortsUnsortedAcyclicGraph) {
  ModelBuilder b;
  b.Input("x", kFloat, {2})
      .Node("Relu", {"a"}, {"y"}, {}, "second")
      .Node("Relu", {"x"}, {"a"}, {}, "first")
      .Output("y", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->graph().node(0).name(), "first");
  EXPECT_EQ(model->graph().node(1).name(), "second");
}

TEST(ModelValidatorTest, RefusesUnsupportedElementType) {
  ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT16, {2}).Node("Relu", {"x"}, {"y"}).Output("y", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(model.status().message(), HasSubstr("FLOAT16"));
}

TEST(ModelValidatorTest, RefusesOpsetAboveRange) {
  ModelBuilder b(kMaxOpset + 1);
  b.Input("x", kFloat, {2}).Node("Relu", {"x"}, {"y"}).Output("y", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(model.status().message(), HasSubstr("opset 18"));
}

TEST(ModelValidatorTest, UpgradesOldOpsetWithVersionConverter) {
  ModelBuilder b(6);
  b.Input("x", kFloat, {2, 3}).Input("b", kFloat, {3}).Node("Add", {"x", "b"}, {"y"},
      {testing_attr::Int("broadcast", 1)}).Output("y", {2, 3});
  auto model = ParseAndValidateModel(b.Bytes());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(OpsetFor(*model, ""), kMinOpset);
  for (const auto& a : model->graph().node(0).attribute()) EXPECT_NE(a.name(), "broadcast");
}

// Found by model_loader_fuzzer: ONNX's version converter crashed on an
// old-opset graph whose output or node input names nothing.
TEST(ModelValidatorTest, OldOpsetWithDanglingNamesIsRefusedBeforeUpgrade) {
  ModelBuilder unproduced(6);
  unproduced.Input("x", kFloat, {2}).Node("Relu", {"x"}, {"Y"}).Output("y", {2});
  auto model = ParseAndValidateModel(unproduced.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("graph output 'y'"));

  ModelBuilder dangling(3);
  dangling.Input("x", kFloat, {2}).Node("Add", {"x", "missing"}, {"y"}).Output("y", {2});
  model = ParseAndValidateModel(dangling.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("input 'missing'"));
}

// Found by model_loader_fuzzer: ONNX's shape inference for the old Conv
// schema crashed on a pads attribute of the wrong length.
TEST(ModelValidatorTest, OldOpsetConvWithWrongPadsIsRefusedBeforeShapeInference) {
  ModelBuilder b(1);
  b.Input("x", kFloat, {1, 1, 4, 4})
      .Initializer("k", Tensor::Zeros(DataType::kFloat32, {2, 1, 3, 3}))
      .Node("Conv", {"x", "k"}, {"y"}, {testing_attr::Ints("pads", {402628605, 1})})
      .Output("y", {1, 2, 4, 4});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("attribute 'pads' has 2 values, 4 expected"));
}

// Found by partition_upload_fuzzer: ONNX's Conv / pool shape inference
// divided by a zero stride (SIGFPE).
TEST(ModelValidatorTest, ConvPoolAttributesAreCheckedBeforeShapeInference) {
  ModelBuilder b;
  b.Input("x", kFloat, {1, 1, 4, 4})
      .Node("MaxPool", {"x"}, {"y"}, {testing_attr::Ints("kernel_shape", {2, 2}), testing_attr::Ints("strides", {0, 2})})
      .Output("y", {1, 1, 2, 2});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("attribute 'strides' has the value 0, must be >= 1"));
}

TEST(ModelValidatorTest, RefusesDuplicateDefinition) {
  ModelBuilder b;
  b.Input("x", kFloat, {2}).Node("Relu", {"x"}, {"y"}).Node("Relu", {"x"}, {"y"}).Output("y", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("more than once"));
}

TEST(ModelValidatorTest, RefusesCheckerViolations) {
  // Relu with two inputs violates its schema.
  ModelBuilder b;
  b.Input("x", kFloat, {2}).Node("Relu", {"x", "x"}, {"y"}).Output("y", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("ONNX checker"));
}

TEST(ModelValidatorTest, RefusesUndeclaredGraphOutput) {
  ModelBuilder b;
  b.Input("x", kFloat, {2}).Node("Relu", {"x"}, {"y"}).Output("nowhere", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("'nowhere'"));
}

}  // namespace
}  // namespace tessera::engine
