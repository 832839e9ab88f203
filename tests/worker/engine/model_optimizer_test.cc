// OptimizeModel: the optimized export loads without re-optimizing and runs
// bit-identically to the original loaded with optimization, on real exported
// graphs (a ResNet-style CNN and a transformer encoder).
#include "worker/engine/model_optimizer.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "onnx/checker.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/engine.h"
#include "worker/engine/kernel_registry.h"

namespace tessera::engine {
namespace {

using testing::RandomTensor;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string TestModel(const std::string& name) { return ReadFile(std::string(TESSERA_TESTDATA_DIR) + "/" + name); }

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.byte_size()) == 0;
}

struct Case {
  const char* file;
  Shape input_shape;
};

class ModelOptimizerTest : public ::testing::TestWithParam<Case> {};

TEST_P(ModelOptimizerTest, ExportRunsBitIdenticallyWithoutReoptimizing) {
  const std::string bytes = TestModel(GetParam().file);
  ASSERT_FALSE(bytes.empty());
  auto optimized = OptimizeModelBytes(bytes, {.threads = 2});
  ASSERT_TRUE(optimized.ok()) << optimized.status();
  EXPECT_TRUE(IsOptimizedModel(*optimized));
  EXPECT_NO_THROW(onnx::checker::check_model(*optimized));
  bool fused = false;
  for (const auto& node : optimized->graph().node()) fused |= node.domain() == kTesseraDomain;
  EXPECT_TRUE(fused) << "expected ai.tessera nodes in the optimized graph";

  std::string exported;
  ASSERT_TRUE(optimized->SerializeToString(&exported));
  auto original_engine = Engine::LoadFromBytes(bytes, {.intra_op_threads = 2});
  ASSERT_TRUE(original_engine.ok()) << original_engine.status();
  // optimize = true on purpose: the marker must stop a second optimization.
  auto exported_engine = Engine::LoadFromBytes(exported, {.intra_op_threads = 2});
  ASSERT_TRUE(exported_engine.ok()) << exported_engine.status();
  auto plain_engine = Engine::LoadFromBytes(exported, {.intra_op_threads = 2, .optimize = false});
  ASSERT_TRUE(plain_engine.ok()) << plain_engine.status();

  const std::vector<NamedTensor> inputs = {{"input", RandomTensor(GetParam().input_shape, 7)}};
  for (int run = 0; run < 2; ++run) {  // the recording run and a planned run
    auto expected = (*original_engine)->Run(inputs);
    auto actual = (*exported_engine)->Run(inputs);
    auto plain = (*plain_engine)->Run(inputs);
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(actual.ok()) << actual.status();
    ASSERT_TRUE(plain.ok()) << plain.status();
    ASSERT_EQ(actual->size(), expected->size());
    for (size_t i = 0; i < expected->size(); ++i) {
      EXPECT_TRUE(SameBytes((*actual)[i], (*expected)[i])) << "output " << i << " run " << run;
      EXPECT_TRUE(SameBytes((*plain)[i], (*expected)[i])) << "output " << i << " run " << run;
    }
  }
}

TEST_P(ModelOptimizerTest, OptimizingTwiceIsTheIdentity) {
  auto once = OptimizeModelBytes(TestModel(GetParam().file), {.threads = 2});
  ASSERT_TRUE(once.ok()) << once.status();
  auto twice = OptimizeModel(*once, {.threads = 2});
  ASSERT_TRUE(twice.ok()) << twice.status();
  EXPECT_EQ(twice->graph().node_size(), once->graph().node_size());
  EXPECT_EQ(twice->graph().initializer_size(), once->graph().initializer_size());
}

TEST_P(ModelOptimizerTest, TraceReportsEveryNodeWithConcreteShapes) {
  auto optimized = OptimizeModelBytes(TestModel(GetParam().file), {.threads = 2});
  ASSERT_TRUE(optimized.ok()) << optimized.status();
  std::string exported;
  ASSERT_TRUE(optimized->SerializeToString(&exported));
  auto engine = Engine::LoadFromBytes(exported, {.intra_op_threads = 2});
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto trace = (*engine)->Trace({{"input", RandomTensor(GetParam().input_shape, 3)}}, 2);
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(static_cast<int>(trace->size()), optimized->graph().node_size());
  for (size_t i = 0; i < trace->size(); ++i) {
    const NodeTrace& t = (*trace)[i];
    const auto& node = optimized->graph().node(static_cast<int>(i));
    EXPECT_EQ(t.name, node.name());
    ASSERT_EQ(static_cast<int>(t.outputs.size()), node.output_size());
    EXPECT_EQ(t.outputs[0].name, node.output(0));
    EXPECT_NE(t.outputs[0].dtype, DataType::kUndefined);
    EXPECT_GE(t.ms, 0);
  }
  EXPECT_FALSE((*engine)->Trace({{"input", RandomTensor(GetParam().input_shape, 3)}}, 0).ok());
}

INSTANTIATE_TEST_SUITE_P(RealModels, ModelOptimizerTest,
                         ::testing::Values(Case{"planner_resnet.onnx", {1, 3, 32, 32}},
                                           Case{"planner_transformer.onnx", {2, 7, 32}}),
                         [](const auto& info) { return std::string(info.index == 0 ? "Resnet" : "Transformer"); });

TEST(ModelOptimizerTest, GarbageIsInvalidArgument) {
  auto result = OptimizeModelBytes("not a model");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::engine
