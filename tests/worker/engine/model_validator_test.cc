#include "worker/engine/model_validator.h"

#include <fstream>

#include "worker/engine/engine.h"

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


// y = x + W, W [4] float32, whose stored proto the test then corrupts.
ModelBuilder AddModel() {
  ModelBuilder b;
  b.Input("x", kFloat, {4})
      .Initializer("W", Tensor::FromVector<float>({4}, {1, 2, 3, 4}))
      .Node("Add", {"x", "W"}, {"y"})
      .Output("y", {4});
  return b;
}

TEST(ModelValidatorTest, RefusesAnInitializerDeclaringFarMoreThanItHolds) {
  // 16 bytes declaring 2^40 float32 elements: refused before the engine
  // would allocate 4 TiB for it.
  ModelBuilder b = AddModel();
  onnx::TensorProto* w = b.proto().mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  w->add_dims(int64_t{1} << 20);
  w->add_dims(int64_t{1} << 20);
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(),
              HasSubstr("initializer 'W' declares 1099511627776 elements (4398046511104 bytes) but holds 16 bytes"));
  auto engine = Engine::LoadFromBytes(b.Bytes(), {.intra_op_threads = 1});
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModelValidatorTest, RefusesInitializerDimsThatOverflowOrAreNegative) {
  ModelBuilder b = AddModel();
  onnx::TensorProto* w = b.proto().mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  for (int i = 0; i < 3; ++i) w->add_dims(int64_t{1} << 40);
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("initializer 'W' declares dims whose byte size overflows int64"));

  w->clear_dims();
  w->add_dims(-4);
  model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("initializer 'W' declares negative dimension -4"));
}

TEST(ModelValidatorTest, RefusesTypedInitializerDataOfTheWrongCountAndExternalData) {
  ModelBuilder b = AddModel();
  onnx::TensorProto* w = b.proto().mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  for (int i = 0; i < 3; ++i) w->add_float_data(1.0f);
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("initializer 'W' declares 4 elements but holds 3 values"));

  w->clear_float_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* entry = w->add_external_data();
  entry->set_key("location");
  entry->set_value("/etc/passwd");
  model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(model.status().message(), HasSubstr("initializer 'W' uses external data"));
}

TEST(ModelValidatorTest, RefusesGraphInputDimsThatOverflowOrAreNegative) {
  ModelBuilder b;
  b.Input("x", kFloat, {int64_t{1} << 30, int64_t{1} << 30, int64_t{1} << 30})
      .Node("Relu", {"x"}, {"y"})
      .Output("y", {-1, -1, -1});
  auto model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("graph input 'x' declares dims whose byte size overflows int64"));

  b.proto().mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(
      0)->set_dim_value(-7);
  model = ParseAndValidateModel(b.Bytes());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("graph input 'x' declares negative dimension -7"));
}

TEST(ModelValidatorTest, AcceptsALargeButConsistentDeclaredInput) {
  // 2^40 elements declared for an input is a (huge) shape, not a corrupt
  // model: requests are bounded by the coordinator's byte limit.
  ModelBuilder b;
  b.Input("x", kFloat, {int64_t{1} << 20, int64_t{1} << 20}).Node("Relu", {"x"}, {"y"}).Output("y", {-1, -1});
  EXPECT_TRUE(ParseAndValidateModel(b.Bytes()).ok());
}

// True when a 512 GiB allocation fails at once here (the kernel's heuristic
// overcommit refuses it) instead of succeeding lazily.
bool HugeAllocationsFail() {
  std::ifstream overcommit("/proc/sys/vm/overcommit_memory");
  int mode = -1;
  overcommit >> mode;
  if (mode != 0) return false;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0, total = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemTotal:" || key == "SwapTotal:") total += kib;
  }
  return total > 0 && total < (int64_t{256} << 20);  // under 256 GiB
}

TEST(ModelValidatorTest, AbsurdSizesComputedAtLoadOrRunTimeAreResourceExhaustedNotACrash) {
  if (!HugeAllocationsFail()) GTEST_SKIP() << "this machine could grant a 512 GiB allocation";
  const std::vector<int64_t> huge = {int64_t{1} << 17, int64_t{1} << 18, 4};  // 512 GiB of float32
  {
    // Folded at load: ConstantOfShape of a constant shape.
    ModelBuilder b;
    b.Input("x", kFloat, {1})
        .Initializer("s", Tensor::FromVector<int64_t>({3}, huge))
        .Node("ConstantOfShape", {"s"}, {"c"}, {}, "bomb")
        .Node("Add", {"x", "c"}, {"y"})
        .Output("y", {-1, -1, -1});
    auto engine = Engine::LoadFromBytes(b.Bytes(), {.intra_op_threads = 1});
    EXPECT_EQ(engine.status().code(), absl::StatusCode::kResourceExhausted) << engine.status();
    EXPECT_THAT(engine.status().message(), HasSubstr("node 'bomb' (ConstantOfShape)"));
  }
  {
    // At run time: Expand to a shape given as an input.
    ModelBuilder b;
    b.Input("x", kFloat, {-1, 4})
        .Input("s", onnx::TensorProto::INT64, {3})
        .Node("Expand", {"x", "s"}, {"y"}, {}, "expand")
        .Output("y", {-1, -1, -1});
    auto engine = Engine::LoadFromBytes(b.Bytes(), {.intra_op_threads = 1});
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto out = (*engine)->Run(
        {{"x", Tensor::FromVector<float>({1, 4}, {1, 2, 3, 4})}, {"s", Tensor::FromVector<int64_t>({3}, huge)}});
    EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted) << out.status();
    EXPECT_THAT(out.status().message(), HasSubstr("node 'expand' (Expand): out of memory"));
    // The engine still runs sane requests.
    out = (*engine)->Run({{"x", Tensor::FromVector<float>({1, 4}, {1, 2, 3, 4})},
                          {"s", Tensor::FromVector<int64_t>({3}, {3, 2, 4})}});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].shape(), (Shape{3, 2, 4}));
  }
}

}  // namespace
}  // namespace tessera::engine
