// Unit tests for AveragePool, MaxPool, GlobalAveragePool and GlobalMaxPool
// (hand-computed values; the ONNX backend cases run in
// pool_norm_resize_onnx_data_test.cc).
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"

// KernelTestCase is filled with designated initializers; its members without
// default member initializers would trip -Wmissing-field-initializers.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tessera::engine::testing {
namespace {

using I = std::vector<int64_t>;

Tensor F(Shape shape, std::vector<float> v) { return Tensor::FromVector<float>(std::move(shape), v); }

std::vector<float> Iota(int n, float start = 1) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = start + i;
  return v;
}

Tensor RunOne(const KernelTestCase& tc) {
  auto out = RunKernel(tc);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

// Straightforward MaxPool / AveragePool over NCHW, for cross-checking.
std::vector<float> NaivePool2D(const std::vector<float>& x, int64_t planes, int64_t H, int64_t W, int64_t k,
                               int64_t s, int64_t p, bool max, bool include_pad, int64_t OH, int64_t OW) {
  std::vector<float> y;
  for (int64_t c = 0; c < planes; ++c) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        double sum = 0;
        int64_t count = 0, padded = 0;
        for (int64_t kh = 0; kh < k; ++kh) {
          for (int64_t kw = 0; kw < k; ++kw) {
            const int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
            if (ih >= -p && ih < H + p && iw >= -p && iw < W + p) ++padded;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const float v = x[(c * H + ih) * W + iw];
            best = std::max(best, v);
            sum += v;
            ++count;
          }
        }
        y.push_back(max ? best : static_cast<float>(sum / (include_pad ? padded : count)));
      }
    }
  }
  return y;
}

TEST(MaxPoolTest, ResNetStem3x3Stride2Pad1MatchesNaive) {
  const int64_t N = 2, C = 3, H = 17, W = 19;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-5, 5);
  std::vector<float> x(N * C * H * W);
  for (auto& v : x) v = dist(rng);
  const int64_t OH = (H + 2 - 3) / 2 + 1, OW = (W + 2 - 3) / 2 + 1;
  for (int threads : {1, 2}) {
    Tensor y = RunOne({.op_type = "MaxPool",
                       .attrs = {Attr("kernel_shape", I{3, 3}), Attr("strides", I{2, 2}), Attr("pads", I{1, 1, 1, 1})},
                       .inputs = {F({N, C, H, W}, x)},
                       .threads = threads});
    EXPECT_TRUE(TensorsNear(y, F({N, C, OH, OW}, NaivePool2D(x, N * C, H, W, 3, 2, 1, true, false, OH, OW))));
  }
}

TEST(AveragePoolTest, PaddedWindowsCountPadOrNot) {
  const Tensor x = F({1, 1, 4, 4}, Iota(16));
  for (int include : {0, 1}) {
    Tensor y = RunOne({.op_type = "AveragePool",
                       .attrs = {Attr("kernel_shape", I{3, 3}), Attr("pads", I{1, 1, 1, 1}),
                                 Attr("count_include_pad", int64_t{include})},
                       .inputs = {x}});
    EXPECT_TRUE(TensorsNear(y, F({1, 1, 4, 4}, NaivePool2D(Iota(16), 1, 4, 4, 3, 1, 1, false, include, 4, 4))));
    // Corner: (1 + 2 + 5 + 6) / 4 or / 9.
    EXPECT_NEAR(y.data<float>()[0], include ? 14.0 / 9 : 3.5, 1e-6);
  }
}

TEST(AveragePoolTest, StridedLargeMatchesNaive) {
  const int64_t C = 4, H = 23, W = 29;
  std::vector<float> x(C * H * W);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 7.0f;
  const int64_t OH = (H + 4 - 5) / 3 + 1, OW = (W + 4 - 5) / 3 + 1;
  Tensor y = RunOne({.op_type = "AveragePool",
                     .attrs = {Attr("kernel_shape", I{5, 5}), Attr("strides", I{3, 3}), Attr("pads", I{2, 2, 2, 2})},
                     .inputs = {F({1, C, H, W}, x)}});
  EXPECT_TRUE(TensorsNear(y, F({1, C, OH, OW}, NaivePool2D(x, C, H, W, 5, 3, 2, false, false, OH, OW))));
}

TEST(AveragePoolTest, CeilModeAddsPartialWindow) {
  Tensor y = RunOne({.op_type = "AveragePool",
                     .attrs = {Attr("kernel_shape", I{2}), Attr("strides", I{2}), Attr("ceil_mode", int64_t{1})},
                     .inputs = {F({1, 1, 5}, {1, 2, 3, 4, 5})}});
  EXPECT_TRUE(TensorsNear(y, F({1, 1, 3}, {1.5, 3.5, 5})));
  Tensor floor_mode = RunOne({.op_type = "AveragePool",
                              .attrs = {Attr("kernel_shape", I{2}), Attr("strides", I{2})},
                              .inputs = {F({1, 1, 5}, {1, 2, 3, 4, 5})}});
  EXPECT_TRUE(TensorsNear(floor_mode, F({1, 1, 2}, {1.5, 3.5})));
}

TEST(AveragePoolTest, Float64ThreeD) {
  std::vector<double> v(8);
  for (int i = 0; i < 8; ++i) v[i] = i;
  Tensor y = RunOne({.op_type = "AveragePool",
                     .attrs = {Attr("kernel_shape", I{2, 2, 2})},
                     .inputs = {Tensor::FromVector<double>({1, 1, 2, 2, 2}, v)}});
  EXPECT_TRUE(TensorsNear(y, Tensor::FromVector<double>({1, 1, 1, 1, 1}, {3.5})));
}

TEST(MaxPoolTest, AutoPadSameUpperLowerAndValid) {
  const Tensor x = F({1, 1, 4}, {1, 2, 3, 4});
  auto run = [&](const char* mode, I strides = {1}) {
    return RunOne({.op_type = "MaxPool",
                   .attrs = {Attr("kernel_shape", I{2}), Attr("auto_pad", std::string(mode)), Attr("strides", strides)},
                   .inputs = {x}});
  };
  EXPECT_TRUE(TensorsNear(run("SAME_UPPER"), F({1, 1, 4}, {2, 3, 4, 4})));
  EXPECT_TRUE(TensorsNear(run("SAME_LOWER"), F({1, 1, 4}, {1, 2, 3, 4})));
  EXPECT_TRUE(TensorsNear(run("VALID"), F({1, 1, 3}, {2, 3, 4})));
  EXPECT_TRUE(TensorsNear(run("SAME_UPPER", {3}), F({1, 1, 2}, {2, 4})));
}

TEST(MaxPoolTest, Dilations) {
  Tensor y = RunOne({.op_type = "MaxPool",
                     .attrs = {Attr("kernel_shape", I{2}), Attr("dilations", I{2})},
                     .inputs = {F({1, 1, 5}, {1, 5, 2, 6, 3})}});
  EXPECT_TRUE(TensorsNear(y, F({1, 1, 3}, {2, 6, 3})));
}

TEST(MaxPoolTest, IndicesRowAndColumnMajor) {
  // Plane 0 [[1, 4], [3, 2]]: max at (0, 1). Plane 1 [[0, 0], [5, 0]]: max at (1, 0).
  const Tensor x = F({1, 2, 2, 2}, {1, 4, 3, 2, 0, 0, 5, 0});
  for (int64_t order : {0, 1}) {
    auto out = RunKernel({.op_type = "MaxPool",
                          .attrs = {Attr("kernel_shape", I{2, 2}), Attr("storage_order", order)},
                          .inputs = {x},
                          .num_outputs = 2});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(TensorsNear((*out)[0], F({1, 2, 1, 1}, {4, 5})));
    const I expected = order == 0 ? I{1, 4 + 2} : I{2, 4 + 1};
    EXPECT_TRUE(TensorsNear((*out)[1], Tensor::FromVector<int64_t>({1, 2, 1, 1}, expected)));
  }
}

TEST(MaxPoolTest, Int8AndUint8) {
  Tensor y = RunOne({.op_type = "MaxPool",
                     .opset = 12,
                     .attrs = {Attr("kernel_shape", I{2}), Attr("strides", I{2})},
                     .inputs = {Tensor::FromVector<int8_t>({1, 1, 4}, {-5, -3, -128, 7})}});
  EXPECT_TRUE(TensorsNear(y, Tensor::FromVector<int8_t>({1, 1, 2}, {-3, 7})));
  Tensor u = RunOne({.op_type = "MaxPool",
                     .opset = 12,
                     .attrs = {Attr("kernel_shape", I{3}), Attr("pads", I{1, 1})},
                     .inputs = {Tensor::FromVector<uint8_t>({1, 1, 3}, {0, 200, 3})}});
  EXPECT_TRUE(TensorsNear(u, Tensor::FromVector<uint8_t>({1, 1, 3}, {200, 200, 200})));
}

TEST(GlobalPoolTest, AverageAndMaxFloatAndDouble) {
  const std::vector<float> v = Iota(2 * 37, 0);  // two planes of 37 values
  Tensor avg = RunOne({.op_type = "GlobalAveragePool", .inputs = {F({1, 2, 37, 1}, v)}});
  EXPECT_TRUE(TensorsNear(avg, F({1, 2, 1, 1}, {18, 55})));
  Tensor mx = RunOne({.op_type = "GlobalMaxPool", .inputs = {F({2, 1, 37}, v)}});
  EXPECT_TRUE(TensorsNear(mx, F({2, 1, 1}, {36, 73})));
  Tensor d = RunOne({.op_type = "GlobalAveragePool",
                     .inputs = {Tensor::FromVector<double>({1, 1, 2, 2, 1}, {1, 2, 3, 5})}});
  EXPECT_TRUE(TensorsNear(d, Tensor::FromVector<double>({1, 1, 1, 1, 1}, {2.75})));
}

TEST(PoolErrorsTest, BadInputsAreRejectedWithClearMessages) {
  auto status = [](KernelTestCase tc) { return RunKernel(tc).status(); };
  absl::Status s = status({.op_type = "MaxPool", .attrs = {Attr("kernel_shape", I{2, 2})}, .inputs = {F({1, 1, 4}, Iota(4))}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("rank"), std::string::npos) << s;

  s = status({.op_type = "AveragePool", .inputs = {F({1, 1, 4}, Iota(4))}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("kernel_shape"), std::string::npos) << s;

  s = status({.op_type = "MaxPool", .attrs = {Attr("kernel_shape", I{2}), Attr("pads", I{2, 0})}, .inputs = {F({1, 1, 4}, Iota(4))}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("pads"), std::string::npos) << s;

  s = status({.op_type = "MaxPool", .attrs = {Attr("kernel_shape", I{5})}, .inputs = {F({1, 1, 4}, Iota(4))}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("exceeds"), std::string::npos) << s;

  s = status({.op_type = "MaxPool", .attrs = {Attr("kernel_shape", I{2}), Attr("auto_pad", std::string("SAME"))}, .inputs = {F({1, 1, 4}, Iota(4))}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("auto_pad"), std::string::npos) << s;

  s = status({.op_type = "MaxPool", .attrs = {Attr("kernel_shape", I{2}), Attr("storage_order", int64_t{2})}, .inputs = {F({1, 1, 4}, Iota(4))}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("storage_order"), std::string::npos) << s;

  s = status({.op_type = "MaxPool", .attrs = {Attr("kernel_shape", I{2}), Attr("strides", I{1, 1})}, .inputs = {F({1, 1, 4}, Iota(4))}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("strides"), std::string::npos) << s;

  s = status({.op_type = "AveragePool", .attrs = {Attr("kernel_shape", I{2})}, .inputs = {Tensor::FromVector<int32_t>({1, 1, 4}, {1, 2, 3, 4})}});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("int32"), std::string::npos) << s;

  s = status({.op_type = "GlobalMaxPool", .inputs = {F({4}, Iota(4))}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("rank"), std::string::npos) << s;
}

}  // namespace
}  // namespace tessera::engine::testing
