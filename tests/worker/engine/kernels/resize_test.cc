// Unit tests for Resize (hand-computed values and a direct N-linear
// reference; the ONNX backend cases run in pool_norm_resize_onnx_data_test.cc).
#include <algorithm>
#include <cmath>
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
Tensor Sizes(I v) { return Tensor::FromVector<int64_t>({static_cast<int64_t>(v.size())}, v); }
Tensor Scales(std::vector<float> v) { return F({static_cast<int64_t>(v.size())}, v); }
const Tensor kEmpty = F({0}, {});

Tensor RunOne(const KernelTestCase& tc) {
  auto out = RunKernel(tc);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

TEST(ResizeTest, NearestUpsampleHalfPixelRoundPreferFloor) {
  Tensor y = RunOne({.op_type = "Resize", .inputs = {F({1, 1, 2, 2}, {1, 2, 3, 4}), kEmpty, Scales({1, 1, 2, 2})}});
  EXPECT_TRUE(TensorsNear(y, F({1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4})));
}

TEST(ResizeTest, NearestModesAsymmetric) {
  // x_original = x / 1.6 for x = 0..4: 0, 0.625, 1.25, 1.875, 2.5.
  const Tensor x = F({4}, {10, 20, 30, 40});
  auto run = [&](const char* mode) {
    return RunOne({.op_type = "Resize",
                   .attrs = {Attr("coordinate_transformation_mode", std::string("asymmetric")),
                             Attr("nearest_mode", std::string(mode))},
                   .inputs = {x, std::nullopt, std::nullopt, Sizes({5})}});
  };
  // sizes give scale 5 / 4 = 1.25: x_original = 0, 0.8, 1.6, 2.4, 3.2.
  EXPECT_TRUE(TensorsNear(run("round_prefer_floor"), F({5}, {10, 20, 30, 30, 40})));
  EXPECT_TRUE(TensorsNear(run("floor"), F({5}, {10, 10, 20, 30, 40})));
  EXPECT_TRUE(TensorsNear(run("ceil"), F({5}, {10, 20, 30, 40, 40})));
  // Ties: x_original = x / 2 = 0.5 and 1.5 for an output of 8.
  auto tie = [&](const char* mode) {
    return RunOne({.op_type = "Resize",
                   .attrs = {Attr("coordinate_transformation_mode", std::string("asymmetric")),
                             Attr("nearest_mode", std::string(mode))},
                   .inputs = {F({2}, {1, 2}), std::nullopt, Scales({2})}});
  };
  EXPECT_TRUE(TensorsNear(tie("round_prefer_floor"), F({4}, {1, 1, 2, 2})));
  EXPECT_TRUE(TensorsNear(tie("round_prefer_ceil"), F({4}, {1, 2, 2, 2})));
}

TEST(ResizeTest, Opset10ScalesInputAndAsymmetricRounding) {
  const Tensor x = F({4}, {1, 2, 3, 4});
  EXPECT_TRUE(TensorsNear(RunOne({.op_type = "Resize", .opset = 10, .inputs = {x, Scales({2})}}),
                          F({8}, {1, 1, 2, 2, 3, 3, 4, 4})));
  // Downsampling rounds up: x_original = 0, 2.
  EXPECT_TRUE(TensorsNear(RunOne({.op_type = "Resize", .opset = 10, .inputs = {x, Scales({0.5f})}}), F({2}, {1, 3})));
  EXPECT_TRUE(TensorsNear(RunOne({.op_type = "Resize",
                                  .opset = 10,
                                  .attrs = {Attr("mode", std::string("linear"))},
                                  .inputs = {F({2}, {1, 3}), Scales({2})}}),
                          F({4}, {1, 2, 3, 3})));
}

// Direct N-linear interpolation with half_pixel coordinates over the last
// two axes of [planes, H, W], computed in double.
std::vector<float> BilinearReference(const std::vector<float>& x, int64_t planes, int64_t H, int64_t W, int64_t OH,
                                     int64_t OW) {
  auto taps = [](int64_t o, int64_t in, int64_t out, int64_t* i0, int64_t* i1, double* r) {
    double c = (o + 0.5) * in / out - 0.5;
    c = std::clamp(c, 0.0, static_cast<double>(in - 1));
    *i0 = static_cast<int64_t>(std::floor(c));
    *i1 = std::min(*i0 + 1, in - 1);
    *r = c - *i0;
  };
  std::vector<float> y;
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      int64_t h0, h1;
      double rh;
      taps(oh, H, OH, &h0, &h1, &rh);
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t w0, w1;
        double rw;
        taps(ow, W, OW, &w0, &w1, &rw);
        auto at = [&](int64_t h, int64_t w) { return static_cast<double>(x[(p * H + h) * W + w]); };
        const double v = (1 - rh) * ((1 - rw) * at(h0, w0) + rw * at(h0, w1)) + rh * ((1 - rw) * at(h1, w0) + rw * at(h1, w1));
        y.push_back(static_cast<float>(v));
      }
    }
  }
  return y;
}

TEST(ResizeTest, BilinearNchwMatchesReference) {
  const int64_t N = 2, C = 3, H = 5, W = 7;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-3, 3);
  std::vector<float> x(N * C * H * W);
  for (auto& v : x) v = dist(rng);
  for (I out_hw : {I{9, 4}, I{10, 14}, I{3, 3}}) {
    for (int threads : {1, 2}) {
      Tensor y = RunOne({.op_type = "Resize",
                         .attrs = {Attr("mode", std::string("linear"))},
                         .inputs = {F({N, C, H, W}, x), kEmpty, kEmpty, Sizes({N, C, out_hw[0], out_hw[1]})},
                         .threads = threads});
      EXPECT_TRUE(TensorsNear(y, F({N, C, out_hw[0], out_hw[1]},
                                   BilinearReference(x, N * C, H, W, out_hw[0], out_hw[1])),
                              1e-5, 1e-5))
          << out_hw[0] << "x" << out_hw[1];
    }
  }
}

TEST(ResizeTest, TfCropAndResizeExtrapolates) {
  // roi [0.5, 1.5] of a length-4 axis, 3 outputs: x_original = 1.5, 3.0, 4.5 (outside).
  const Tensor x = F({4}, {1, 2, 3, 4});
  const Tensor roi = F({2}, {0.5f, 1.5f});
  for (const char* mode : {"linear", "nearest"}) {
    Tensor y = RunOne({.op_type = "Resize",
                       .attrs = {Attr("mode", std::string(mode)),
                                 Attr("coordinate_transformation_mode", std::string("tf_crop_and_resize")),
                                 Attr("extrapolation_value", -1.0f)},
                       .inputs = {x, roi, kEmpty, Sizes({3})}});
    const float first = std::string(mode) == "linear" ? 2.5f : 2.0f;
    EXPECT_TRUE(TensorsNear(y, F({3}, {first, 4, -1}))) << mode;
  }
  // 2-D: a row outside the crop box becomes extrapolation_value entirely.
  Tensor y2 = RunOne({.op_type = "Resize",
                      .attrs = {Attr("mode", std::string("linear")),
                                Attr("coordinate_transformation_mode", std::string("tf_crop_and_resize")),
                                Attr("extrapolation_value", 9.0f)},
                      .inputs = {F({2, 2}, {1, 2, 3, 4}), F({4}, {0, 0, 2, 1}), kEmpty, Sizes({3, 2})}});
  // rows: x_original 0, 1, 2 (outside); columns: 0, 1.
  EXPECT_TRUE(TensorsNear(y2, F({3, 2}, {1, 2, 3, 4, 9, 9})));
}

TEST(ResizeTest, CubicAlignCornersKeepsCorners) {
  Tensor y = RunOne({.op_type = "Resize",
                     .attrs = {Attr("mode", std::string("cubic")),
                               Attr("coordinate_transformation_mode", std::string("align_corners"))},
                     .inputs = {F({1, 4}, {0, 1, 4, 9}), kEmpty, kEmpty, Sizes({1, 7})}});
  ASSERT_EQ(y.num_elements(), 7);
  EXPECT_FLOAT_EQ(y.data<float>()[0], 0);
  EXPECT_FLOAT_EQ(y.data<float>()[2], 1);
  EXPECT_FLOAT_EQ(y.data<float>()[4], 4);
  EXPECT_FLOAT_EQ(y.data<float>()[6], 9);
}

TEST(ResizeTest, NearestIntegerTypesAndOuterAxes) {
  Tensor y = RunOne({.op_type = "Resize",
                     .inputs = {Tensor::FromVector<int8_t>({2, 2}, {-1, 2, -3, 4}), kEmpty, Scales({2, 1})}});
  EXPECT_TRUE(TensorsNear(y, Tensor::FromVector<int8_t>({4, 2}, {-1, 2, -1, 2, -3, 4, -3, 4})));
  Tensor u = RunOne({.op_type = "Resize",
                     .inputs = {Tensor::FromVector<uint8_t>({1, 3}, {7, 8, 9}), kEmpty, kEmpty, Sizes({1, 3})}});
  EXPECT_TRUE(TensorsNear(u, Tensor::FromVector<uint8_t>({1, 3}, {7, 8, 9})));
  Tensor l = RunOne({.op_type = "Resize",
                     .inputs = {Tensor::FromVector<int64_t>({3}, {5, 6, 7}), kEmpty, kEmpty, Sizes({1})}});
  EXPECT_TRUE(TensorsNear(l, Tensor::FromVector<int64_t>({1}, {6})));  // x_original = 1
}

TEST(ResizeTest, LinearFloat64) {
  Tensor y = RunOne({.op_type = "Resize",
                     .attrs = {Attr("mode", std::string("linear")),
                               Attr("coordinate_transformation_mode", std::string("align_corners"))},
                     .inputs = {Tensor::FromVector<double>({3}, {0, 2, 8}), kEmpty, kEmpty, Sizes({5})}});
  EXPECT_TRUE(TensorsNear(y, Tensor::FromVector<double>({5}, {0, 1, 2, 5, 8})));
}

TEST(ResizeTest, TrilinearAlignCornersReproducesLinearFunction) {
  // f(a, b, c) = a + 2b + 4c is reproduced exactly by N-linear interpolation;
  // with align_corners, output index o of an axis maps to o * (in - 1) / (out - 1).
  const Shape in = {2, 3, 2}, out = {3, 5, 4};
  std::vector<float> x, expected;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 2; ++c) x.push_back(a + 2.0f * b + 4.0f * c);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 5; ++b)
      for (int c = 0; c < 4; ++c) expected.push_back(a * 0.5f + 2.0f * (b * 0.5f) + 4.0f * (c / 3.0f));
  for (int threads : {1, 2}) {
    Tensor y = RunOne({.op_type = "Resize",
                       .attrs = {Attr("mode", std::string("linear")),
                                 Attr("coordinate_transformation_mode", std::string("align_corners"))},
                       .inputs = {F(in, x), kEmpty, kEmpty, Sizes(out)},
                       .threads = threads});
    EXPECT_TRUE(TensorsNear(y, F(out, expected), 1e-5, 1e-5));
  }
}

TEST(UpsampleTest, ScalesFromAttributeOrInput) {
  const Tensor x = F({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor expected = F({1, 1, 2, 6}, {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4});
  EXPECT_TRUE(TensorsNear(RunOne({.op_type = "Upsample",
                                  .opset = 7,
                                  .attrs = {Attr("scales", std::vector<float>{1, 1, 1, 3})},
                                  .inputs = {x}}),
                          expected));
  EXPECT_TRUE(TensorsNear(RunOne({.op_type = "Upsample", .opset = 9, .inputs = {x, Scales({1, 1, 1, 3})}}), expected));
  // Linear, asymmetric: x_original = x / 2.
  EXPECT_TRUE(TensorsNear(RunOne({.op_type = "Upsample",
                                  .opset = 9,
                                  .attrs = {Attr("mode", std::string("linear"))},
                                  .inputs = {F({2}, {1, 3}), Scales({2})}}),
                          F({4}, {1, 2, 3, 3})));
  absl::Status s = RunKernel({.op_type = "Upsample", .opset = 8, .inputs = {x}}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("scales"), std::string::npos) << s;
}

TEST(ResizeTest, BadInputs) {
  auto expect = [](KernelTestCase tc, absl::StatusCode code, const std::string& needle) {
    absl::Status s = RunKernel(tc).status();
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_NE(s.message().find(needle), std::string::npos) << s;
  };
  const Tensor x = F({1, 2}, {1, 2});
  expect({.op_type = "Resize", .inputs = {x, kEmpty, Scales({1, 2}), Sizes({1, 4})}},
         absl::StatusCode::kInvalidArgument, "both");
  expect({.op_type = "Resize", .inputs = {x, kEmpty, kEmpty}}, absl::StatusCode::kInvalidArgument, "scales and sizes");
  expect({.op_type = "Resize", .inputs = {x, kEmpty, Scales({2})}}, absl::StatusCode::kInvalidArgument, "scales");
  expect({.op_type = "Resize", .inputs = {x, kEmpty, Scales({1, -2})}}, absl::StatusCode::kInvalidArgument, "positive");
  expect({.op_type = "Resize", .inputs = {x, kEmpty, kEmpty, Sizes({4})}}, absl::StatusCode::kInvalidArgument, "sizes");
  expect({.op_type = "Resize", .attrs = {Attr("mode", std::string("bilinear"))}, .inputs = {x, kEmpty, Scales({1, 2})}},
         absl::StatusCode::kInvalidArgument, "mode");
  expect({.op_type = "Resize",
          .attrs = {Attr("coordinate_transformation_mode", std::string("corners"))},
          .inputs = {x, kEmpty, Scales({1, 2})}},
         absl::StatusCode::kInvalidArgument, "coordinate_transformation_mode");
  expect({.op_type = "Resize",
          .attrs = {Attr("mode", std::string("linear"))},
          .inputs = {Tensor::FromVector<int32_t>({2}, {1, 2}), kEmpty, Scales({2})}},
         absl::StatusCode::kUnimplemented, "int32");
  expect({.op_type = "Resize",
          .attrs = {Attr("coordinate_transformation_mode", std::string("tf_crop_and_resize"))},
          .inputs = {x, F({2}, {0, 1}), kEmpty, Sizes({1, 4})}},
         absl::StatusCode::kInvalidArgument, "roi");
}

}  // namespace
}  // namespace tessera::engine::testing
