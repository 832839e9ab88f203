#include <algorithm>
#include <numeric>
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

Tensor K(int64_t k) { return Tensor::FromVector<int64_t>({1}, {k}); }

// The ONNX test_top_k example: [[0..3],[4..7],[8..11]], k = 3 along axis 1.
TEST(TopK, LargestAlongLastAxis) {
  std::vector<float> v(12);
  std::iota(v.begin(), v.end(), 0.f);
  auto out = RunKernel(Case("TopK", 11, {Attr("axis", int64_t{1})}, {Tensor::FromVector<float>({3, 4}, v), K(3)}, 2));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({3, 3}, {3, 2, 1, 7, 6, 5, 11, 10, 9})));
  EXPECT_TRUE(TensorsNear((*out)[1], Tensor::FromVector<int64_t>({3, 3}, {3, 2, 1, 3, 2, 1, 3, 2, 1})));
}

TEST(TopK, TiesPreferLowerIndex) {
  const Tensor x = Tensor::FromVector<float>({6}, {5, 1, 5, 3, 1, 5});
  auto out = RunKernel(Case("TopK", 11, {}, {x, K(4)}, 2));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({4}, {5, 5, 5, 3})));
  EXPECT_TRUE(TensorsNear((*out)[1], Tensor::FromVector<int64_t>({4}, {0, 2, 5, 3})));
  out = RunKernel(Case("TopK", 11, {Attr("largest", int64_t{0}), Attr("sorted", int64_t{1})}, {x, K(3)}, 2));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({3}, {1, 1, 3})));
  EXPECT_TRUE(TensorsNear((*out)[1], Tensor::FromVector<int64_t>({3}, {1, 4, 3})));
  // k = 1 fast path keeps the first of equal maxima.
  out = RunKernel(Case("TopK", 11, {}, {x, K(1)}, 2));
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(TensorsNear((*out)[1], Tensor::FromVector<int64_t>({1}, {0})));
}

TEST(TopK, OuterAxisAndOpset1Attribute) {
  // [3,2] along axis 0, k = 2 given as the opset-1 attribute.
  const Tensor x = Tensor::FromVector<int32_t>({3, 2}, {1, 9, 7, 2, 4, 8});
  auto out = RunKernel(Case("TopK", 1, {Attr("axis", int64_t{0}), Attr("k", int64_t{2})}, {x}, 2));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int32_t>({2, 2}, {7, 9, 4, 8})));
  EXPECT_TRUE(TensorsNear((*out)[1], Tensor::FromVector<int64_t>({2, 2}, {1, 0, 2, 2})));
  // Only the values requested.
  out = RunKernel(Case("TopK", 11, {Attr("axis", int64_t{0})}, {x, K(1)}, 1));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int32_t>({1, 2}, {7, 9})));
  // k = 0: empty outputs.
  out = RunKernel(Case("TopK", 10, {}, {Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6}), K(0)}, 2));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 0}));
}

TEST(TopK, LargeRandomMatchesSort) {
  const int64_t rows = 64, n = 1000;
  std::vector<float> v(rows * n);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> dist(-200, 200);  // many ties
  for (float& f : v) f = static_cast<float>(dist(rng));
  for (int64_t largest : {1, 0}) {
    for (int64_t k : {17, 300}) {  // the small-k insertion path and the selection path
      SCOPED_TRACE(k);
      auto out = RunKernel(
          Case("TopK", 11, {Attr("largest", largest)}, {Tensor::FromVector<float>({rows, n}, v), K(k)}, 2));
      ASSERT_TRUE(out.ok());
      std::vector<float> ev;
      std::vector<int64_t> ei;
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<int64_t> idx(n);
        std::iota(idx.begin(), idx.end(), 0);
        std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
          return largest ? v[r * n + a] > v[r * n + b] : v[r * n + a] < v[r * n + b];
        });
        for (int64_t i = 0; i < k; ++i) {
          ev.push_back(v[r * n + idx[i]]);
          ei.push_back(idx[i]);
        }
      }
      EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({rows, k}, ev)));
      EXPECT_TRUE(TensorsNear((*out)[1], Tensor::FromVector<int64_t>({rows, k}, ei)));
    }
  }
}

TEST(TopK, BadInputs) {
  const Tensor x = Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = RunKernel(Case("TopK", 11, {}, {x, K(4)}, 2));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("k = 4 is out of range"), std::string::npos) << out.status();
  out = RunKernel(Case("TopK", 11, {Attr("axis", int64_t{-3})}, {x, K(1)}, 2));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("axis -3 is out of range"), std::string::npos) << out.status();
  out = RunKernel(Case("TopK", 11, {}, {x, Tensor::FromVector<int64_t>({2}, {1, 2})}, 2));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("K must hold exactly one value"), std::string::npos) << out.status();
  out = RunKernel(Case("TopK", 9, {}, {x}, 2));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("attribute k"), std::string::npos) << out.status();
}

}  // namespace
}  // namespace tessera::engine
