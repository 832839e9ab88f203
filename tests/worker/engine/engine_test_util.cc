#include "tests/worker/engine/engine_test_util.h"

#include <random>

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"

namespace tessera::engine::testing {

Tensor RandomTensor(Shape shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::Allocate(DataType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

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

}  // namespace tessera::engine::testing
