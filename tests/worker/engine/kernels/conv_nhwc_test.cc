// FusedConv with layout="NHWC": the result equals the NCHW result transposed,
// for every backend (oneDNN on nhwc, the pointwise GEMM, the transpose
// fallback), groups/depthwise, strides, pads, dilations, auto_pad, 1x1,
// activations, residuals, constant and runtime weights, float64, concurrent
// calls; plus "no activation" and bad-input cases.
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/kernels/conv_kernel.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine::testing {
namespace {

template <typename T = float>
Tensor Random(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::Allocate(DataTypeOf<T>::value, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<T>()[i] = static_cast<T>(dist(rng));
  return t;
}

// [N, C, H, W] -> [N, H, W, C] (to_nhwc) or back.
template <typename T = float>
Tensor Transpose(const Tensor& t, bool to_nhwc) {
  const int64_t n = t.dim(0);
  const int64_t c = to_nhwc ? t.dim(1) : t.dim(3);
  const int64_t h = to_nhwc ? t.dim(2) : t.dim(1);
  const int64_t w = to_nhwc ? t.dim(3) : t.dim(2);
  Tensor out = Tensor::Allocate(t.dtype(), to_nhwc ? Shape{n, h, w, c} : Shape{n, c, h, w});
  for (int64_t in = 0; in < n; ++in) {
    for (int64_t ic = 0; ic < c; ++ic) {
      for (int64_t ih = 0; ih < h; ++ih) {
        for (int64_t iw = 0; iw < w; ++iw) {
          const int64_t nchw = ((in * c + ic) * h + ih) * w + iw;
          const int64_t nhwc = ((in * h + ih) * w + iw) * c + ic;
          if (to_nhwc) {
            out.data<T>()[nhwc] = t.data<T>()[nchw];
          } else {
            out.data<T>()[nchw] = t.data<T>()[nhwc];
          }
        }
      }
    }
  }
  return out;
}


struct NhwcCase {
  std::string name;
  Shape x, w;  // x logical NCHW
  int64_t group = 1;
  std::vector<int64_t> strides = {1, 1}, pads = {0, 0, 0, 0}, dilations = {1, 1};
  std::string auto_pad;
  std::string activation;
  bool residual = false;
  bool bias = true;
};

std::vector<onnx::AttributeProto> CaseAttrs(const NhwcCase& c, const std::string& layout) {
  std::vector<onnx::AttributeProto> attrs = {Attr("group", c.group), Attr("strides", c.strides),
                                             Attr("dilations", c.dilations)};
  if (c.auto_pad.empty()) {
    attrs.push_back(Attr("pads", c.pads));
  } else {
    attrs.push_back(Attr("auto_pad", c.auto_pad));
  }
  if (!c.activation.empty()) attrs.push_back(Attr("activation", c.activation));
  if (c.activation == "Clip") attrs.push_back(Attr("activation_params", std::vector<float>{-0.5f, 0.5f}));
  if (c.activation == "HardSigmoid") attrs.push_back(Attr("activation_params", std::vector<float>{0.3f, 0.4f}));
  if (!layout.empty()) attrs.push_back(Attr("layout", layout));
  return attrs;
}

class FusedConvNhwc : public ::testing::TestWithParam<NhwcCase> {};

TEST_P(FusedConvNhwc, MatchesNchwTransposed) {
  const NhwcCase& c = GetParam();
  const Tensor x = Random(c.x, 1), w = Random(c.w, 2), b = Random({c.w[0]}, 3);
  const std::optional<Tensor> bias = c.bias ? std::optional<Tensor>(b) : std::nullopt;
  // NCHW reference from the existing path (auto backend).
  TestNode nchw_node(CaseAttrs(c, ""));
  KernelInit nchw_init{nchw_node.proto, *nchw_node.attributes, 17, {nullptr, nullptr, nullptr}, {true, true, true}, {}};
  auto nchw_kernel = CreateConvKernel(nchw_init, ConvKernelOptions{.fused = true});
  ASSERT_TRUE(nchw_kernel.ok()) << nchw_kernel.status();
  TestKernelContext probe({x, w, bias}, 2);
  ASSERT_TRUE((*nchw_kernel)->Compute(probe).ok());
  std::optional<Tensor> z;
  if (c.residual) z = Random(probe.output().shape(), 4);
  TestKernelContext reference_ctx({x, w, bias, z}, 2);
  ASSERT_TRUE((*nchw_kernel)->Compute(reference_ctx).ok());
  const Tensor expected = Transpose(reference_ctx.output(), /*to_nhwc=*/true);

  const Tensor x_nhwc = Transpose(x, true);
  std::optional<Tensor> z_nhwc;
  if (z) z_nhwc = Transpose(*z, true);
  TestNode node(CaseAttrs(c, "NHWC"));
  for (ConvBackend backend :
       {ConvBackend::kAuto, ConvBackend::kOneDnnBlocked, ConvBackend::kOneDnnPlain, ConvBackend::kIm2colBlas}) {
    for (bool constant : {false, true}) {
      for (int threads : {1, 2}) {
        KernelInit init{node.proto,
                        *node.attributes,
                        17,
                        {nullptr, constant ? &w : nullptr, constant && c.bias ? &b : nullptr},
                        {true, true, true},
                        {}};
        auto kernel = CreateConvKernel(init, ConvKernelOptions{.fused = true, .backend = backend});
        ASSERT_TRUE(kernel.ok()) << kernel.status();
        TestKernelContext ctx({x_nhwc, w, bias, z_nhwc}, threads);
        absl::Status st = (*kernel)->Compute(ctx);
        ASSERT_TRUE(st.ok()) << st;
        EXPECT_EQ(ctx.output().shape(), expected.shape());
        EXPECT_TRUE(TensorsNear(ctx.output(), expected, 1e-4, 1e-4))
            << c.name << " backend " << static_cast<int>(backend) << " constant=" << constant
            << " threads=" << threads;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FusedConvNhwc,
    ::testing::Values(
        NhwcCase{.name = "dense3x3_relu_residual", .x = {2, 16, 10, 10}, .w = {16, 16, 3, 3}, .pads = {1, 1, 1, 1},
                 .activation = "Relu", .residual = true},
        NhwcCase{.name = "depthwise_s2_clip", .x = {1, 16, 12, 12}, .w = {16, 1, 3, 3}, .group = 16,
                 .strides = {2, 2}, .pads = {1, 1, 1, 1}, .activation = "Clip"},
        NhwcCase{.name = "depthwise_s1_residual", .x = {2, 32, 9, 9}, .w = {32, 1, 3, 3}, .group = 32,
                 .pads = {1, 1, 1, 1}, .residual = true},
        NhwcCase{.name = "depthwise_odd_channels", .x = {1, 13, 8, 7}, .w = {13, 1, 3, 3}, .group = 13,
                 .pads = {1, 0, 1, 2}, .activation = "HardSwish"},
        NhwcCase{.name = "pointwise_s1_hardswish_residual", .x = {2, 24, 7, 7}, .w = {40, 24, 1, 1},
                 .activation = "HardSwish", .residual = true},
        NhwcCase{.name = "pointwise_s1_nobias", .x = {3, 20, 5, 6}, .w = {9, 20, 1, 1}, .bias = false},
        NhwcCase{.name = "pointwise_s1_nobias_residual", .x = {1, 8, 4, 4}, .w = {16, 8, 1, 1}, .residual = true,
                 .bias = false},
        NhwcCase{.name = "pointwise_s2_relu", .x = {2, 24, 9, 9}, .w = {12, 24, 1, 1}, .strides = {2, 2},
                 .activation = "Relu"},
        NhwcCase{.name = "pointwise_s2x1_residual", .x = {1, 16, 8, 5}, .w = {32, 16, 1, 1}, .strides = {2, 1},
                 .residual = true},
        NhwcCase{.name = "pointwise_padded", .x = {1, 8, 5, 5}, .w = {8, 8, 1, 1}, .pads = {1, 1, 0, 0},
                 .activation = "Sigmoid"},
        NhwcCase{.name = "pointwise_grouped", .x = {1, 8, 6, 6}, .w = {8, 4, 1, 1}, .group = 2},
        NhwcCase{.name = "grouped_dilated_asym_leaky", .x = {1, 8, 9, 11}, .w = {12, 4, 3, 2}, .group = 2,
                 .strides = {2, 1}, .pads = {0, 1, 2, 0}, .dilations = {2, 2}, .activation = "LeakyRelu"},
        NhwcCase{.name = "stem_3ch_s2", .x = {2, 3, 11, 11}, .w = {8, 3, 3, 3}, .strides = {2, 2},
                 .pads = {1, 1, 1, 1}, .activation = "Tanh"},
        NhwcCase{.name = "stem_7x7", .x = {1, 3, 16, 16}, .w = {8, 3, 7, 7}, .strides = {2, 2},
                 .pads = {3, 3, 3, 3}, .activation = "Relu"},
        NhwcCase{.name = "same_upper_s2", .x = {1, 5, 7, 8}, .w = {6, 5, 3, 3}, .strides = {2, 2},
                 .auto_pad = "SAME_UPPER", .activation = "HardSigmoid"},
        NhwcCase{.name = "same_lower", .x = {1, 4, 6, 5}, .w = {4, 4, 2, 2}, .auto_pad = "SAME_LOWER",
                 .residual = true},
        NhwcCase{.name = "valid_odd_channels", .x = {2, 5, 6, 6}, .w = {7, 5, 3, 3}, .auto_pad = "VALID",
                 .activation = "Sigmoid"}),
    [](const ::testing::TestParamInfo<NhwcCase>& info) { return info.param.name; });

TEST(FusedConvNhwcTest, HandComputedPointwise) {
  // X NHWC [1, 1, 2, 2]: pixel (0,0) = (1, 2), pixel (0,1) = (3, 4).
  // W [2, 2, 1, 1] = [[1, 1], [1, -1]], B = [0.5, 0]. Y NHWC [1, 1, 2, 2].
  const Tensor x = Tensor::FromVector<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor w = Tensor::FromVector<float>({2, 2, 1, 1}, {1, 1, 1, -1});
  const Tensor b = Tensor::FromVector<float>({2}, {0.5f, 0});
  for (const std::string& activation : {std::string(""), std::string("Relu")}) {
    KernelTestCase tc{.op_type = "FusedConv",
                      .domain = "ai.tessera",
                      .attrs = {Attr("layout", std::string("NHWC")), Attr("activation", activation)},
                      .inputs = {x, w, b}};
    auto out = RunKernel(tc);
    ASSERT_TRUE(out.ok()) << out.status();
    const float neg = activation.empty() ? -1.0f : 0.0f;
    EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({1, 1, 2, 2}, {3.5f, neg, 7.5f, neg})));
  }
}

TEST(FusedConvNhwcTest, HandComputedDepthwiseWithResidual) {
  // X NHWC [1, 2, 2, 2], depthwise 2x2 kernel of ones, valid: Y[c] = sum of channel c + Z.
  const Tensor x = Tensor::FromVector<float>({1, 2, 2, 2}, {1, 10, 2, 20, 3, 30, 4, 40});
  const Tensor w = Tensor::FromVector<float>({2, 1, 2, 2}, {1, 1, 1, 1, 1, 1, 1, 1});
  const Tensor z = Tensor::FromVector<float>({1, 1, 1, 2}, {0.5f, -100.0f});
  auto out = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .attrs = {Attr("layout", std::string("NHWC")), Attr("group", int64_t{2})},
                        .inputs = {x, w, std::nullopt, z}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({1, 1, 1, 2}, {10.5f, 0.0f})));
}

TEST(FusedConvNhwcTest, NoActivationMatchesPlainConv) {
  const Tensor x = Random({2, 6, 7, 7}, 5), w = Random({10, 6, 3, 3}, 6), b = Random({10}, 7);
  const std::vector<onnx::AttributeProto> geometry = {Attr("pads", std::vector<int64_t>{1, 1, 1, 1})};
  auto conv = RunKernel({.op_type = "Conv", .attrs = geometry, .inputs = {x, w, b}});
  ASSERT_TRUE(conv.ok()) << conv.status();
  for (const std::string& layout : {std::string("NCHW"), std::string("NHWC")}) {
    for (bool empty_activation : {false, true}) {
      std::vector<onnx::AttributeProto> attrs = geometry;
      attrs.push_back(Attr("layout", layout));
      if (empty_activation) attrs.push_back(Attr("activation", std::string("")));
      const bool nhwc = layout == "NHWC";
      auto fused = RunKernel(
          {.op_type = "FusedConv", .domain = "ai.tessera", .attrs = attrs, .inputs = {nhwc ? Transpose(x, true) : x, w, b}});
      ASSERT_TRUE(fused.ok()) << fused.status();
      EXPECT_TRUE(TensorsNear(nhwc ? Transpose((*fused)[0], false) : (*fused)[0], (*conv)[0], 1e-4, 1e-4))
          << layout << " empty_activation=" << empty_activation;
    }
  }
}

TEST(FusedConvNhwcTest, Float64MatchesFloat32) {
  const Tensor x32 = Random({1, 6, 8, 8}, 8), w32 = Random({4, 3, 3, 3}, 9), b32 = Random({4}, 10);
  const Tensor x64 = Random<double>({1, 6, 8, 8}, 8), w64 = Random<double>({4, 3, 3, 3}, 9),
               b64 = Random<double>({4}, 10);
  const std::vector<onnx::AttributeProto> attrs = {Attr("layout", std::string("NHWC")), Attr("group", int64_t{2}),
                                                   Attr("strides", std::vector<int64_t>{2, 1}),
                                                   Attr("pads", std::vector<int64_t>{1, 0, 1, 1})};
  auto out32 = RunKernel({.op_type = "FusedConv", .domain = "ai.tessera", .attrs = attrs,
                          .inputs = {Transpose(x32, true), w32, b32}});
  auto out64 = RunKernel({.op_type = "FusedConv", .domain = "ai.tessera", .attrs = attrs,
                          .inputs = {Transpose<double>(x64, true), w64, b64}});
  ASSERT_TRUE(out32.ok()) << out32.status();
  ASSERT_TRUE(out64.ok()) << out64.status();
  ASSERT_EQ((*out64)[0].dtype(), DataType::kFloat64);
  ASSERT_EQ((*out64)[0].shape(), (*out32)[0].shape());
  for (int64_t i = 0; i < (*out32)[0].num_elements(); ++i) {
    EXPECT_NEAR((*out64)[0].data<double>()[i], (*out32)[0].data<float>()[i], 1e-4) << i;
  }
}

TEST(FusedConvNhwcTest, ZeroInputChannelsGiveBias) {
  const Tensor x = Tensor::Allocate(DataType::kFloat32, {1, 2, 3, 0});
  const Tensor w = Tensor::Allocate(DataType::kFloat32, {2, 0, 1, 1});
  const Tensor b = Tensor::FromVector<float>({2}, {1.5f, -2});
  auto out = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .attrs = {Attr("layout", std::string("NHWC")), Attr("activation", std::string("Relu"))},
                        .inputs = {x, w, b}});
  if (!out.ok()) {  // rejected like the NCHW path rejects it: fine, but never a crash
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
    return;
  }
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({1, 2, 3, 2}, {1.5f, 0, 1.5f, 0, 1.5f, 0,
                                                                               1.5f, 0, 1.5f, 0, 1.5f, 0})));
}

TEST(FusedConvNhwcTest, ConcurrentComputeOnOneKernel) {
  TestNode node({Attr("layout", std::string("NHWC")), Attr("pads", std::vector<int64_t>{1, 1, 1, 1}),
             Attr("activation", std::string("Relu"))});
  const Tensor x = Random({2, 9, 9, 16}, 11), w = Random({16, 16, 3, 3}, 12), b = Random({16}, 13);
  KernelInit init{node.proto, *node.attributes, 17, {nullptr, &w, &b}, {true, true, true}, {}};
  auto kernel = CreateConvKernel(init, ConvKernelOptions{.fused = true});
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  TestKernelContext first({x, w, b}, 1);
  ASSERT_TRUE((*kernel)->Compute(first).ok());
  std::vector<std::thread> workers;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        TestKernelContext ctx({x, w, b}, 1 + t % 2);
        if (!(*kernel)->Compute(ctx).ok() || !TensorsNear(ctx.output(), first.output(), 1e-5, 1e-5)) return;
      }
      ok[t] = 1;
    });
  }
  for (auto& worker : workers) worker.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ok[t], 1) << "thread " << t;
}

TEST(FusedConvNhwcTest, NonFourDimensionalInputIsInvalidArgument) {
  auto out = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .attrs = {Attr("layout", std::string("NHWC"))},
                        .inputs = {Random({1, 8, 4}, 1), Random({2, 4, 3}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("NHWC"), std::string::npos) << out.status();
}

TEST(FusedConvNhwcTest, UnknownLayoutIsInvalidArgument) {
  auto out = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .attrs = {Attr("layout", std::string("NCWH"))},
                        .inputs = {Random({1, 1, 3, 3}, 1), Random({1, 1, 1, 1}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("layout"), std::string::npos) << out.status();
  EXPECT_NE(out.status().message().find("NCWH"), std::string::npos) << out.status();
}

TEST(FusedConvNhwcTest, ChannelMismatchIsInvalidArgument) {
  // NHWC X with 4 channels (last axis) against W expecting 3.
  auto out = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .attrs = {Attr("layout", std::string("NHWC"))},
                        .inputs = {Random({1, 3, 3, 4}, 1), Random({2, 3, 1, 1}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
  EXPECT_NE(out.status().message().find("NHWC"), std::string::npos) << out.status();
}

TEST(FusedConvNhwcTest, NchwShapedResidualIsInvalidArgument) {
  // Y is NHWC [1, 4, 4, 3]; a residual shaped NCHW [1, 3, 4, 4] is rejected.
  auto out = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .attrs = {Attr("layout", std::string("NHWC"))},
                        .inputs = {Random({1, 4, 4, 2}, 1), Random({3, 2, 1, 1}, 2), std::nullopt,
                                   Random({1, 3, 4, 4}, 3)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("residual"), std::string::npos) << out.status();
}

}  // namespace
}  // namespace tessera::engine::testing
