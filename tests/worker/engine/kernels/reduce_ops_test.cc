#include <cmath>
#include <limits>
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
using testing::KernelTestCase;
using testing::RunKernel;
using testing::TensorsNear;

constexpr float kInf = std::numeric_limits<float>::infinity();

// x = [[[1,2],[3,4]],[[5,6],[7,8]]], shape [2,2,2].
Tensor Cube() { return Tensor::FromVector<float>({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}); }

Tensor Reduce(const std::string& op, const Tensor& x, std::vector<int64_t> axes, int64_t keepdims = 1, int opset = 13) {
  KernelTestCase tc = Case(op, opset, {}, {x});
  if (!axes.empty()) tc.attrs.push_back(Attr("axes", axes));
  tc.attrs.push_back(Attr("keepdims", keepdims));
  auto out = RunKernel(tc);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

TEST(ReduceOps, EachOpOverMiddleAxis) {
  const Tensor x = Cube();
  EXPECT_TRUE(TensorsNear(Reduce("ReduceSum", x, {1}, 1, 11), Tensor::FromVector<float>({2, 1, 2}, {4, 6, 12, 14})));
  EXPECT_TRUE(TensorsNear(Reduce("ReduceMean", x, {1}), Tensor::FromVector<float>({2, 1, 2}, {2, 3, 6, 7})));
  EXPECT_TRUE(TensorsNear(Reduce("ReduceMax", x, {1}), Tensor::FromVector<float>({2, 1, 2}, {3, 4, 7, 8})));
  EXPECT_TRUE(TensorsNear(Reduce("ReduceMin", x, {1}), Tensor::FromVector<float>({2, 1, 2}, {1, 2, 5, 6})));
  EXPECT_TRUE(TensorsNear(Reduce("ReduceProd", x, {1}), Tensor::FromVector<float>({2, 1, 2}, {3, 8, 35, 48})));
  EXPECT_TRUE(
      TensorsNear(Reduce("ReduceSumSquare", x, {1}), Tensor::FromVector<float>({2, 1, 2}, {10, 20, 74, 100})));
  EXPECT_TRUE(TensorsNear(Reduce("ReduceL1", x, {1}), Tensor::FromVector<float>({2, 1, 2}, {4, 6, 12, 14})));
  EXPECT_TRUE(TensorsNear(Reduce("ReduceL2", x, {1}),
                          Tensor::FromVector<float>({2, 1, 2}, {std::sqrt(10.f), std::sqrt(20.f), std::sqrt(74.f),
                                                               10.f})));
  EXPECT_TRUE(TensorsNear(Reduce("ReduceLogSum", x, {1}),
                          Tensor::FromVector<float>({2, 1, 2}, {std::log(4.f), std::log(6.f), std::log(12.f),
                                                               std::log(14.f)})));
  EXPECT_TRUE(TensorsNear(
      Reduce("ReduceLogSumExp", x, {1}),
      Tensor::FromVector<float>({2, 1, 2}, {std::log(std::exp(1.f) + std::exp(3.f)), std::log(std::exp(2.f) + std::exp(4.f)),
                                           std::log(std::exp(5.f) + std::exp(7.f)),
                                           std::log(std::exp(6.f) + std::exp(8.f))})));
}

TEST(ReduceOps, AxesPatternsAndKeepdims) {
  const Tensor x = Cube();
  // Innermost axis, no keepdims.
  EXPECT_TRUE(TensorsNear(Reduce("ReduceSum", x, {2}, 0, 11), Tensor::FromVector<float>({2, 2}, {3, 7, 11, 15})));
  // Outer axis.
  EXPECT_TRUE(TensorsNear(Reduce("ReduceMax", x, {0}, 0), Tensor::FromVector<float>({2, 2}, {5, 6, 7, 8})));
  // Non-adjacent axes {0, 2}, negative spelling.
  EXPECT_TRUE(TensorsNear(Reduce("ReduceSum", x, {0, -1}, 1, 11), Tensor::FromVector<float>({1, 2, 1}, {14, 22})));
  // All axes (empty attribute).
  EXPECT_TRUE(TensorsNear(Reduce("ReduceMean", x, {}, 0), Tensor::FromVector<float>({}, {4.5f})));
  EXPECT_TRUE(TensorsNear(Reduce("ReduceProd", x, {}, 1), Tensor::FromVector<float>({1, 1, 1}, {40320})));
  // Reducing a size-1 axis is an element-wise finalization.
  const Tensor col = Tensor::FromVector<float>({3, 1}, {-1, 2, -3});
  EXPECT_TRUE(TensorsNear(Reduce("ReduceL2", col, {1}, 0), Tensor::FromVector<float>({3}, {1, 2, 3})));
  EXPECT_TRUE(TensorsNear(Reduce("ReduceSumSquare", col, {1}, 0), Tensor::FromVector<float>({3}, {1, 4, 9})));
}

TEST(ReduceOps, ReduceSumAxesInputOpset13) {
  const Tensor x = Cube();
  auto out = RunKernel(Case("ReduceSum", 13, {Attr("keepdims", int64_t{0})}, {x, Tensor::FromVector<int64_t>({1}, {-2})}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({2, 2}, {4, 6, 12, 14})));
  // No axes input: reduce everything.
  out = RunKernel(Case("ReduceSum", 13, {}, {x}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({1, 1, 1}, {36})));
  // Empty axes input with noop_with_empty_axes: identity.
  out = RunKernel(Case("ReduceSum", 13, {Attr("noop_with_empty_axes", int64_t{1})}, {x, Tensor::FromVector<int64_t>({0}, {})}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], x));
  // Empty axes input without noop: reduce everything.
  out = RunKernel(Case("ReduceSum", 13, {}, {x, Tensor::FromVector<int64_t>({0}, {})}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({1, 1, 1}, {36})));
}

TEST(ReduceOps, Opset18AxesInputForOtherOps) {
  auto out = RunKernel(Case("ReduceMax", 18, {Attr("keepdims", int64_t{0})}, {Cube(), Tensor::FromVector<int64_t>({1}, {2})}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({2, 2}, {2, 4, 6, 8})));
}

// The ONNX test_reduce_*_empty_set cases: data [2,0,4], axes [1], keepdims 1.
TEST(ReduceOps, EmptySetGivesIdentity) {
  const Tensor empty = Tensor::FromVector<float>({2, 0, 4}, {});
  auto expect_fill = [&](const std::string& op, float value) {
    SCOPED_TRACE(op);
    auto out = RunKernel(Case(op, 18, {}, {empty, Tensor::FromVector<int64_t>({1}, {1})}));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({2, 1, 4}, std::vector<float>(8, value))));
  };
  expect_fill("ReduceSum", 0);
  expect_fill("ReduceSumSquare", 0);
  expect_fill("ReduceL1", 0);
  expect_fill("ReduceL2", 0);
  expect_fill("ReduceProd", 1);
  expect_fill("ReduceMax", -kInf);
  expect_fill("ReduceMin", kInf);
  expect_fill("ReduceLogSum", -kInf);
  expect_fill("ReduceLogSumExp", -kInf);
  auto mean = RunKernel(Case("ReduceMean", 18, {}, {empty, Tensor::FromVector<int64_t>({1}, {1})}));
  ASSERT_TRUE(mean.ok());
  EXPECT_TRUE(std::isnan((*mean)[0].GetAsDouble(0)));
  // Empty int32 max: the lowest int32.
  auto imax = RunKernel(Case("ReduceMax", 13, {Attr("axes", std::vector<int64_t>{1})}, {Tensor::FromVector<int32_t>({2, 0}, {})}));
  ASSERT_TRUE(imax.ok());
  EXPECT_EQ((*imax)[0].GetAsInt64(1), std::numeric_limits<int32_t>::lowest());
  // Kept dimension of size 0: empty output.
  auto none = RunKernel(Case("ReduceSum", 11, {Attr("axes", std::vector<int64_t>{1})}, {Tensor::FromVector<float>({0, 3}, {})}));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)[0].shape(), (Shape{0, 1}));
}

TEST(ReduceOps, IntegerAndDoubleTypes) {
  const Tensor xi = Tensor::FromVector<int32_t>({2, 3}, {1, -2, 3, 4, 5, -6});
  auto out = RunKernel(Case("ReduceSum", 11, {Attr("axes", std::vector<int64_t>{1})}, {xi}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int32_t>({2, 1}, {2, 3})));
  out = RunKernel(Case("ReduceL1", 11, {Attr("axes", std::vector<int64_t>{0})}, {Tensor::FromVector<int64_t>({2, 3}, {1, -2, 3, 4, 5, -6})}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({1, 3}, {5, 7, 9})));
  out = RunKernel(Case("ReduceMin", 13, {Attr("keepdims", int64_t{0})}, {Tensor::FromVector<uint8_t>({3}, {7, 2, 9})}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<uint8_t>({}, {2})));
  out = RunKernel(Case("ReduceMean", 13, {Attr("axes", std::vector<int64_t>{1})}, {Tensor::FromVector<double>({2, 2}, {1, 2, 3, 5})}));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<double>({2, 1}, {1.5, 4})));
}

// Large random inputs (parallel, vectorized paths) against a naive sum.
TEST(ReduceOps, LargeMatchesNaive) {
  const Shape shape = {6, 37, 5, 129};
  std::vector<float> data(NumElements(shape));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (float& v : data) v = dist(rng);
  const Tensor x = Tensor::FromVector<float>(shape, data);
  const std::vector<std::vector<int64_t>> axes_sets = {{3}, {0}, {1}, {1, 3}, {0, 2}, {0, 1, 2, 3}, {2, 3}};
  for (const auto& axes : axes_sets) {
    std::vector<bool> red(4, false);
    for (auto a : axes) red[a] = true;
    Shape out_shape;
    for (int d = 0; d < 4; ++d) out_shape.push_back(red[d] ? 1 : shape[d]);
    std::vector<double> sum(NumElements(out_shape), 0.0), mx(NumElements(out_shape), -1e30);
    std::vector<int64_t> out_index(x.num_elements());
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      int64_t rem = i, o = 0, mul = 1;
      for (int d = 3; d >= 0; --d) {
        const int64_t idx = rem % shape[d];
        rem /= shape[d];
        o += (red[d] ? 0 : idx) * mul;
        mul *= out_shape[d];
      }
      out_index[i] = o;
      sum[o] += data[i];
      mx[o] = std::max<double>(mx[o], data[i]);
    }
    std::vector<double> sum_exp(sum.size(), 0.0);
    for (int64_t i = 0; i < x.num_elements(); ++i) sum_exp[out_index[i]] += std::exp(data[i] - mx[out_index[i]]);
    std::vector<float> sumf(sum.begin(), sum.end()), mxf(mx.begin(), mx.end()), lse(sum.size());
    for (size_t o = 0; o < sum.size(); ++o) lse[o] = static_cast<float>(mx[o] + std::log(sum_exp[o]));
    EXPECT_TRUE(TensorsNear(Reduce("ReduceSum", x, axes, 1, 11), Tensor::FromVector<float>(out_shape, sumf), 1e-4, 1e-4));
    EXPECT_TRUE(TensorsNear(Reduce("ReduceMax", x, axes), Tensor::FromVector<float>(out_shape, mxf)));
    EXPECT_TRUE(TensorsNear(Reduce("ReduceLogSumExp", x, axes), Tensor::FromVector<float>(out_shape, lse), 1e-5, 1e-5));
  }
}

TEST(ReduceOps, BadInputs) {
  auto out = RunKernel(Case("ReduceSum", 11, {Attr("axes", std::vector<int64_t>{3})}, {Cube()}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("axis 3 is out of range"), std::string::npos) << out.status();
  out = RunKernel(Case("ReduceMean", 17, {Attr("axes", std::vector<int64_t>{1, -2})}, {Cube()}));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("repeated"), std::string::npos) << out.status();
  out = RunKernel(Case("ReduceSum", 13, {}, {Cube(), Tensor::FromVector<float>({1}, {1})}));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("axes input"), std::string::npos) << out.status();
  out = RunKernel(Case("ReduceSum", 17, {}, {Tensor::FromVector<bool>({2}, {true, false})}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(out.status().message().find("bool"), std::string::npos) << out.status();
}

}  // namespace
}  // namespace tessera::engine
