#include <cmath>
#include <random>
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

// Softmax of each group of `n` consecutive values of `x` (double precision).
std::vector<float> RowSoftmax(const std::vector<float>& x, int64_t n, bool log) {
  std::vector<float> y(x.size());
  for (size_t r = 0; r < x.size() / n; ++r) {
    double mx = -1e300, sum = 0;
    for (int64_t i = 0; i < n; ++i) mx = std::max<double>(mx, x[r * n + i]);
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[r * n + i] - mx);
    for (int64_t i = 0; i < n; ++i) {
      y[r * n + i] = static_cast<float>(log ? x[r * n + i] - mx - std::log(sum) : std::exp(x[r * n + i] - mx) / sum);
    }
  }
  return y;
}

TEST(Softmax, LastAxisHandComputed) {
  const Tensor x = Tensor::FromVector<float>({2, 3}, {1, 2, 3, 0, 0, 0});
  const float e1 = std::exp(1.f), e2 = std::exp(2.f), e3 = std::exp(3.f), s = e1 + e2 + e3;
  auto out = RunKernel(Case("Softmax", 13, {}, {x}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({2, 3}, {e1 / s, e2 / s, e3 / s, 1.f / 3, 1.f / 3,
                                                                         1.f / 3})));
  out = RunKernel(Case("LogSoftmax", 13, {}, {x}));
  ASSERT_TRUE(out.ok()) << out.status();
  const float ls = std::log(s), l3 = std::log(3.f);
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({2, 3}, {1 - ls, 2 - ls, 3 - ls, -l3, -l3, -l3})));
}

TEST(Softmax, LargeValuesAreStable) {
  const Tensor x = Tensor::FromVector<float>({1, 3}, {10000, 10001, 10002});
  auto out = RunKernel(Case("Softmax", 13, {}, {x}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({1, 3}, RowSoftmax({0, 1, 2}, 3, false))));
  out = RunKernel(Case("LogSoftmax", 13, {}, {x}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({1, 3}, RowSoftmax({0, 1, 2}, 3, true))));
  // -inf entries give exactly 0 probability.
  out = RunKernel(Case("Softmax", 13, {}, {Tensor::FromVector<float>({2}, {-INFINITY, 0})}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({2}, {0, 1})));
}

TEST(Softmax, Opset11CoercesTo2D) {
  // axis=1 on [2,2,2]: each batch row of 4 values is normalized together.
  std::vector<float> v = {1, 2, 3, 4, -1, 0, 5, 2};
  const Tensor x = Tensor::FromVector<float>({2, 2, 2}, v);
  auto out = RunKernel(Case("Softmax", 11, {}, {x}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({2, 2, 2}, RowSoftmax(v, 4, false))));
  out = RunKernel(Case("LogSoftmax", 1, {Attr("axis", int64_t{0})}, {x}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({2, 2, 2}, RowSoftmax(v, 8, true))));
}

TEST(Softmax, Opset13MiddleAxis) {
  // axis=1 on [2,3,2]: normalize over the 3 values at stride 2.
  std::vector<float> v = {1, 6, 2, 5, 3, 4, 0, 0, -1, 1, 2, 2};
  auto out = RunKernel(Case("Softmax", 13, {Attr("axis", int64_t{1})}, {Tensor::FromVector<float>({2, 3, 2}, v)}));
  ASSERT_TRUE(out.ok()) << out.status();
  // Transpose to rows, normalize, transpose back.
  std::vector<float> rows(12), expected(12);
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 2; ++j) rows[b * 6 + j * 3 + i] = v[b * 6 + i * 2 + j];
  const std::vector<float> norm = RowSoftmax(rows, 3, false);
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 2; ++j) expected[b * 6 + i * 2 + j] = norm[b * 6 + j * 3 + i];
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({2, 3, 2}, expected)));
}

TEST(Softmax, AttentionShapeMatchesReference) {
  const Shape shape = {2, 4, 64, 64};
  std::vector<float> v(NumElements(shape));
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0, 4);
  for (float& f : v) f = dist(rng);
  const Tensor x = Tensor::FromVector<float>(shape, v);
  for (bool log : {false, true}) {
    auto out = RunKernel(Case(log ? "LogSoftmax" : "Softmax", 13, {}, {x}));
    ASSERT_TRUE(out.ok());
    EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>(shape, RowSoftmax(v, 64, log)), 1e-5, 1e-6));
  }
}

TEST(Softmax, Float64) {
  auto out = RunKernel(Case("Softmax", 13, {}, {Tensor::FromVector<double>({2}, {0, std::log(3.0)})}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<double>({2}, {0.25, 0.75}), 1e-12, 1e-14));
}

TEST(Softmax, BadInputs) {
  auto out = RunKernel(Case("Softmax", 13, {Attr("axis", int64_t{2})}, {Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4})}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("axis 2 is out of range"), std::string::npos) << out.status();
  out = RunKernel(Case("LogSoftmax", 13, {}, {Tensor::FromVector<int32_t>({2}, {1, 2})}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(out.status().message().find("int32"), std::string::npos) << out.status();
}

}  // namespace
}  // namespace tessera::engine
