// MatMul / FusedMatMul against a naive reference (NumPy semantics).
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"

// Cases are built with designated initializers that leave the other fields at
// their defaults (as kernel_test_util.h shows); GCC's -Wextra flags that.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tessera::engine::testing {
namespace {

// numpy.matmul in double, returned as float32 (or as `type`).
Tensor ReferenceMatMul(const Tensor& a_in, const Tensor& b_in) {
  Shape as = a_in.shape(), bs = b_in.shape();
  const bool av = as.size() == 1, bv = bs.size() == 1;
  if (av) as.insert(as.begin(), 1);
  if (bv) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  const size_t rank = std::max(as.size(), bs.size());
  as.insert(as.begin(), rank - as.size(), 1);
  bs.insert(bs.begin(), rank - bs.size(), 1);
  Shape batch(rank - 2);
  for (size_t i = 0; i + 2 < rank; ++i) batch[i] = std::max(as[i], bs[i]);
  Shape out = batch;
  if (!av) out.push_back(m);
  if (!bv) out.push_back(n);
  Tensor y = Tensor::Allocate(a_in.dtype(), out);
  const int64_t count = NumElements(batch);
  for (int64_t bi = 0; bi < count; ++bi) {
    int64_t rest = bi, a_off = 0, b_off = 0, a_stride = 1, b_stride = 1;
    for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
      const int64_t c = rest % batch[d];
      rest /= batch[d];
      a_off += (as[d] == 1 ? 0 : c) * a_stride;
      b_off += (bs[d] == 1 ? 0 : c) * b_stride;
      a_stride *= as[d];
      b_stride *= bs[d];
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          acc += a_in.GetAsDouble(a_off * m * k + i * k + p) * b_in.GetAsDouble(b_off * k * n + p * n + j);
        }
        const int64_t idx = (bi * m + i) * n + j;
        if (y.dtype() == DataType::kFloat32) y.data<float>()[idx] = static_cast<float>(acc);
        if (y.dtype() == DataType::kFloat64) y.data<double>()[idx] = acc;
        if (y.dtype() == DataType::kInt32) y.data<int32_t>()[idx] = static_cast<int32_t>(acc);
        if (y.dtype() == DataType::kInt64) y.data<int64_t>()[idx] = static_cast<int64_t>(acc);
      }
    }
  }
  return y;
}

struct MatMulCase {
  Shape a, b;
};

class MatMulAgainstReference : public ::testing::TestWithParam<MatMulCase> {};

TEST_P(MatMulAgainstReference, MatchesNumpy) {
  const Tensor a = RandomTensor(GetParam().a, 1), b = RandomTensor(GetParam().b, 2);
  const Tensor expected = ReferenceMatMul(a, b);
  for (bool constant : {false, true}) {
    for (int threads : {1, 2}) {
      auto out = RunKernel({.op_type = "MatMul", .inputs = {a, b}, .inputs_constant = constant, .threads = threads});
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_TRUE(TensorsNear((*out)[0], expected, 1e-4, 1e-4)) << "constant=" << constant << " threads=" << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MatMulAgainstReference,
    ::testing::Values(MatMulCase{{3, 4}, {4, 5}}, MatMulCase{{4}, {4, 5}}, MatMulCase{{3, 4}, {4}},
                      MatMulCase{{4}, {4}}, MatMulCase{{2, 3, 4}, {4, 5}}, MatMulCase{{4}, {2, 4, 5}},
                      MatMulCase{{2, 3, 4}, {4}}, MatMulCase{{2, 1, 3, 4}, {5, 4, 6}},
                      MatMulCase{{3, 4}, {2, 4, 6}}, MatMulCase{{1, 3, 4}, {2, 4, 6}},
                      MatMulCase{{2, 4, 64, 64}, {2, 4, 64, 64}}, MatMulCase{{2, 64, 256}, {256, 96}},
                      MatMulCase{{1, 130}, {130, 300}}, MatMulCase{{3, 0}, {0, 2}}, MatMulCase{{0, 3}, {3, 2}}));

TEST(MatMulTest, IntegerAndDoubleTypes) {
  const Tensor ai = Tensor::FromVector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor bi = Tensor::FromVector<int32_t>({3, 2}, {7, 8, 9, 10, 11, 12});
  auto out = RunKernel({.op_type = "MatMul", .inputs = {ai, bi}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int32_t>({2, 2}, {58, 64, 139, 154})));
  const Tensor al = Tensor::FromVector<int64_t>({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor bl = Tensor::FromVector<int64_t>({2}, {1, -1});
  out = RunKernel({.op_type = "MatMul", .inputs = {al, bl}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({2, 2}, {-1, -1, -1, -1})));
  const Tensor ad = Tensor::FromVector<double>({1, 3}, {0.5, 1.5, 2.0});
  const Tensor bd = Tensor::FromVector<double>({3, 1}, {2.0, 2.0, 0.25});
  out = RunKernel({.op_type = "MatMul", .inputs = {ad, bd}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<double>({1, 1}, {4.5})));
}

struct FusedMatMulCase {
  Shape a, b;
  bool bias;
  std::string activation;
  std::vector<float> params;
};

class FusedMatMulTest : public ::testing::TestWithParam<FusedMatMulCase> {};

TEST_P(FusedMatMulTest, MatchesMatMulBiasActivation) {
  const FusedMatMulCase& c = GetParam();
  const Tensor a = RandomTensor(c.a, 3), b = RandomTensor(c.b, 4), bias = RandomTensor({c.b.back()}, 5);
  Tensor expected = ReferenceMatMul(a, b);
  const int64_t n = c.b.back();
  for (int64_t i = 0; i < expected.num_elements(); ++i) {
    float v = expected.data<float>()[i] + (c.bias ? bias.data<float>()[i % n] : 0.0f);
    if (c.activation == "Relu") v = std::max(v, 0.0f);
    if (c.activation == "Clip") v = std::min(std::max(v, c.params[0]), c.params[1]);
    if (c.activation == "Tanh") v = std::tanh(v);
    if (c.activation == "Sigmoid") v = 1.0f / (1.0f + std::exp(-v));
    if (c.activation == "LeakyRelu") v = v < 0 ? c.params[0] * v : v;
    expected.data<float>()[i] = v;
  }
  for (bool constant : {false, true}) {
    KernelTestCase tc{.op_type = "FusedMatMul", .domain = "ai.tessera", .inputs = {a, b}, .inputs_constant = constant};
    if (c.bias) tc.inputs.push_back(bias);
    if (!c.activation.empty()) tc.attrs.push_back(Attr("activation", c.activation));
    if (!c.params.empty()) tc.attrs.push_back(Attr("activation_params", c.params));
    auto out = RunKernel(tc);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(TensorsNear((*out)[0], expected, 1e-4, 1e-4)) << c.activation << " constant=" << constant;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, FusedMatMulTest,
                         ::testing::Values(FusedMatMulCase{{2, 8, 32}, {32, 48}, true, "", {}},
                                           FusedMatMulCase{{2, 8, 32}, {32, 48}, true, "Relu", {}},
                                           FusedMatMulCase{{5, 32}, {32, 16}, false, "Tanh", {}},
                                           FusedMatMulCase{{3, 2, 7, 16}, {3, 1, 16, 9}, true, "Clip", {-0.2f, 0.3f}},
                                           FusedMatMulCase{{16}, {16, 24}, true, "Sigmoid", {}},
                                           FusedMatMulCase{{64, 256}, {256, 64}, true, "LeakyRelu", {0.1f}}));

TEST(MatMulTest, InnerDimensionMismatchIsInvalidArgument) {
  auto out = RunKernel({.op_type = "MatMul", .inputs = {RandomTensor({2, 3}, 1), RandomTensor({4, 5}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("inner"), std::string::npos) << out.status();
}

TEST(MatMulTest, BatchMismatchIsInvalidArgument) {
  auto out = RunKernel({.op_type = "MatMul", .inputs = {RandomTensor({2, 3, 4}, 1), RandomTensor({3, 4, 5}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("batch"), std::string::npos) << out.status();
}

TEST(MatMulTest, ScalarIsInvalidArgument) {
  auto out = RunKernel({.op_type = "MatMul", .inputs = {Tensor::Scalar<float>(1.0f), RandomTensor({1}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("rank"), std::string::npos) << out.status();
}

TEST(MatMulTest, MixedTypesAreInvalidArgumentAndBoolIsUnimplemented) {
  auto out = RunKernel({.op_type = "MatMul", .inputs = {RandomTensor({2, 2}, 1), Tensor::Zeros(DataType::kFloat64, {2, 2})}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  out = RunKernel({.op_type = "MatMul", .inputs = {Tensor::Zeros(DataType::kBool, {2, 2}), Tensor::Zeros(DataType::kBool, {2, 2})}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(out.status().message().find("bool"), std::string::npos);
}

TEST(FusedMatMulTest, WrongBiasSizeIsInvalidArgument) {
  auto out = RunKernel({.op_type = "FusedMatMul", .domain = "ai.tessera",
                        .inputs = {RandomTensor({2, 3}, 1), RandomTensor({3, 4}, 2), RandomTensor({3}, 3)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("bias"), std::string::npos) << out.status();
}

}  // namespace
}  // namespace tessera::engine::testing
