#include "tests/worker/engine/engine_test_util.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/constant_folding.h"
#include "worker/engine/fusion.h"
#include "worker/engine/model_validator.h"

namespace tessera::engine::testing {

void ExpectOptimizedMatchesReference(const std::string& model_bytes, const std::vector<NamedTensor>& inputs,
                                     double tolerance) {
  EngineOptions plain;
  plain.optimize = false;
  auto optimized = Engine::LoadFromBytes(model_bytes);
  auto reference = Engine::LoadFromBytes(model_bytes, plain);
  ASSERT_TRUE(optimized.ok()) << optimized.status();
  ASSERT_TRUE(reference.ok()) << reference.status();
  auto actual = (*optimized)->Run(inputs);
  auto expected = (*reference)->Run(inputs);
  ASSERT_TRUE(actual.ok()) << actual.status();
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_EQ(actual->size(), expected->size());
  for (size_t i = 0; i < actual->size(); ++i) {
    EXPECT_TRUE(TensorsNear((*actual)[i], (*expected)[i], tolerance, tolerance)) << "output " << i;
  }
}

Graph FoldAndFuse(const std::string& model_bytes) {
  auto model = ParseAndValidateModel(model_bytes);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return Graph();
  auto graph = Graph::FromModel(*model);
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return Graph();
  EXPECT_TRUE(FoldConstants(*graph, 1).ok());
  EXPECT_TRUE(FuseOperators(*graph).ok());
  return std::move(graph).value();
}

std::vector<std::string> OpTypes(const Graph& graph) {
  std::vector<std::string> ops;
  for (const auto& n : graph.nodes) ops.push_back(n.domain().empty() ? n.op_type() : n.domain() + "." + n.op_type());
  return ops;
}

void ImportSimDomain(ModelBuilder& b) {
  onnx::OperatorSetIdProto* imp = b.proto().add_opset_import();
  imp->set_domain(kSimDomain);
  imp->set_version(1);
}

std::string DelayChainModel(const std::vector<int64_t>& micros_per_sample) {
  ModelBuilder b;
  ImportSimDomain(b);
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 16});
  b.Initializer("one", Tensor::FromVector<float>({1}, {1.0f}));
  std::string prev = "x";
  for (size_t i = 0; i < micros_per_sample.size(); ++i) {
    const std::string delayed = absl::StrCat("delayed", i);
    b.Node("Delay", {prev}, {delayed}, {Attr("microseconds_per_sample", micros_per_sample[i])},
           absl::StrCat("delay", i), kSimDomain);
    prev = delayed;
    if (i + 1 < micros_per_sample.size()) {
      const std::string added = absl::StrCat("added", i);
      b.Node("Add", {prev, "one"}, {added}, {}, absl::StrCat("add", i));
      prev = added;
    }
  }
  b.Node("Identity", {prev}, {"y"}, {}, "out");
  b.Output("y", {-1, 16});
  return b.Bytes();
}

}  // namespace tessera::engine::testing
