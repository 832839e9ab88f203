#include "worker/engine/fusion.h"

#include <random>

#include "gtest/gtest.h"
#include "tests/worker/engine/engine_test_util.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "tests/worker/engine/model_builder.h"
#include "worker/engine/constant_folding.h"
#include "worker/engine/model_validator.h"

namespace tessera::engine {
namespace {

using testing::Attr;
using testing::FoldAndFuse;
using testing::ModelBuilder;
using testing::OpTypes;
constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

Tensor Ones(Shape shape) {
  Tensor t = Tensor::Allocate(DataType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = 1.0f;
  return t;
}

ModelBuilder ConvModel(bool with_bn, const std::string& activation) {
  ModelBuilder b;
  b.Input("x", kFloat, {1, 2, 4, 4}).Initializer("w", Ones({3, 2, 1, 1}));
  std::string last = "c";
  b.Node("Conv", {"x", "w"}, {"c"});
  if (with_bn) {
    b.Initializer("s", Ones({3})).Initializer("b", Ones({3})).Initializer("m", Ones({3})).Initializer("v", Ones({3}));
    b.Node("BatchNormalization", {last, "s", "b", "m", "v"}, {"bn"});
    last = "bn";
  }
  if (!activation.empty()) {
    b.Node(activation, {last}, {"act"});
    last = "act";
  }
  b.Node("Identity", {last}, {"y"}).Output("y", {1, 3, 4, 4});
  return b;
}

TEST(FusionTest, ConvBatchNormReluBecomesOneFusedConv) {
  ModelBuilder b = ConvModel(true, "Relu");
  Graph g = FoldAndFuse(b.Bytes());
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"ai.tessera.FusedConv", "Identity"}));
  EXPECT_EQ(g.nodes[0].input_size(), 3);  // bias created from the BatchNorm
}

TEST(FusionTest, ConvBatchNormWithoutActivation) {
  ModelBuilder b = ConvModel(true, "");
  Graph g = FoldAndFuse(b.Bytes());
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Conv", "Identity"}));
}

TEST(FusionTest, ClipWithConstantBoundsFuses) {
  ModelBuilder b;
  b.Input("x", kFloat, {1, 2, 4, 4})
      .Initializer("w", Ones({3, 2, 1, 1}))
      .Initializer("lo", Tensor::Scalar<float>(0.0f))
      .Initializer("hi", Tensor::Scalar<float>(6.0f))
      .Node("Conv", {"x", "w"}, {"c"})
      .Node("Clip", {"c", "lo", "hi"}, {"y"})
      .Output("y", {1, 3, 4, 4});
  Graph g = FoldAndFuse(b.Bytes());
  ASSERT_EQ(OpTypes(g), (std::vector<std::string>{"ai.tessera.FusedConv"}));
  NodeAttributes attrs(g.nodes[0]);
  EXPECT_EQ(attrs.GetString("activation", ""), "Clip");
  EXPECT_EQ(attrs.GetFloats("activation_params"), (std::vector<float>{0.0f, 6.0f}));
}

TEST(FusionTest, DoesNotFuseWhenIntermediateIsShared) {
  ModelBuilder b;
  b.Input("x", kFloat, {1, 2, 4, 4})
      .Initializer("w", Ones({3, 2, 1, 1}))
      .Node("Conv", {"x", "w"}, {"c"})
      .Node("Relu", {"c"}, {"r"})
      .Node("Add", {"c", "r"}, {"y"})
      .Output("y", {1, 3, 4, 4});
  Graph g = FoldAndFuse(b.Bytes());
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Conv", "Relu", "Add"}));
}

TEST(FusionTest, DoesNotFuseGraphOutput) {
  ModelBuilder b;
  b.Input("x", kFloat, {1, 2, 4, 4})
      .Initializer("w", Ones({3, 2, 1, 1}))
      .Node("Conv", {"x", "w"}, {"c"})
      .Node("Relu", {"c"}, {"y"})
      .Output("c", {1, 3, 4, 4})
      .Output("y", {1, 3, 4, 4});
  Graph g = FoldAndFuse(b.Bytes());
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Conv", "Relu"}));
}

TEST(FusionTest, ResidualAddAndReluFoldIntoConv) {
  ModelBuilder b;
  b.Input("x", kFloat, {-1, 3, 4, 4})
      .Initializer("w", Ones({3, 3, 1, 1}))
      .Node("Relu", {"x"}, {"skip"})
      .Node("Conv", {"x", "w"}, {"c"})
      .Node("Add", {"skip", "c"}, {"a"})
      .Node("Relu", {"a"}, {"y"})
      .Output("y", {-1, 3, 4, 4});
  Graph g = FoldAndFuse(b.Bytes());
  ASSERT_EQ(OpTypes(g), (std::vector<std::string>{"Relu", "ai.tessera.FusedConv"}));
  const auto& conv = g.nodes[1];
  ASSERT_EQ(conv.input_size(), 4);
  EXPECT_EQ(conv.input(2), "");
  EXPECT_EQ(conv.input(3), "skip");
  EXPECT_EQ(NodeAttributes(conv).GetString("activation", ""), "Relu");
}

TEST(FusionTest, BroadcastingAddIsNotAResidual) {
  ModelBuilder b;
  b.Input("x", kFloat, {-1, 3, 4, 4})
      .Input("z", kFloat, {1, 3, 1, 1})
      .Initializer("w", Ones({3, 3, 1, 1}))
      .Node("Conv", {"x", "w"}, {"c"})
      .Node("Add", {"c", "z"}, {"y"})
      .Output("y", {-1, 3, 4, 4});
  Graph g = FoldAndFuse(b.Bytes());
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Conv", "Add"}));
}

TEST(FusionTest, MatMulBiasActivation) {
  ModelBuilder b;
  b.Input("x", kFloat, {-1, 8})
      .Initializer("w", Ones({8, 4}))
      .Initializer("b", Ones({4}))
      .Node("MatMul", {"x", "w"}, {"mm"})
      .Node("Add", {"b", "mm"}, {"a"})
      .Node("Relu", {"a"}, {"y"})
      .Output("y", {-1, 4});
  Graph g = FoldAndFuse(b.Bytes());
  ASSERT_EQ(OpTypes(g), (std::vector<std::string>{"ai.tessera.FusedMatMul"}));
  EXPECT_EQ(g.nodes[0].input(2), "b");
  EXPECT_EQ(g.nodes[0].output(0), "y");
}

TEST(FusionTest, MatMulWithNonConstantAddStays) {
  ModelBuilder b;
  b.Input("x", kFloat, {2, 8})
      .Input("z", kFloat, {4})
      .Initializer("w", Ones({8, 4}))
      .Node("MatMul", {"x", "w"}, {"mm"})
      .Node("Add", {"mm", "z"}, {"y"})
      .Output("y", {2, 4});
  Graph g = FoldAndFuse(b.Bytes());
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"MatMul", "Add"}));
}

TEST(ConstantFoldingTest, FoldsConstantSubgraphAndStaticShape) {
  ModelBuilder b;
  b.Input("x", kFloat, {2, 3})
      .Initializer("a", Ones({3}))
      .Node("Add", {"a", "a"}, {"two"})      // constant
      .Node("Shape", {"x"}, {"s"})           // static shape
      .Node("Reshape", {"x", "s"}, {"r"})
      .Node("Add", {"r", "two"}, {"y"})
      .Output("y", {2, 3});
  Graph g = FoldAndFuse(b.Bytes());
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Reshape", "Add"}));
  ASSERT_TRUE(g.IsConstant("two"));
  EXPECT_EQ(g.constants.at("two").data<float>()[0], 2.0f);
  ASSERT_TRUE(g.IsConstant("s"));
  EXPECT_EQ(g.constants.at("s").data<int64_t>()[1], 3);
  EXPECT_FALSE(g.IsConstant("a"));  // no longer referenced: pruned
}

TEST(ConstantFoldingTest, ReportsFailingConstantNode) {
  ModelBuilder b;
  b.Input("x", kFloat, {2})
      .Initializer("a", Ones({6}))
      .Initializer("shape", Tensor::FromVector<int64_t>({2}, {4, 4}))
      .Node("Reshape", {"a", "shape"}, {"r"}, {}, "broken")
      .Node("Add", {"x", "x"}, {"y"})
      .Output("r", {4, 4})
      .Output("y", {2});
  auto model = ParseAndValidateModel(b.Bytes());
  ASSERT_TRUE(model.ok()) << model.status();
  auto graph = Graph::FromModel(*model);
  ASSERT_TRUE(graph.ok());
  absl::Status st = FoldConstants(*graph, 1);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("broken"), absl::string_view::npos) << st;
}

}  // namespace
}  // namespace tessera::engine
