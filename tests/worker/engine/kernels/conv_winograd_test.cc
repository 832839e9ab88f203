// WinogradConvolution (F(4x4, 3x3) on nChw8c) against a direct double
// precision convolution: exact-fit and partial edge tiles, symmetric and
// asymmetric padding, bias, residual and activations, several chunks of
// tiles, and bit-identical results for any thread count. Also: which
// geometries it accepts, and that FusedConv routes to it.
#include "worker/engine/kernels/conv_winograd.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/kernels/conv_kernel.h"

namespace tessera::engine::testing {
namespace {

struct WinogradCase {
  std::string name;
  int64_t n, c, h, w, m;
  std::vector<int64_t> pads = {1, 1, 1, 1};  // top, left, bottom, right
  bool bias = true;
  bool residual = false;
  std::string activation;  // "", "Relu" or "Clip" (-0.5, 0.5)
};

ConvGeometry Geometry(const WinogradCase& c) {
  ConvAttributes attrs;
  attrs.op = "FusedConv";
  attrs.pads = c.pads;
  absl::StatusOr<ConvGeometry> g = ResolveConvGeometry(attrs, {c.n, c.c, c.h, c.w}, {c.m, c.c, 3, 3});
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

FusedActivation Activation(const std::string& name) {
  if (name == "Relu") return FusedActivation(FusedActivation::Kind::kRelu, 0, 0);
  if (name == "Clip") return FusedActivation(FusedActivation::Kind::kClip, -0.5f, 0.5f);
  return FusedActivation();
}

// Direct convolution in double on nChw8c data. *max_preactivation gets the
// largest magnitude before the activation.
Tensor Reference(const WinogradCase& c, const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                 const Tensor* z, double* max_preactivation) {
  *max_preactivation = 0;
  const int64_t oh = g.out_spatial[0], ow = g.out_spatial[1];
  Tensor y = Tensor::Allocate(DataType::kFloat32, {c.n, c.m / 8, oh, ow, 8});
  const float* xd = x.data<float>();
  const float* wd = w.data<float>();
  const FusedActivation act = Activation(c.activation);
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t m = 0; m < c.m; ++m)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double sum = b ? b->data<float>()[m] : 0.0;
          for (int64_t ch = 0; ch < c.c; ++ch)
            for (int64_t ky = 0; ky < 3; ++ky)
              for (int64_t kx = 0; kx < 3; ++kx) {
                const int64_t iy = oy + ky - g.pads_begin[0], ix = ox + kx - g.pads_begin[1];
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                sum += double(xd[(((n * (c.c / 8) + ch / 8) * c.h + iy) * c.w + ix) * 8 + ch % 8]) *
                       wd[((m * c.c + ch) * 3 + ky) * 3 + kx];
              }
          const int64_t at = (((n * (c.m / 8) + m / 8) * oh + oy) * ow + ox) * 8 + m % 8;
          float value = static_cast<float>(sum + (z ? z->data<float>()[at] : 0.0f));
          *max_preactivation = std::max(*max_preactivation, double(std::fabs(value)));
          act.Apply(&value, 1);
          y.data<float>()[at] = value;
        }
  return y;
}

class WinogradMatchesDirect : public ::testing::TestWithParam<WinogradCase> {};

TEST_P(WinogradMatchesDirect, OneAndTwoThreads) {
  const WinogradCase& c = GetParam();
  const ConvGeometry g = Geometry(c);
  ASSERT_TRUE(WinogradConvolution::Supports(g));
  const Tensor x = RandomTensor({c.n, c.c / 8, c.h, c.w, 8}, 1);
  const Tensor w = RandomTensor({c.m, c.c, 3, 3}, 2);
  const Tensor b = RandomTensor({c.m}, 3);
  const Tensor z = RandomTensor({c.n, c.m / 8, g.out_spatial[0], g.out_spatial[1], 8}, 4);
  const Tensor* bias = c.bias ? &b : nullptr;
  const Tensor* residual = c.residual ? &z : nullptr;
  double max_abs = 0;
  const Tensor expected = Reference(c, g, x, w, bias, residual, &max_abs);

  const WinogradConvolution conv(c.m, c.c, w.data<float>(), Activation(c.activation));
  Tensor one = Tensor::Allocate(DataType::kFloat32, expected.shape());
  Tensor two = Tensor::Allocate(DataType::kFloat32, expected.shape());
  conv.Run(g, x.data<float>(), bias ? bias->data<float>() : nullptr, residual ? residual->data<float>() : nullptr,
           one.data<float>(), 1);
  conv.Run(g, x.data<float>(), bias ? bias->data<float>() : nullptr, residual ? residual->data<float>() : nullptr,
           two.data<float>(), 2);
  // The transforms' rounding is relative to the magnitudes before the
  // activation (1e-5 of them at 2304-term sums); a wrong transform or tile
  // index is off by O(1).
  EXPECT_TRUE(TensorsNear(one, expected, 0, 3e-5 * max_abs)) << c.name;
  // The thread split never changes the arithmetic: bit-identical.
  EXPECT_EQ(0, std::memcmp(one.data<float>(), two.data<float>(), one.num_elements() * sizeof(float))) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, WinogradMatchesDirect,
    ::testing::Values(
        WinogradCase{.name = "one_exact_tile", .n = 1, .c = 8, .h = 6, .w = 6, .m = 8, .pads = {0, 0, 0, 0}},
        WinogradCase{.name = "single_output", .n = 1, .c = 8, .h = 3, .w = 3, .m = 16, .pads = {0, 0, 0, 0}},
        WinogradCase{.name = "edge_tiles_relu", .n = 2, .c = 16, .h = 7, .w = 9, .m = 24, .activation = "Relu"},
        WinogradCase{.name = "asymmetric_pads", .n = 1, .c = 8, .h = 5, .w = 5, .m = 8, .pads = {0, 2, 1, 0}},
        WinogradCase{.name = "wide_pads", .n = 1, .c = 8, .h = 4, .w = 6, .m = 8, .pads = {2, 2, 2, 2}},
        WinogradCase{.name = "residual_clip_nobias", .n = 3, .c = 32, .h = 14, .w = 14, .m = 32, .bias = false,
                     .residual = true, .activation = "Clip"},
        WinogradCase{.name = "resnet_l1_like", .n = 1, .c = 64, .h = 56, .w = 56, .m = 64, .residual = true,
                     .activation = "Relu"},
        // 36 tiles of 512 channels: more than one chunk of tiles.
        WinogradCase{.name = "several_chunks", .n = 4, .c = 256, .h = 12, .w = 12, .m = 256,
                     .activation = "Relu"}),
    [](const ::testing::TestParamInfo<WinogradCase>& info) { return info.param.name; });

TEST(WinogradConvolutionTest, SupportsOnlyStrideOneDenseThreeByThreeOnWholeBlocks) {
  auto geometry = [](std::vector<int64_t> strides, std::vector<int64_t> dilations, int64_t group, Shape w) {
    ConvAttributes attrs;
    attrs.op = "Conv";
    attrs.strides = std::move(strides);
    attrs.dilations = std::move(dilations);
    attrs.group = group;
    attrs.pads = {1, 1, 1, 1};
    return *ResolveConvGeometry(attrs, {1, 16, 10, 10}, w);
  };
  EXPECT_TRUE(WinogradConvolution::Supports(geometry({1, 1}, {1, 1}, 1, {16, 16, 3, 3})));
  EXPECT_FALSE(WinogradConvolution::Supports(geometry({2, 2}, {1, 1}, 1, {16, 16, 3, 3})));
  EXPECT_FALSE(WinogradConvolution::Supports(geometry({1, 1}, {2, 2}, 1, {16, 16, 3, 3})));
  EXPECT_FALSE(WinogradConvolution::Supports(geometry({1, 1}, {1, 1}, 2, {16, 8, 3, 3})));
  EXPECT_FALSE(WinogradConvolution::Supports(geometry({1, 1}, {1, 1}, 1, {16, 16, 5, 5})));
  EXPECT_FALSE(WinogradConvolution::Supports(geometry({1, 1}, {1, 1}, 1, {12, 16, 3, 3})));
}

// FusedConv (NCHW8c, constant weights) picks Winograd for a ResNet-sized
// layer and gives the same answer as with oneDNN forced.
TEST(WinogradConvolutionTest, FusedConvAutoMatchesOneDnn) {
  TestNode node({Attr("layout", std::string("NCHW8c")), Attr("pads", std::vector<int64_t>{1, 1, 1, 1}),
                 Attr("activation", std::string("Relu"))});
  const Tensor x = RandomTensor({2, 8, 28, 28, 8}, 5), w = RandomTensor({64, 64, 3, 3}, 6),
               b = RandomTensor({64}, 7), z = RandomTensor({2, 8, 28, 28, 8}, 8);
  ConvAttributes attrs;
  attrs.pads = {1, 1, 1, 1};
  ASSERT_TRUE(WinogradConvolution::PrefersWinograd(*ResolveConvGeometry(attrs, {2, 64, 28, 28}, w.shape())));
  std::vector<Tensor> outputs;
  for (ConvBackend backend : {ConvBackend::kAuto, ConvBackend::kWinograd, ConvBackend::kOneDnnBlocked}) {
    KernelInit init{node.proto, *node.attributes, 17, {nullptr, &w, &b}, {true, true, true}, {}};
    auto kernel = CreateConvKernel(init, ConvKernelOptions{.fused = true, .backend = backend});
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    TestKernelContext ctx({x, w, b, z}, 2);
    ASSERT_TRUE((*kernel)->Compute(ctx).ok());
    outputs.push_back(ctx.output());
  }
  EXPECT_EQ(0, std::memcmp(outputs[0].data<float>(), outputs[1].data<float>(), outputs[0].num_elements() * 4))
      << "auto did not choose Winograd";
  EXPECT_TRUE(TensorsNear(outputs[1], outputs[2], 1e-4, 1e-4));
}

}  // namespace
}  // namespace tessera::engine::testing
