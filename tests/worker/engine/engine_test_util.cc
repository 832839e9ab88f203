#include "tests/worker/engine/engine_test_util.h"

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"

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

}  // namespace tessera::engine::testing
