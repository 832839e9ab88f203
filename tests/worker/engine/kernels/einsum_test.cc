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

absl::StatusOr<Tensor> Einsum(const std::string& equation, std::vector<std::optional<Tensor>> inputs) {
  auto out = RunKernel(Case("Einsum", 12, {Attr("equation", equation)}, std::move(inputs)));
  if (!out.ok()) return out.status();
  return (*out)[0];
}

std::vector<float> Random(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

TEST(Einsum, SingleOperandForms) {
  const Tensor m = Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = Einsum("ij->ji", {m});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({3, 2}, {1, 4, 2, 5, 3, 6})));
  out = Einsum("ij->i", {m});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({2}, {6, 15})));
  out = Einsum("ij->", {m});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({}, {21})));
  out = Einsum("ji", {m});  // implicit output: sorted labels -> "ij", a transpose
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({3, 2}, {1, 4, 2, 5, 3, 6})));
  const Tensor sq = Tensor::FromVector<float>({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  out = Einsum("ii->i", {sq});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({3}, {1, 5, 9})));
  out = Einsum("ii", {sq});  // trace
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({}, {15})));
  // Batched diagonal with ellipsis and spaces (test_einsum_batch_diagonal).
  out = Einsum("...ii ->...i", {Tensor::FromVector<float>({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({2, 2}, {1, 4, 5, 8})));
}

TEST(Einsum, TwoOperandProducts) {
  const Tensor a = Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = Tensor::FromVector<float>({3, 2}, {1, 0, 0, 1, 1, 1});
  auto out = Einsum("ij,jk->ik", {a, b});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({2, 2}, {4, 5, 10, 11})));
  out = Einsum("ij,jk", {a, b});  // implicit
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({2, 2}, {4, 5, 10, 11})));
  out = Einsum("ij,jk->ki", {a, b});  // transposed result
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({2, 2}, {4, 10, 5, 11})));
  const Tensor v = Tensor::FromVector<float>({3}, {1, 2, 3});
  out = Einsum("i,i", {v, v});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({}, {14})));
  out = Einsum("i,j->ij", {v, Tensor::FromVector<float>({2}, {1, -1})});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({3, 2}, {1, -1, 2, -2, 3, -3})));
  out = Einsum("ij,ij->ij", {a, a});  // Hadamard
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({2, 3}, {1, 4, 9, 16, 25, 36})));
  out = Einsum("ij,kl->", {a, a});  // both sides summed out before the product
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({}, {21 * 21})));
  out = Einsum("ij,kj->", {a, a});  // sum over j of (column sum)^2 = 25 + 49 + 81
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({}, {155})));
}

TEST(Einsum, ThreeOperandsAndBroadcastEllipsis) {
  const Tensor a = Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4});
  const Tensor b = Tensor::FromVector<float>({2, 2}, {0, 1, 1, 0});
  const Tensor c = Tensor::FromVector<float>({2}, {1, 10});
  // (a @ b) @ c
  auto out = Einsum("ij,jk,k->i", {a, b, c});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({2}, {12, 34})));
  // Ellipsis broadcasting: [2,1,2,2] x [3,2,2] -> [2,3,2,2].
  std::vector<float> av = Random(8, 1), bv = Random(12, 2);
  out = Einsum("...ij,...jk->...ik", {Tensor::FromVector<float>({2, 1, 2, 2}, av), Tensor::FromVector<float>({3, 2, 2}, bv)});
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<float> expected(24, 0);
  for (int p = 0; p < 2; ++p)
    for (int q = 0; q < 3; ++q)
      for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 2; ++k)
          for (int j = 0; j < 2; ++j)
            expected[((p * 3 + q) * 2 + i) * 2 + k] += av[(p * 2 + i) * 2 + j] * bv[(q * 2 + j) * 2 + k];
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({2, 3, 2, 2}, expected)));
}

// Large batched products take the BLAS path, straight from the inputs.
TEST(Einsum, BatchedMatmulFastPaths) {
  const int64_t b = 3, h = 2, i = 40, j = 48, d = 32;
  const std::vector<float> q = Random(b * h * i * d, 3), k = Random(b * h * j * d, 4);
  auto out = Einsum("bhid,bhjd->bhij", {Tensor::FromVector<float>({b, h, i, d}, q),
                                        Tensor::FromVector<float>({b, h, j, d}, k)});
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<float> expected(b * h * i * j, 0);
  for (int64_t bh = 0; bh < b * h; ++bh)
    for (int64_t x = 0; x < i; ++x)
      for (int64_t y = 0; y < j; ++y) {
        double s = 0;
        for (int64_t z = 0; z < d; ++z) s += q[(bh * i + x) * d + z] * k[(bh * j + y) * d + z];
        expected[(bh * i + x) * j + y] = static_cast<float>(s);
      }
  EXPECT_TRUE(TensorsNear(*out, Tensor::FromVector<float>({b, h, i, j}, expected), 1e-4, 1e-5));
  // bij,bjk->bik in float64 and int32 (plain loop) agree with float.
  const std::vector<float> x = Random(2 * 40 * 50, 5), y = Random(2 * 50 * 30, 6);
  auto f = Einsum("bij,bjk->bik", {Tensor::FromVector<float>({2, 40, 50}, x), Tensor::FromVector<float>({2, 50, 30}, y)});
  auto dd = Einsum("bij,bjk->bik", {Tensor::FromVector<double>({2, 40, 50}, std::vector<double>(x.begin(), x.end())),
                                    Tensor::FromVector<double>({2, 50, 30}, std::vector<double>(y.begin(), y.end()))});
  ASSERT_TRUE(f.ok() && dd.ok());
  for (int64_t e = 0; e < f->num_elements(); ++e) EXPECT_NEAR(f->GetAsDouble(e), dd->GetAsDouble(e), 1e-4);
  auto in = Einsum("bij,bjk->bik", {Tensor::FromVector<int32_t>({1, 2, 2}, {1, 2, 3, 4}),
                                    Tensor::FromVector<int32_t>({1, 2, 2}, {5, 6, 7, 8})});
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_TRUE(TensorsNear(*in, Tensor::FromVector<int32_t>({1, 2, 2}, {19, 22, 43, 50})));
}

TEST(Einsum, BadEquations) {
  const Tensor m = Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  struct BadCase {
    std::string equation;
    std::string message;
  };
  const std::vector<BadCase> cases = {
      {"ij,jk->ik", "2 input terms but the node has 1 inputs"},
      {"ijk->i", "does not match input 0 of rank 2"},
      {"i1->i", "invalid character '1'"},
      {"ij->ii", "output label 'i' is repeated"},
      {"ij->k", "output label 'k' does not occur"},
      {"i..j->ij", "'.' must be part of an ellipsis"},
      {"ij-ji", "malformed '->'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.equation);
    auto out = Einsum(c.equation, {m});
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(out.status().message().find(c.message), std::string::npos) << out.status();
  }
  auto out = Einsum("ij,jk->ik", {m, m});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("label 'j' has size 3"), std::string::npos) << out.status();
  out = Einsum("ij,jk->ik", {m, Tensor::FromVector<double>({3, 1}, {1, 2, 3})});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("has type float64"), std::string::npos) << out.status();
}

}  // namespace
}  // namespace tessera::engine
