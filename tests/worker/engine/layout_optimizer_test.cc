#include "worker/engine/layout_optimizer.h"


#include "gtest/gtest.h"
#include "tests/worker/engine/engine_test_util.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "tests/worker/engine/model_builder.h"
#include "worker/engine/constant_folding.h"
#include "worker/engine/engine.h"
#include "worker/engine/fusion.h"
#include "worker/engine/model_validator.h"

namespace tessera::engine {
namespace {

using testing::Attr;
using testing::ExpectOptimizedMatchesReference;
using testing::RandomTensor;
using testing::FoldAndFuse;
using testing::ModelBuilder;
using testing::OpTypes;
using testing::TensorsNear;
constexpr int32_t kFloat = onnx::TensorProto::FLOAT;

// An inverted-residual block (MobileNetV2) followed by a classifier head.
ModelBuilder MobileBlock() {
  ModelBuilder b;
  const int64_t c = 8, e = 16;
  b.Input("x", kFloat, {-1, c, 10, 10})
      .Initializer("w_expand", RandomTensor({e, c, 1, 1}, 1))
      .Initializer("w_dw", RandomTensor({e, 1, 3, 3}, 2))
      .Initializer("w_project", RandomTensor({c, e, 1, 1}, 3))
      .Initializer("b_project", RandomTensor({c}, 4))
      .Initializer("lo", Tensor::Scalar<float>(0.0f))
      .Initializer("hi", Tensor::Scalar<float>(6.0f))
      .Initializer("fc_w", RandomTensor({5, c}, 5))
      .Initializer("fc_b", RandomTensor({5}, 6))
      .Node("Conv", {"x", "w_expand"}, {"e"})
      .Node("Clip", {"e", "lo", "hi"}, {"e6"})
      .Node("Conv", {"e6", "w_dw"}, {"d"},
            {Attr("group", e), Attr("pads", std::vector<int64_t>{1, 1, 1, 1})})
      .Node("Clip", {"d", "lo", "hi"}, {"d6"})
      .Node("Conv", {"d6", "w_project", "b_project"}, {"p"})
      .Node("Add", {"p", "x"}, {"block"})
      .Node("GlobalAveragePool", {"block"}, {"gap"})
      .Node("Flatten", {"gap"}, {"flat"})
      .Node("Gemm", {"flat", "fc_w", "fc_b"}, {"y"}, {Attr("transB", int64_t{1})})
      .Output("y", {-1, 5})
      .Output("block", {-1, c, 10, 10});
  return b;
}

TEST(LayoutOptimizerTest, RewritesConvRegionToNhwc) {
  ModelBuilder b = MobileBlock();
  Graph graph = FoldAndFuse(b.Bytes());
  EXPECT_EQ(OptimizeConvLayout(graph), 3);
  // x enters through one Transpose; the residual reads the same NHWC copy;
  // the block output (a graph output, and read by the pooling) goes back once.
  EXPECT_EQ(OpTypes(graph), (std::vector<std::string>{"Transpose", "ai.tessera.FusedConv", "ai.tessera.FusedConv",
                                                   "ai.tessera.FusedConv", "ReduceMean", "Transpose", "Flatten",
                                                   "Gemm", "Transpose"}));
  for (const auto& n : graph.nodes) {
    if (n.op_type() == "FusedConv") {
      EXPECT_EQ(NodeAttributes(n).GetString("layout", ""), "NHWC");
    }
  }
}

TEST(LayoutOptimizerTest, LeavesSingleConvAlone) {
  ModelBuilder b;
  b.Input("x", kFloat, {1, 2, 4, 4})
      .Initializer("w", RandomTensor({3, 2, 1, 1}, 1))
      .Node("Conv", {"x", "w"}, {"y"})
      .Output("y", {1, 3, 4, 4});
  auto model = ParseAndValidateModel(b.Bytes());
  ASSERT_TRUE(model.ok()) << model.status();
  auto graph = Graph::FromModel(*model);
  ASSERT_TRUE(graph.ok());
  EXPECT_EQ(OptimizeConvLayout(*graph), 0);
  EXPECT_EQ(OpTypes(*graph), (std::vector<std::string>{"Conv"}));
}

TEST(LayoutOptimizerTest, LeavesDenseConvNetworksAlone) {
  // Two dense 3x3 convolutions and one 1x1: ResNet-like, stays NCHW.
  ModelBuilder b;
  b.Input("x", kFloat, {1, 4, 8, 8})
      .Initializer("w1", RandomTensor({4, 4, 3, 3}, 1))
      .Initializer("w2", RandomTensor({4, 4, 3, 3}, 2))
      .Initializer("w3", RandomTensor({4, 4, 1, 1}, 3))
      .Node("Conv", {"x", "w1"}, {"a"}, {Attr("pads", std::vector<int64_t>{1, 1, 1, 1})})
      .Node("Conv", {"a", "w2"}, {"b"}, {Attr("pads", std::vector<int64_t>{1, 1, 1, 1})})
      .Node("Conv", {"b", "w3"}, {"y"})
      .Output("y", {1, 4, 8, 8});
  auto model = ParseAndValidateModel(b.Bytes());
  ASSERT_TRUE(model.ok()) << model.status();
  auto graph = Graph::FromModel(*model);
  ASSERT_TRUE(graph.ok());
  EXPECT_EQ(OptimizeConvLayout(*graph, 1), 0);
  EXPECT_EQ(OpTypes(*graph), (std::vector<std::string>{"Conv", "Conv", "Conv"}));
}

// A ResNet basic block with 8/16 channels: dense convolutions go blocked.
ModelBuilder DenseBlock() {
  ModelBuilder b;
  b.Input("x", kFloat, {-1, 3, 16, 16})
      .Initializer("w_stem", RandomTensor({8, 3, 3, 3}, 1))
      .Initializer("w1", RandomTensor({16, 8, 3, 3}, 2))
      .Initializer("w2", RandomTensor({16, 16, 3, 3}, 3))
      .Initializer("wd", RandomTensor({16, 8, 1, 1}, 4))
      .Node("Conv", {"x", "w_stem"}, {"stem"}, {Attr("pads", std::vector<int64_t>{1, 1, 1, 1})})
      .Node("Relu", {"stem"}, {"s"})
      .Node("MaxPool", {"s"}, {"p"}, {Attr("kernel_shape", std::vector<int64_t>{2, 2}),
                                      Attr("strides", std::vector<int64_t>{2, 2})})
      .Node("Conv", {"p", "w1"}, {"c1"}, {Attr("pads", std::vector<int64_t>{1, 1, 1, 1})})
      .Node("Relu", {"c1"}, {"r1"})
      .Node("Conv", {"r1", "w2"}, {"c2"}, {Attr("pads", std::vector<int64_t>{1, 1, 1, 1})})
      .Node("Conv", {"p", "wd"}, {"d"})
      .Node("Add", {"c2", "d"}, {"a"})
      .Node("Relu", {"a"}, {"y"})
      .Node("GlobalAveragePool", {"y"}, {"g"})
      .Output("g", {-1, 16, 1, 1});
  return b;
}

TEST(LayoutOptimizerTest, DenseNetworkGoesBlocked) {
  ModelBuilder b = DenseBlock();
  Graph graph = FoldAndFuse(b.Bytes());
  EXPECT_EQ(OptimizeConvLayout(graph), 3);
  // The stem (3 input channels) and the pooling stay NCHW; one reorder in,
  // shared by both branches, one reorder out before the global pooling.
  EXPECT_EQ(OpTypes(graph), (std::vector<std::string>{"ai.tessera.FusedConv", "MaxPool", "ai.tessera.ReorderLayout",
                                                   "ai.tessera.FusedConv", "ai.tessera.FusedConv",
                                                   "ai.tessera.FusedConv", "ai.tessera.ReorderLayout",
                                                   "GlobalAveragePool"}));
}

TEST(LayoutOptimizerTest, BlockedEngineResultsMatchUnoptimized) {
  ModelBuilder b = DenseBlock();
  for (int64_t batch : {1, 3}) {
    ExpectOptimizedMatchesReference(b.Bytes(), {{"x", RandomTensor({batch, 3, 16, 16}, 8)}});
  }
}

TEST(LayoutOptimizerTest, EngineResultsMatchUnoptimized) {
  ModelBuilder b = MobileBlock();
  for (int64_t batch : {1, 2}) {
    ExpectOptimizedMatchesReference(b.Bytes(), {{"x", RandomTensor({batch, 8, 10, 10}, 7)}});
  }
}

}  // namespace
}  // namespace tessera::engine
