// FusedConv with layout="NCHW8c": X, Z and Y are oneDNN's nChw8c
// ([N, C/8, H, W, 8]); the result equals the NCHW result converted to that
// layout, for ResNet-style shapes (dense 3x3 strided/padded, 1x1 incl. the
// stride-2 downsample, 7x7 on 8+ channels), with and without residual, bias
// and activation, constant and runtime weights, 1 and 2 threads, every backend
// option, float64, concurrent calls; plus bad-input cases.
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

// Reference conversion [N, C, H, W] -> [N, C/8, H, W, 8] by index arithmetic.
template <typename T = float>
Tensor ToBlocked(const Tensor& t) {
  const int64_t n = t.dim(0), c = t.dim(1), h = t.dim(2), w = t.dim(3);
  Tensor out = Tensor::Allocate(t.dtype(), {n, c / 8, h, w, 8});
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ic = 0; ic < c; ++ic)
      for (int64_t ih = 0; ih < h; ++ih)
        for (int64_t iw = 0; iw < w; ++iw)
          out.data<T>()[(((in * (c / 8) + ic / 8) * h + ih) * w + iw) * 8 + ic % 8] =
              t.data<T>()[((in * c + ic) * h + ih) * w + iw];
  return out;
}


struct BlockedCase {
  std::string name;
  Shape x, w;  // x logical NCHW
  int64_t group = 1;
  std::vector<int64_t> strides = {1, 1}, pads = {0, 0, 0, 0}, dilations = {1, 1};
  std::string auto_pad;
  std::string activation;
  bool residual = false;
  bool bias = true;
};

std::vector<onnx::AttributeProto> CaseAttrs(const BlockedCase& c, const std::string& layout) {
  std::vector<onnx::AttributeProto> attrs = {Attr("group", c.group), Attr("strides", c.strides),
                                             Attr("dilations", c.dilations)};
  if (c.auto_pad.empty()) {
    attrs.push_back(Attr("pads", c.pads));
  } else {
    attrs.push_back(Attr("auto_pad", c.auto_pad));
  }
  if (!c.activation.empty()) attrs.push_back(Attr("activation", c.activation));
  if (c.activation == "Clip") attrs.push_back(Attr("activation_params", std::vector<float>{-0.5f, 0.5f}));
  if (!layout.empty()) attrs.push_back(Attr("layout", layout));
  return attrs;
}

class FusedConvNchw8c : public ::testing::TestWithParam<BlockedCase> {};

TEST_P(FusedConvNchw8c, MatchesNchwConverted) {
  const BlockedCase& c = GetParam();
  const Tensor x = Random(c.x, 1), w = Random(c.w, 2), b = Random({c.w[0]}, 3);
  const std::optional<Tensor> bias = c.bias ? std::optional<Tensor>(b) : std::nullopt;
  // NCHW reference from the existing path, forced to im2col so that it is
  // independent of oneDNN.
  TestNode nchw_node(CaseAttrs(c, ""));
  KernelInit nchw_init{nchw_node.proto, *nchw_node.attributes, 17, {nullptr, nullptr, nullptr}, {true, true, true}, {}};
  auto nchw_kernel =
      CreateConvKernel(nchw_init, ConvKernelOptions{.fused = true, .backend = ConvBackend::kIm2colBlas});
  ASSERT_TRUE(nchw_kernel.ok()) << nchw_kernel.status();
  TestKernelContext probe({x, w, bias}, 2);
  ASSERT_TRUE((*nchw_kernel)->Compute(probe).ok());
  std::optional<Tensor> z;
  if (c.residual) z = Random(probe.output().shape(), 4);
  TestKernelContext reference_ctx({x, w, bias, z}, 2);
  ASSERT_TRUE((*nchw_kernel)->Compute(reference_ctx).ok());
  const Tensor expected = ToBlocked(reference_ctx.output());

  const Tensor x_blocked = ToBlocked(x);
  std::optional<Tensor> z_blocked;
  if (z) z_blocked = ToBlocked(*z);
  TestNode node(CaseAttrs(c, "NCHW8c"));
  for (ConvBackend backend : {ConvBackend::kAuto, ConvBackend::kIm2colBlas, ConvBackend::kWinograd}) {
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
        TestKernelContext ctx({x_blocked, w, bias, z_blocked}, threads);
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
    Shapes, FusedConvNchw8c,
    ::testing::Values(
        BlockedCase{.name = "resnet_3x3_relu", .x = {2, 16, 10, 10}, .w = {16, 16, 3, 3}, .pads = {1, 1, 1, 1},
                    .activation = "Relu"},
        BlockedCase{.name = "resnet_3x3_residual_relu", .x = {2, 32, 8, 8}, .w = {32, 32, 3, 3},
                    .pads = {1, 1, 1, 1}, .activation = "Relu", .residual = true},
        BlockedCase{.name = "resnet_3x3_s2_widen", .x = {1, 16, 11, 11}, .w = {32, 16, 3, 3}, .strides = {2, 2},
                    .pads = {1, 1, 1, 1}, .activation = "Relu"},
        BlockedCase{.name = "resnet_3x3_residual_no_act", .x = {1, 64, 7, 7}, .w = {64, 64, 3, 3},
                    .pads = {1, 1, 1, 1}, .residual = true},
        BlockedCase{.name = "downsample_1x1_s2", .x = {2, 16, 9, 9}, .w = {32, 16, 1, 1}, .strides = {2, 2}},
        BlockedCase{.name = "downsample_1x1_s2_nobias", .x = {1, 64, 14, 14}, .w = {128, 64, 1, 1},
                    .strides = {2, 2}, .bias = false},
        BlockedCase{.name = "pointwise_1x1_residual_clip", .x = {2, 24, 7, 7}, .w = {40, 24, 1, 1},
                    .activation = "Clip", .residual = true},
        BlockedCase{.name = "pointwise_nobias_residual", .x = {1, 8, 4, 4}, .w = {16, 8, 1, 1}, .residual = true,
                    .bias = false},
        BlockedCase{.name = "stem_7x7_s2_8ch", .x = {1, 8, 16, 16}, .w = {16, 8, 7, 7}, .strides = {2, 2},
                    .pads = {3, 3, 3, 3}, .activation = "Relu"},
        BlockedCase{.name = "depthwise_3x3", .x = {1, 16, 9, 9}, .w = {16, 1, 3, 3}, .group = 16,
                    .pads = {1, 1, 1, 1}, .activation = "Sigmoid"},
        BlockedCase{.name = "grouped_4ch_per_group", .x = {1, 16, 6, 6}, .w = {16, 4, 3, 3}, .group = 4,
                    .pads = {1, 1, 1, 1}, .residual = true},
        BlockedCase{.name = "dilated_asym_pads_leaky", .x = {1, 8, 9, 11}, .w = {8, 8, 3, 2},
                    .strides = {2, 1}, .pads = {0, 1, 2, 0}, .dilations = {2, 2}, .activation = "LeakyRelu"},
        BlockedCase{.name = "same_upper_s2", .x = {1, 8, 7, 8}, .w = {16, 8, 3, 3}, .strides = {2, 2},
                    .auto_pad = "SAME_UPPER", .activation = "Tanh"},
        BlockedCase{.name = "valid_nonsquare", .x = {3, 8, 6, 5}, .w = {8, 8, 3, 3}, .auto_pad = "VALID"}),
    [](const ::testing::TestParamInfo<BlockedCase>& info) { return info.param.name; });

TEST(FusedConvNchw8cTest, HandComputedPointwise) {
  // 8 input channels, one pixel; X channel c = c + 1. W [8, 8, 1, 1]: output
  // channel m sums the inputs times (m == 0 ? 1 : -1). B = 0.5 each.
  // Y[0] = 36.5, Y[m>0] = -35.5 -> Relu 0.
  std::vector<float> xv(8), wv(64);
  for (int c = 0; c < 8; ++c) xv[c] = static_cast<float>(c + 1);
  for (int m = 0; m < 8; ++m)
    for (int c = 0; c < 8; ++c) wv[m * 8 + c] = m == 0 ? 1.0f : -1.0f;
  const Tensor x = Tensor::FromVector<float>({1, 1, 1, 1, 8}, xv);
  const Tensor w = Tensor::FromVector<float>({8, 8, 1, 1}, wv);
  const Tensor b = Tensor::FromVector<float>({8}, std::vector<float>(8, 0.5f));
  for (const std::string& activation : {std::string(""), std::string("Relu")}) {
    auto out = RunKernel({.op_type = "FusedConv",
                          .domain = "ai.tessera",
                          .attrs = {Attr("layout", std::string("NCHW8c")), Attr("activation", activation)},
                          .inputs = {x, w, b}});
    ASSERT_TRUE(out.ok()) << out.status();
    const float neg = activation.empty() ? -35.5f : 0.0f;
    EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({1, 1, 1, 1, 8},
                                                                 {36.5f, neg, neg, neg, neg, neg, neg, neg})));
  }
}

TEST(FusedConvNchw8cTest, Float64MatchesFloat32) {
  const Tensor x = Random({1, 2, 5, 5, 8}, 5), w = Random({8, 16, 3, 3}, 6), b = Random({8}, 7);
  auto f32 = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .attrs = {Attr("layout", std::string("NCHW8c")), Attr("pads", std::vector<int64_t>{1, 1, 1, 1})},
                        .inputs = {x, w, b}});
  ASSERT_TRUE(f32.ok()) << f32.status();
  Tensor x64 = Tensor::Allocate(DataType::kFloat64, x.shape()), w64 = Tensor::Allocate(DataType::kFloat64, w.shape()),
         b64 = Tensor::Allocate(DataType::kFloat64, b.shape());
  for (int64_t i = 0; i < x.num_elements(); ++i) x64.data<double>()[i] = x.data<float>()[i];
  for (int64_t i = 0; i < w.num_elements(); ++i) w64.data<double>()[i] = w.data<float>()[i];
  for (int64_t i = 0; i < b.num_elements(); ++i) b64.data<double>()[i] = b.data<float>()[i];
  auto f64 = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .attrs = {Attr("layout", std::string("NCHW8c")), Attr("pads", std::vector<int64_t>{1, 1, 1, 1})},
                        .inputs = {x64, w64, b64}});
  ASSERT_TRUE(f64.ok()) << f64.status();
  ASSERT_EQ((*f64)[0].shape(), (Shape{1, 1, 5, 5, 8}));
  for (int64_t i = 0; i < (*f32)[0].num_elements(); ++i) {
    EXPECT_NEAR((*f64)[0].data<double>()[i], (*f32)[0].data<float>()[i], 1e-4) << i;
  }
}

TEST(FusedConvNchw8cTest, ConcurrentComputeOnOneKernel) {
  TestNode node({Attr("layout", std::string("NCHW8c")), Attr("pads", std::vector<int64_t>{1, 1, 1, 1}),
             Attr("activation", std::string("Relu"))});
  const Tensor x = Random({2, 2, 9, 9, 8}, 11), w = Random({16, 16, 3, 3}, 12), b = Random({16}, 13);
  const Tensor z = Random({2, 2, 9, 9, 8}, 14);
  KernelInit init{node.proto, *node.attributes, 17, {nullptr, &w, &b}, {true, true, true}, {}};
  auto kernel = CreateConvKernel(init, ConvKernelOptions{.fused = true});
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  TestKernelContext first({x, w, b, z}, 1);
  ASSERT_TRUE((*kernel)->Compute(first).ok());
  std::vector<std::thread> workers;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        TestKernelContext ctx({x, w, b, z}, 1 + t % 2);
        if (!(*kernel)->Compute(ctx).ok() || !TensorsNear(ctx.output(), first.output(), 1e-5, 1e-5)) return;
      }
      ok[t] = 1;
    });
  }
  for (auto& worker : workers) worker.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ok[t], 1) << "thread " << t;
}

absl::Status RunBlocked(std::vector<std::optional<Tensor>> inputs) {
  return RunKernel({.op_type = "FusedConv",
                    .domain = "ai.tessera",
                    .attrs = {Attr("layout", std::string("NCHW8c"))},
                    .inputs = std::move(inputs)})
      .status();
}

TEST(FusedConvNchw8cTest, FourDimensionalInputIsInvalidArgument) {
  absl::Status st = RunBlocked({Random({1, 8, 4, 4}, 1), Random({8, 8, 1, 1}, 2)});
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("NCHW8c"), std::string::npos) << st;
}

TEST(FusedConvNchw8cTest, InnerBlockNotEightIsInvalidArgument) {
  absl::Status st = RunBlocked({Random({1, 2, 4, 4, 4}, 1), Random({8, 8, 1, 1}, 2)});
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("[N, C/8, H, W, 8]"), std::string::npos) << st;
}

TEST(FusedConvNchw8cTest, OutputChannelsNotMultipleOfEightIsInvalidArgument) {
  absl::Status st = RunBlocked({Random({1, 1, 4, 4, 8}, 1), Random({12, 8, 1, 1}, 2)});
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("M = 12"), std::string::npos) << st;
}

TEST(FusedConvNchw8cTest, InputChannelMismatchIsInvalidArgument) {
  // X holds 16 channels, W expects 8.
  absl::Status st = RunBlocked({Random({1, 2, 4, 4, 8}, 1), Random({8, 8, 1, 1}, 2)});
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("NCHW8c"), std::string::npos) << st;
}

TEST(FusedConvNchw8cTest, NchwShapedResidualIsInvalidArgument) {
  absl::Status st =
      RunBlocked({Random({1, 1, 4, 4, 8}, 1), Random({8, 8, 1, 1}, 2), std::nullopt, Random({1, 8, 4, 4}, 3)});
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("residual"), std::string::npos) << st;
}

TEST(FusedConvNchw8cTest, ThreeDimensionalConvolutionIsInvalidArgument) {
  // Rank-5 X read as NCHW8c is 2-D; a 3-D kernel W cannot match it.
  absl::Status st = RunBlocked({Random({1, 1, 4, 4, 8}, 1), Random({8, 8, 1, 1, 1}, 2)});
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
}

}  // namespace
}  // namespace tessera::engine::testing
