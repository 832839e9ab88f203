#include <cmath>
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

// [[2,1],[3,10]] with ties added: [[2,2,1],[3,10,10]]
Tensor Data() { return Tensor::FromVector<float>({2, 3}, {2, 2, 1, 3, 10, 10}); }

TEST(ArgMinMax, DefaultAxisKeepdims) {
  auto out = RunKernel(Case("ArgMax", 13, {}, {Data()}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({1, 3}, {1, 1, 1})));
  out = RunKernel(Case("ArgMin", 13, {}, {Data()}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({1, 3}, {0, 0, 0})));
}

TEST(ArgMinMax, LastAxisTiesAndSelectLastIndex) {
  auto out = RunKernel(Case("ArgMax", 13, {Attr("axis", int64_t{-1}), Attr("keepdims", int64_t{0})}, {Data()}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({2}, {0, 1})));
  out = RunKernel(Case("ArgMax", 13,
                       {Attr("axis", int64_t{1}), Attr("keepdims", int64_t{0}), Attr("select_last_index", int64_t{1})},
                       {Data()}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({2}, {1, 2})));
  out = RunKernel(Case("ArgMin", 12, {Attr("axis", int64_t{1}), Attr("select_last_index", int64_t{1})},
                       {Tensor::FromVector<int32_t>({2, 3}, {5, 1, 1, 7, 7, 8})}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({2, 1}, {2, 1})));
}

TEST(ArgMinMax, MiddleAxisOtherTypes) {
  // [2,3,2] along axis 1.
  const std::vector<int64_t> v = {1, 9, 5, 2, 3, 4, 0, 0, -1, 7, 6, 7};
  auto out = RunKernel(Case("ArgMax", 11, {Attr("axis", int64_t{1})}, {Tensor::FromVector<int64_t>({2, 3, 2}, v)}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({2, 1, 2}, {1, 0, 2, 1})));
  out = RunKernel(Case("ArgMin", 11, {Attr("axis", int64_t{1}), Attr("keepdims", int64_t{0})},
                       {Tensor::FromVector<double>({2, 3, 2}, {1, 9, 5, 2, 3, 4, 0, 0, -1, 7, 6, 7})}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({2, 2}, {0, 1, 1, 0})));
  out = RunKernel(Case("ArgMax", 13, {Attr("axis", int64_t{0})}, {Tensor::FromVector<uint8_t>({3}, {4, 200, 3})}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({1}, {1})));
}

TEST(ArgMinMax, LongRowsUseVectorPassAndHandleNaN) {
  std::vector<float> v(2 * 100);
  for (int i = 0; i < 200; ++i) v[i] = static_cast<float>((i * 37) % 23);
  v[37] = 50;
  v[80] = 50;
  v[100 + 5] = -9;
  v[100 + 99] = -9;
  const Tensor x = Tensor::FromVector<float>({2, 100}, v);
  auto out = RunKernel(Case("ArgMax", 13, {Attr("axis", int64_t{1}), Attr("keepdims", int64_t{0})}, {x}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].GetAsInt64(0), 37);
  out = RunKernel(Case("ArgMax", 13,
                       {Attr("axis", int64_t{1}), Attr("keepdims", int64_t{0}), Attr("select_last_index", int64_t{1})},
                       {x}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].GetAsInt64(0), 80);
  out = RunKernel(Case("ArgMin", 13, {Attr("axis", int64_t{1}), Attr("keepdims", int64_t{0})}, {x}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].GetAsInt64(1), 5);
  // A NaN in the row is skipped, as in a sequential scan.
  v[10] = NAN;
  out = RunKernel(Case("ArgMax", 13, {Attr("axis", int64_t{1}), Attr("keepdims", int64_t{0})},
                       {Tensor::FromVector<float>({2, 100}, v)}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].GetAsInt64(0), 37);
}

TEST(ArgMinMax, BadInputs) {
  auto out = RunKernel(Case("ArgMax", 13, {Attr("axis", int64_t{2})}, {Data()}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("axis 2 is out of range"), std::string::npos) << out.status();
  out = RunKernel(Case("ArgMin", 13, {Attr("axis", int64_t{1})}, {Tensor::FromVector<float>({2, 0}, {})}));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("empty axis"), std::string::npos) << out.status();
  out = RunKernel(Case("ArgMax", 13, {}, {Tensor::FromVector<bool>({2}, {true, false})}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace tessera::engine
