// Gemm against a naive reference: alpha, beta, transA, transB, C broadcasting.
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

struct GemmCase {
  int64_t m, n, k;
  bool trans_a, trans_b;
  float alpha, beta;
  std::optional<Shape> c;  // nullopt: no C
};

class GemmAgainstReference : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmAgainstReference, MatchesNaive) {
  const GemmCase& g = GetParam();
  const Tensor a = RandomTensor(g.trans_a ? Shape{g.k, g.m} : Shape{g.m, g.k}, 1);
  const Tensor b = RandomTensor(g.trans_b ? Shape{g.n, g.k} : Shape{g.k, g.n}, 2);
  std::optional<Tensor> c;
  if (g.c) c = RandomTensor(*g.c, 3);
  Tensor expected = Tensor::Allocate(DataType::kFloat32, {g.m, g.n});
  for (int64_t i = 0; i < g.m; ++i) {
    for (int64_t j = 0; j < g.n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < g.k; ++p) {
        const float av = g.trans_a ? a.data<float>()[p * g.m + i] : a.data<float>()[i * g.k + p];
        const float bv = g.trans_b ? b.data<float>()[j * g.k + p] : b.data<float>()[p * g.n + j];
        acc += double(av) * bv;
      }
      double cv = 0;
      if (c) {
        const Shape& cs = c->shape();
        const int64_t ci = cs.size() == 2 ? (cs[0] == 1 ? 0 : i) : 0;
        const int64_t cj = cs.empty() ? 0 : (cs.back() == 1 ? 0 : j);
        cv = c->data<float>()[ci * (cs.empty() ? 1 : cs.back()) + cj];
      }
      expected.data<float>()[i * g.n + j] = static_cast<float>(g.alpha * acc + g.beta * cv);
    }
  }
  for (int threads : {1, 2}) {
   for (bool constant : {false, true}) {
    KernelTestCase tc{.op_type = "Gemm",
                      .attrs = {Attr("alpha", g.alpha), Attr("beta", g.beta), Attr("transA", int64_t{g.trans_a}),
                                Attr("transB", int64_t{g.trans_b})},
                      .inputs = {a, b},
                      .inputs_constant = constant,
                      .threads = threads};
    if (c) tc.inputs.push_back(*c);
    auto out = RunKernel(tc);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(TensorsNear((*out)[0], expected, 1e-4, 1e-4)) << "threads=" << threads << " constant=" << constant;
   }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GemmAgainstReference,
    ::testing::Values(GemmCase{3, 5, 4, false, false, 1.0f, 1.0f, Shape{3, 5}},
                      GemmCase{3, 5, 4, true, false, 0.5f, 2.0f, Shape{5}},
                      GemmCase{3, 5, 4, false, true, 1.0f, -1.0f, Shape{3, 1}},
                      GemmCase{3, 5, 4, true, true, 2.0f, 0.5f, Shape{1, 5}},
                      GemmCase{3, 5, 4, false, false, 1.0f, 1.0f, Shape{}},
                      GemmCase{3, 5, 4, false, false, 1.0f, 1.0f, Shape{1}},
                      GemmCase{3, 5, 4, false, false, 1.0f, 0.0f, Shape{3, 5}},
                      GemmCase{3, 5, 4, false, false, 1.0f, 1.0f, std::nullopt},
                      GemmCase{128, 1000, 512, false, true, 1.0f, 1.0f, Shape{1000}},  // ResNet classifier
                      GemmCase{1, 1000, 512, false, true, 1.0f, 1.0f, Shape{1000}},    // ... at batch 1 (oneDNN)
                      GemmCase{8, 100, 64, false, false, 1.0f, 1.0f, Shape{1, 100}},
                      GemmCase{4, 30, 20, false, true, 1.0f, 1.0f, std::nullopt},
                      GemmCase{200, 40, 300, true, true, 0.25f, 1.0f, Shape{200, 40}}));

TEST(GemmTest, IntegerTypes) {
  const Tensor a = Tensor::FromVector<int64_t>({2, 2}, {1, 2, 3, 4});
  const Tensor b = Tensor::FromVector<int64_t>({2, 2}, {5, 6, 7, 8});
  const Tensor c = Tensor::FromVector<int64_t>({2}, {100, 200});
  auto out = RunKernel({.op_type = "Gemm", .inputs = {a, b, c}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({2, 2}, {119, 222, 143, 250})));
}

TEST(GemmTest, BadShapesAreInvalidArgument) {
  auto out = RunKernel({.op_type = "Gemm", .inputs = {RandomTensor({2, 3}, 1), RandomTensor({4, 5}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("inner"), std::string::npos);
  out = RunKernel({.op_type = "Gemm", .inputs = {RandomTensor({2, 3, 1}, 1), RandomTensor({3, 5}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("2-D"), std::string::npos);
  out = RunKernel({.op_type = "Gemm", .inputs = {RandomTensor({2, 3}, 1), RandomTensor({3, 5}, 2), RandomTensor({3, 5}, 3)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("broadcast"), std::string::npos);
}

}  // namespace
}  // namespace tessera::engine::testing
