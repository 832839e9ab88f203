#include "worker/engine/transformer_fusion.h"


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

// PyTorch's opset-14 export of LayerNorm(16) followed by GELU (erf form).
ModelBuilder EncoderTail(bool affine) {
  ModelBuilder b(14);
  b.Input("x", kFloat, {-1, 5, 16})
      .Initializer("two", Tensor::Scalar<float>(2.0f))
      .Initializer("eps", Tensor::Scalar<float>(1e-5f))
      .Initializer("gamma", RandomTensor({16}, 1))
      .Initializer("beta", RandomTensor({16}, 2))
      .Initializer("sqrt2", Tensor::Scalar<float>(1.4142135381698608f))
      .Initializer("one", Tensor::Scalar<float>(1.0f))
      .Initializer("half", Tensor::Scalar<float>(0.5f))
      .Node("ReduceMean", {"x"}, {"m"}, {Attr("axes", std::vector<int64_t>{-1})})
      .Node("Sub", {"x", "m"}, {"d"})
      .Node("Pow", {"d", "two"}, {"p"})
      .Node("ReduceMean", {"p"}, {"v"}, {Attr("axes", std::vector<int64_t>{-1})})
      .Node("Add", {"v", "eps"}, {"e"})
      .Node("Sqrt", {"e"}, {"s"})
      .Node("Div", {"d", "s"}, {"n"});
  std::string ln = "n";
  if (affine) {
    b.Node("Mul", {"n", "gamma"}, {"g"}).Node("Add", {"beta", "g"}, {"ln"});
    ln = "ln";
  }
  b.Node("Div", {ln, "sqrt2"}, {"a"})
      .Node("Erf", {"a"}, {"erf"})
      .Node("Add", {"erf", "one"}, {"c"})
      .Node("Mul", {ln, "c"}, {"xc"})
      .Node("Mul", {"xc", "half"}, {"y"})
      .Output("y", {-1, 5, 16});
  return b;
}

void ExpectSameResults(ModelBuilder& b) {
  ExpectOptimizedMatchesReference(b.Bytes(), {{"x", RandomTensor({3, 5, 16}, 3, -2.0f, 2.0f)}});
}

TEST(TransformerFusionTest, AffineLayerNormAndGelu) {
  ModelBuilder b = EncoderTail(true);
  EXPECT_EQ(OpTypes(FoldAndFuse(b.Bytes())), (std::vector<std::string>{"LayerNormalization", "ai.tessera.Gelu"}));
  ExpectSameResults(b);
}

TEST(TransformerFusionTest, LayerNormWithoutAffineTail) {
  ModelBuilder b = EncoderTail(false);
  EXPECT_EQ(OpTypes(FoldAndFuse(b.Bytes())), (std::vector<std::string>{"LayerNormalization", "ai.tessera.Gelu"}));
  ExpectSameResults(b);
}

TEST(TransformerFusionTest, GeluFoldsIntoPrecedingMatMul) {
  ModelBuilder b(14);
  b.Input("x", kFloat, {-1, 5, 16})
      .Initializer("w", RandomTensor({16, 16}, 4))
      .Initializer("bias", RandomTensor({16}, 5))
      .Initializer("sqrt2", Tensor::Scalar<float>(1.4142135381698608f))
      .Initializer("one", Tensor::Scalar<float>(1.0f))
      .Initializer("half", Tensor::Scalar<float>(0.5f))
      .Node("MatMul", {"x", "w"}, {"mm"})
      .Node("Add", {"bias", "mm"}, {"h"})
      .Node("Div", {"h", "sqrt2"}, {"a"})
      .Node("Erf", {"a"}, {"erf"})
      .Node("Add", {"erf", "one"}, {"c"})
      .Node("Mul", {"h", "c"}, {"xc"})
      .Node("Mul", {"xc", "half"}, {"y"})
      .Output("y", {-1, 5, 16});
  EXPECT_EQ(OpTypes(FoldAndFuse(b.Bytes())), (std::vector<std::string>{"ai.tessera.FusedMatMul"}));
  ExpectSameResults(b);
}

TEST(TransformerFusionTest, SharedIntermediateBlocksFusion) {
  ModelBuilder b(14);
  b.Input("x", kFloat, {2, 8})
      .Initializer("sqrt2", Tensor::Scalar<float>(1.4142135381698608f))
      .Initializer("one", Tensor::Scalar<float>(1.0f))
      .Initializer("half", Tensor::Scalar<float>(0.5f))
      .Node("Div", {"x", "sqrt2"}, {"a"})
      .Node("Erf", {"a"}, {"erf"})
      .Node("Add", {"erf", "one"}, {"c"})
      .Node("Mul", {"x", "c"}, {"xc"})
      .Node("Mul", {"xc", "half"}, {"y"})
      .Output("y", {2, 8})
      .Output("erf", {2, 8});  // the Erf result is needed elsewhere
  EXPECT_EQ(OpTypes(FoldAndFuse(b.Bytes())), (std::vector<std::string>{"Div", "Erf", "Add", "Mul", "Mul"}));
}

}  // namespace
}  // namespace tessera::engine
