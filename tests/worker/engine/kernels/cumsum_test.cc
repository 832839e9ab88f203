#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "tests/worker/engine/kernels/reduce_test_case.h"

namespace tessera::engine {
namespace {

using testing::Attr;
using testing::Case;
using testing::RunKernel;
using testing::TensorsNear;

Tensor Axis(int32_t a) { return Tensor::Scalar<int32_t>(a); }

TEST(CumSum, OneDimensionAllModes) {
  const Tensor x = Tensor::FromVector<float>({5}, {1, 2, 3, 4, 5});
  auto run = [&](int64_t exclusive, int64_t reverse) {
    auto out = RunKernel(Case("CumSum", 14, {Attr("exclusive", exclusive), Attr("reverse", reverse)},
                              {x, Tensor::Scalar<int64_t>(0)}));
    EXPECT_TRUE(out.ok()) << out.status();
    return (*out)[0];
  };
  EXPECT_TRUE(TensorsNear(run(0, 0), Tensor::FromVector<float>({5}, {1, 3, 6, 10, 15})));
  EXPECT_TRUE(TensorsNear(run(1, 0), Tensor::FromVector<float>({5}, {0, 1, 3, 6, 10})));
  EXPECT_TRUE(TensorsNear(run(0, 1), Tensor::FromVector<float>({5}, {15, 14, 12, 9, 5})));
  EXPECT_TRUE(TensorsNear(run(1, 1), Tensor::FromVector<float>({5}, {14, 12, 9, 5, 0})));
}

TEST(CumSum, TwoDimensionsBothAxes) {
  const Tensor x = Tensor::FromVector<double>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = RunKernel(Case("CumSum", 11, {}, {x, Axis(0)}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<double>({2, 3}, {1, 2, 3, 5, 7, 9})));
  out = RunKernel(Case("CumSum", 11, {}, {x, Axis(-1)}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<double>({2, 3}, {1, 3, 6, 4, 9, 15})));
  // Outer axis, exclusive + reverse, int32.
  out = RunKernel(Case("CumSum", 14, {Attr("exclusive", int64_t{1}), Attr("reverse", int64_t{1})},
                       {Tensor::FromVector<int32_t>({3, 2}, {1, 2, 3, 4, 5, 6}), Axis(0)}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int32_t>({3, 2}, {8, 10, 5, 6, 0, 0})));
  out = RunKernel(Case("CumSum", 14, {Attr("reverse", int64_t{1})},
                       {Tensor::FromVector<int64_t>({3, 2}, {1, 2, 3, 4, 5, 6}), Axis(0)}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({3, 2}, {9, 12, 8, 10, 5, 6})));
}

TEST(CumSum, BadInputs) {
  const Tensor x = Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = RunKernel(Case("CumSum", 14, {}, {x, Axis(2)}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("axis 2 is out of range"), std::string::npos) << out.status();
  out = RunKernel(Case("CumSum", 14, {}, {x, Tensor::Scalar<float>(0)}));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("axis must be int32 or int64"), std::string::npos) << out.status();
  out = RunKernel(Case("CumSum", 14, {}, {Tensor::FromVector<uint8_t>({2}, {1, 2}), Axis(0)}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace tessera::engine
