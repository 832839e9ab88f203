#include "tests/worker/engine/engine_test_util.h"

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

}  // namespace tessera::engine::testing
