// Conv / FusedConv / ConvTranspose against naive reference implementations.
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

// Decomposes a flat index over `dims` into coordinates.
std::vector<int64_t> Coords(int64_t flat, const std::vector<int64_t>& dims) {
  std::vector<int64_t> c(dims.size());
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    c[i] = flat % dims[i];
    flat /= dims[i];
  }
  return c;
}

struct Geometry {
  std::vector<int64_t> strides, dilations, pads_begin, pads_end;
};

Tensor ReferenceConv(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group, const Geometry& g) {
  const int r = x.rank() - 2;
  const int64_t n_batch = x.dim(0), c_in = x.dim(1), m_out = w.dim(0), cg = w.dim(1), mg = m_out / group;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end()), k(w.shape().begin() + 2, w.shape().end()), out(r);
  for (int i = 0; i < r; ++i) {
    out[i] = (in[i] + g.pads_begin[i] + g.pads_end[i] - ((k[i] - 1) * g.dilations[i] + 1)) / g.strides[i] + 1;
  }
  Shape ys = {n_batch, m_out};
  ys.insert(ys.end(), out.begin(), out.end());
  Tensor y = Tensor::Allocate(DataType::kFloat32, ys);
  const int64_t out_size = NumElements(out), in_size = NumElements(in), k_size = NumElements(k);
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t m = 0; m < m_out; ++m) {
      const int64_t grp = m / mg;
      for (int64_t p = 0; p < out_size; ++p) {
        const auto oc = Coords(p, out);
        double acc = b ? b->data<float>()[m] : 0.0;
        for (int64_t c = 0; c < cg; ++c) {
          for (int64_t kk = 0; kk < k_size; ++kk) {
            const auto kc = Coords(kk, k);
            int64_t offset = 0;
            bool valid = true;
            for (int i = 0; i < r; ++i) {
              const int64_t ic = oc[i] * g.strides[i] - g.pads_begin[i] + kc[i] * g.dilations[i];
              valid = valid && ic >= 0 && ic < in[i];
              offset = offset * in[i] + ic;
            }
            if (!valid) continue;
            acc += double(x.data<float>()[(n * c_in + grp * cg + c) * in_size + offset]) *
                   w.data<float>()[(m * cg + c) * k_size + kk];
          }
        }
        y.data<float>()[(n * m_out + m) * out_size + p] = static_cast<float>(acc);
      }
    }
  }
  return y;
}

Tensor ReferenceConvTranspose(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group, const Geometry& g,
                              const std::vector<int64_t>& out) {
  const int r = x.rank() - 2;
  const int64_t n_batch = x.dim(0), c_in = x.dim(1), mg = w.dim(1), m_out = mg * group, cg = c_in / group;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end()), k(w.shape().begin() + 2, w.shape().end());
  Shape ys = {n_batch, m_out};
  ys.insert(ys.end(), out.begin(), out.end());
  const int64_t out_size = NumElements(out), in_size = NumElements(in), k_size = NumElements(k);
  std::vector<double> acc(n_batch * m_out * out_size, 0.0);
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t c = 0; c < c_in; ++c) {
      const int64_t grp = c / cg;
      for (int64_t q = 0; q < in_size; ++q) {
        const auto ic = Coords(q, in);
        const double xv = x.data<float>()[(n * c_in + c) * in_size + q];
        for (int64_t m = 0; m < mg; ++m) {
          for (int64_t kk = 0; kk < k_size; ++kk) {
            const auto kc = Coords(kk, k);
            int64_t offset = 0;
            bool valid = true;
            for (int i = 0; i < r; ++i) {
              const int64_t o = ic[i] * g.strides[i] - g.pads_begin[i] + kc[i] * g.dilations[i];
              valid = valid && o >= 0 && o < out[i];
              offset = offset * out[i] + o;
            }
            if (!valid) continue;
            acc[(n * m_out + grp * mg + m) * out_size + offset] += xv * w.data<float>()[(c * mg + m) * k_size + kk];
          }
        }
      }
    }
  }
  Tensor y = Tensor::Allocate(DataType::kFloat32, ys);
  for (int64_t i = 0; i < y.num_elements(); ++i) {
    const int64_t m = (i / out_size) % m_out;
    y.data<float>()[i] = static_cast<float>(acc[i] + (b ? b->data<float>()[m] : 0.0));
  }
  return y;
}

struct ConvCase {
  Shape x, w;
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads;  // empty = attribute omitted
  bool bias = true;
};

std::vector<onnx::AttributeProto> ConvAttrs(const ConvCase& c) {
  std::vector<onnx::AttributeProto> attrs;
  if (c.group != 1) attrs.push_back(Attr("group", c.group));
  if (!c.strides.empty()) attrs.push_back(Attr("strides", c.strides));
  if (!c.dilations.empty()) attrs.push_back(Attr("dilations", c.dilations));
  if (!c.pads.empty()) attrs.push_back(Attr("pads", c.pads));
  return attrs;
}

Geometry ExplicitGeometry(const ConvCase& c) {
  const size_t r = c.x.size() - 2;
  Geometry g;
  g.strides = c.strides.empty() ? std::vector<int64_t>(r, 1) : c.strides;
  g.dilations = c.dilations.empty() ? std::vector<int64_t>(r, 1) : c.dilations;
  g.pads_begin.assign(r, 0);
  g.pads_end.assign(r, 0);
  if (!c.pads.empty()) {
    g.pads_begin.assign(c.pads.begin(), c.pads.begin() + r);
    g.pads_end.assign(c.pads.begin() + r, c.pads.end());
  }
  return g;
}

class ConvAgainstReference : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvAgainstReference, MatchesNaiveConvolution) {
  const ConvCase& c = GetParam();
  const Tensor x = RandomTensor(c.x, 1), w = RandomTensor(c.w, 2), b = RandomTensor({c.w[0]}, 3);
  const Tensor expected = ReferenceConv(x, w, c.bias ? &b : nullptr, c.group, ExplicitGeometry(c));
  for (bool constant : {false, true}) {
    for (int threads : {1, 2}) {
      KernelTestCase tc{.op_type = "Conv", .attrs = ConvAttrs(c), .inputs = {x, w}};
      if (c.bias) tc.inputs.push_back(b);
      tc.inputs_constant = constant;
      tc.threads = threads;
      auto out = RunKernel(tc);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_TRUE(TensorsNear((*out)[0], expected, 1e-4, 1e-4)) << "constant=" << constant << " threads=" << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvAgainstReference,
    ::testing::Values(
        // 2-D: plain, strided, padded, dilated, asymmetric pads, no bias.
        ConvCase{.x = {1, 3, 9, 9}, .w = {4, 3, 3, 3}},
        ConvCase{.x = {2, 8, 10, 7}, .w = {16, 8, 3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1}},
        ConvCase{.x = {1, 4, 11, 11}, .w = {8, 4, 3, 3}, .dilations = {2, 3}, .pads = {2, 1, 0, 3}},
        ConvCase{.x = {2, 6, 8, 8}, .w = {6, 6, 1, 1}, .bias = false},
        ConvCase{.x = {1, 5, 9, 6}, .w = {7, 5, 2, 4}, .strides = {3, 1}, .pads = {0, 2, 1, 0}},
        ConvCase{.x = {1, 16, 14, 14}, .w = {32, 16, 1, 1}, .strides = {2, 2}},
        // Groups and depthwise (MobileNet-style, with stride 2).
        ConvCase{.x = {2, 8, 9, 9}, .w = {12, 2, 3, 3}, .group = 4, .pads = {1, 1, 1, 1}},
        ConvCase{.x = {2, 16, 12, 12}, .w = {16, 1, 3, 3}, .group = 16, .strides = {2, 2}, .pads = {1, 1, 1, 1}},
        ConvCase{.x = {1, 8, 7, 7}, .w = {16, 1, 3, 3}, .group = 8, .pads = {1, 1, 1, 1}},  // channel multiplier 2
        // 1-D and 3-D.
        ConvCase{.x = {2, 3, 17}, .w = {5, 3, 4}, .strides = {2}, .dilations = {2}, .pads = {3, 1}},
        ConvCase{.x = {1, 4, 12}, .w = {8, 2, 3}, .group = 2, .bias = false},
        ConvCase{.x = {1, 2, 6, 7, 5}, .w = {3, 2, 3, 2, 3}, .strides = {1, 2, 1}, .pads = {1, 0, 1, 1, 1, 0}},
        ConvCase{.x = {2, 4, 5, 5, 5}, .w = {4, 2, 2, 2, 2}, .group = 2, .dilations = {2, 1, 2}}));

struct AutoPadCase {
  std::string auto_pad;
  Shape x, w;
  std::vector<int64_t> strides, dilations;
};

class ConvAutoPad : public ::testing::TestWithParam<AutoPadCase> {};

TEST_P(ConvAutoPad, MatchesExplicitPads) {
  const AutoPadCase& c = GetParam();
  const Tensor x = RandomTensor(c.x, 4), w = RandomTensor(c.w, 5);
  const size_t r = c.x.size() - 2;
  Geometry g{c.strides, c.dilations, std::vector<int64_t>(r, 0), std::vector<int64_t>(r, 0)};
  if (c.auto_pad != "VALID") {
    for (size_t i = 0; i < r; ++i) {
      const int64_t in = c.x[i + 2], s = c.strides[i], dk = (c.w[i + 2] - 1) * c.dilations[i] + 1;
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
      g.pads_begin[i] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pads_end[i] = total - g.pads_begin[i];
    }
  }
  const Tensor expected = ReferenceConv(x, w, nullptr, 1, g);
  auto out = RunKernel({.op_type = "Conv",
                        .attrs = {Attr("auto_pad", c.auto_pad), Attr("strides", c.strides),
                                  Attr("dilations", c.dilations), Attr("kernel_shape", std::vector<int64_t>(
                                                                                          c.w.begin() + 2, c.w.end()))},
                        .inputs = {x, w}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], expected, 1e-4, 1e-4));
}

INSTANTIATE_TEST_SUITE_P(
    Modes, ConvAutoPad,
    ::testing::Values(AutoPadCase{"SAME_UPPER", {1, 2, 7, 8}, {3, 2, 4, 3}, {2, 2}, {1, 1}},
                      AutoPadCase{"SAME_LOWER", {1, 2, 7, 8}, {3, 2, 4, 3}, {2, 2}, {1, 1}},
                      AutoPadCase{"SAME_UPPER", {1, 2, 9, 6}, {3, 2, 2, 3}, {1, 3}, {2, 1}},
                      AutoPadCase{"SAME_LOWER", {2, 3, 10}, {2, 3, 4}, {3}, {1}},
                      AutoPadCase{"VALID", {1, 2, 9, 9}, {2, 2, 3, 3}, {2, 2}, {1, 1}}));

TEST(ConvTest, Float64MatchesFloat32) {
  const Tensor x = RandomTensor({1, 3, 6, 6}, 6), w = RandomTensor({4, 3, 3, 3}, 7);
  Tensor xd = Tensor::Allocate(DataType::kFloat64, x.shape()), wd = Tensor::Allocate(DataType::kFloat64, w.shape());
  for (int64_t i = 0; i < x.num_elements(); ++i) xd.data<double>()[i] = x.data<float>()[i];
  for (int64_t i = 0; i < w.num_elements(); ++i) wd.data<double>()[i] = w.data<float>()[i];
  const Tensor expected = ReferenceConv(x, w, nullptr, 1, Geometry{{1, 1}, {1, 1}, {1, 1}, {1, 1}});
  auto out = RunKernel({.op_type = "Conv", .attrs = {Attr("pads", std::vector<int64_t>{1, 1, 1, 1})}, .inputs = {xd, wd}});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)[0].dtype(), DataType::kFloat64);
  for (int64_t i = 0; i < expected.num_elements(); ++i) {
    EXPECT_NEAR((*out)[0].data<double>()[i], expected.data<float>()[i], 1e-5);
  }
}

TEST(ConvTest, HandComputed) {
  // 1x1x3x3 input 1..9, 2x2 kernel of ones, no padding: sums of 2x2 windows.
  const Tensor x = Tensor::FromVector<float>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor w = Tensor::FromVector<float>({1, 1, 2, 2}, {1, 1, 1, 1});
  const Tensor b = Tensor::FromVector<float>({1}, {0.5f});
  auto out = RunKernel({.op_type = "Conv", .inputs = {x, w, b}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<float>({1, 1, 2, 2}, {12.5f, 16.5f, 24.5f, 28.5f})));
}

// FusedConv: act(conv + b + Z) for every activation, with and without Z.
struct FusedCase {
  std::string activation;
  std::vector<float> params;
  bool residual;
};

float ApplyReference(const FusedCase& c, float v) {
  const std::string& a = c.activation;
  if (a == "Relu") return std::max(v, 0.0f);
  if (a == "Clip") return std::min(std::max(v, c.params[0]), c.params[1]);
  if (a == "LeakyRelu") return v < 0 ? v * (c.params.empty() ? 0.01f : c.params[0]) : v;
  if (a == "Sigmoid") return 1.0f / (1.0f + std::exp(-v));
  if (a == "HardSigmoid") return std::min(std::max(c.params[0] * v + c.params[1], 0.0f), 1.0f);
  if (a == "HardSwish") return v * std::min(std::max(v / 6.0f + 0.5f, 0.0f), 1.0f);
  if (a == "Tanh") return std::tanh(v);
  return v;
}

class FusedConvTest : public ::testing::TestWithParam<FusedCase> {};

TEST_P(FusedConvTest, MatchesConvThenActivation) {
  const FusedCase& c = GetParam();
  const Tensor x = RandomTensor({2, 8, 9, 9}, 8), w = RandomTensor({8, 8, 3, 3}, 9), b = RandomTensor({8}, 10);
  const Tensor z = RandomTensor({2, 8, 9, 9}, 11);
  Tensor expected = ReferenceConv(x, w, &b, 1, Geometry{{1, 1}, {1, 1}, {1, 1}, {1, 1}});
  for (int64_t i = 0; i < expected.num_elements(); ++i) {
    float v = expected.data<float>()[i] + (c.residual ? z.data<float>()[i] : 0.0f);
    expected.data<float>()[i] = c.activation.empty() ? v : ApplyReference(c, v);
  }
  for (bool constant : {false, true}) {
    KernelTestCase tc{.op_type = "FusedConv",
                      .domain = "ai.tessera",
                      .attrs = {Attr("pads", std::vector<int64_t>{1, 1, 1, 1})},
                      .inputs = {x, w, b},
                      .inputs_constant = constant};
    if (!c.activation.empty()) tc.attrs.push_back(Attr("activation", c.activation));
    if (!c.params.empty()) tc.attrs.push_back(Attr("activation_params", c.params));
    if (c.residual) tc.inputs.push_back(z);
    auto out = RunKernel(tc);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(TensorsNear((*out)[0], expected, 1e-4, 1e-4)) << c.activation << " constant=" << constant;
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, FusedConvTest,
                         ::testing::Values(FusedCase{"", {}, true}, FusedCase{"Relu", {}, false},
                                           FusedCase{"Relu", {}, true}, FusedCase{"Clip", {0.0f, 6.0f}, false},
                                           FusedCase{"Clip", {-0.5f, 0.5f}, true}, FusedCase{"LeakyRelu", {0.2f}, false},
                                           FusedCase{"LeakyRelu", {}, false}, FusedCase{"Sigmoid", {}, false},
                                           FusedCase{"HardSigmoid", {0.3f, 0.4f}, true},
                                           FusedCase{"HardSwish", {}, false}, FusedCase{"Tanh", {}, true}));

TEST(FusedConvTest, UnknownActivationIsInvalidArgument) {
  auto out = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .attrs = {Attr("activation", std::string("Swishy"))},
                        .inputs = {RandomTensor({1, 1, 3, 3}, 1), RandomTensor({1, 1, 1, 1}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("Swishy"), std::string::npos);
}

TEST(FusedConvTest, ResidualShapeMismatchIsInvalidArgument) {
  auto out = RunKernel({.op_type = "FusedConv",
                        .domain = "ai.tessera",
                        .inputs = {RandomTensor({1, 2, 4, 4}, 1), RandomTensor({3, 2, 1, 1}, 2), std::nullopt, RandomTensor({1, 3, 4, 5}, 3)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("residual"), std::string::npos);
}

// ConvTranspose against the scatter reference.
struct ConvTransposeCase {
  Shape x, w;
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads, output_padding, output_shape;
  std::string auto_pad;
};

class ConvTransposeAgainstReference : public ::testing::TestWithParam<ConvTransposeCase> {};

TEST_P(ConvTransposeAgainstReference, MatchesNaiveScatter) {
  const ConvTransposeCase& c = GetParam();
  const size_t r = c.x.size() - 2;
  const Tensor x = RandomTensor(c.x, 12), w = RandomTensor(c.w, 13), b = RandomTensor({c.w[1] * c.group}, 14);
  Geometry g;
  g.strides = c.strides.empty() ? std::vector<int64_t>(r, 1) : c.strides;
  g.dilations = c.dilations.empty() ? std::vector<int64_t>(r, 1) : c.dilations;
  g.pads_begin.assign(r, 0);
  g.pads_end.assign(r, 0);
  if (!c.pads.empty()) {
    g.pads_begin.assign(c.pads.begin(), c.pads.begin() + r);
    g.pads_end.assign(c.pads.begin() + r, c.pads.end());
  }
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t op = c.output_padding.empty() ? 0 : c.output_padding[i];
    const int64_t full = g.strides[i] * (c.x[i + 2] - 1) + op + (c.w[i + 2] - 1) * g.dilations[i] + 1;
    std::vector<int64_t> target = c.output_shape;
    if (target.empty() && !c.auto_pad.empty()) target = {c.x[i + 2] * g.strides[i]};
    if (!target.empty()) {
      const int64_t want = c.output_shape.empty() ? target[0] : target[i];
      const int64_t total = full - want;
      const int64_t half = static_cast<int64_t>(std::floor(total / 2.0));  // Python's total // 2
      g.pads_begin[i] = c.auto_pad == "SAME_UPPER" ? half : total - half;
      out[i] = want;
    } else {
      out[i] = full - g.pads_begin[i] - g.pads_end[i];
    }
  }
  const Tensor expected = ReferenceConvTranspose(x, w, &b, c.group, g, out);
  std::vector<onnx::AttributeProto> attrs;
  if (c.group != 1) attrs.push_back(Attr("group", c.group));
  if (!c.strides.empty()) attrs.push_back(Attr("strides", c.strides));
  if (!c.dilations.empty()) attrs.push_back(Attr("dilations", c.dilations));
  if (!c.pads.empty()) attrs.push_back(Attr("pads", c.pads));
  if (!c.output_padding.empty()) attrs.push_back(Attr("output_padding", c.output_padding));
  if (!c.output_shape.empty()) attrs.push_back(Attr("output_shape", c.output_shape));
  if (!c.auto_pad.empty()) attrs.push_back(Attr("auto_pad", c.auto_pad));
  for (int threads : {1, 2}) {
    auto result = RunKernel({.op_type = "ConvTranspose", .attrs = attrs, .inputs = {x, w, b}, .threads = threads});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(TensorsNear((*result)[0], expected, 1e-4, 1e-4)) << "threads=" << threads;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvTransposeAgainstReference,
    ::testing::Values(
        ConvTransposeCase{.x = {1, 3, 4, 5}, .w = {3, 2, 3, 3}},
        ConvTransposeCase{.x = {2, 4, 5, 5}, .w = {4, 3, 3, 3}, .strides = {2, 2}, .pads = {1, 0, 1, 2}},
        ConvTransposeCase{.x = {1, 4, 4, 4}, .w = {4, 2, 3, 2}, .group = 2, .strides = {2, 3}, .dilations = {2, 1}},
        ConvTransposeCase{.x = {1, 2, 5, 5}, .w = {2, 2, 3, 3}, .strides = {2, 2}, .pads = {1, 1, 1, 1},
                          .output_padding = {1, 1}},
        ConvTransposeCase{.x = {1, 2, 3, 3}, .w = {2, 3, 3, 3}, .strides = {3, 2}, .output_shape = {10, 8}},
        ConvTransposeCase{.x = {1, 2, 3, 4}, .w = {2, 2, 3, 3}, .strides = {2, 2}, .auto_pad = "SAME_UPPER"},
        ConvTransposeCase{.x = {1, 2, 3, 3}, .w = {2, 1, 3, 3}, .strides = {3, 2}, .output_shape = {11, 9},
                          .auto_pad = "SAME_UPPER"},
        ConvTransposeCase{.x = {1, 2, 3, 4}, .w = {2, 2, 2, 3}, .strides = {2, 2}, .auto_pad = "SAME_LOWER"},
        ConvTransposeCase{.x = {2, 3, 7}, .w = {3, 2, 4}, .strides = {3}, .pads = {2, 1}},
        ConvTransposeCase{.x = {1, 2, 3, 3, 2}, .w = {2, 2, 2, 3, 2}, .strides = {2, 1, 2}},
        ConvTransposeCase{.x = {1, 6, 4, 4}, .w = {6, 1, 3, 3}, .group = 6, .strides = {2, 2}, .pads = {1, 1, 1, 1}}));

// Bad inputs.
TEST(ConvTest, ChannelMismatchIsInvalidArgument) {
  auto out = RunKernel({.op_type = "Conv", .inputs = {RandomTensor({1, 3, 5, 5}, 1), RandomTensor({2, 4, 3, 3}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("channel"), std::string::npos) << out.status();
}

TEST(ConvTest, BadRankIsInvalidArgument) {
  auto out = RunKernel({.op_type = "Conv", .inputs = {RandomTensor({3, 5}, 1), RandomTensor({2, 3}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("rank"), std::string::npos) << out.status();
  out = RunKernel({.op_type = "Conv", .inputs = {RandomTensor({1, 3, 5, 5}, 1), RandomTensor({2, 3, 3}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConvTest, BadAttributesAreInvalidArgument) {
  const Tensor x = RandomTensor({1, 2, 5, 5}, 1), w = RandomTensor({2, 2, 3, 3}, 2);
  auto out = RunKernel({.op_type = "Conv", .attrs = {Attr("strides", std::vector<int64_t>{1})}, .inputs = {x, w}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("strides"), std::string::npos);
  out = RunKernel({.op_type = "Conv", .attrs = {Attr("kernel_shape", std::vector<int64_t>{2, 2})}, .inputs = {x, w}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("kernel_shape"), std::string::npos);
  out = RunKernel({.op_type = "Conv", .attrs = {Attr("group", int64_t{0})}, .inputs = {x, w}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  out = RunKernel({.op_type = "Conv", .attrs = {Attr("auto_pad", std::string("SAME"))}, .inputs = {x, w}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("auto_pad"), std::string::npos);
  // Kernel larger than the input.
  out = RunKernel({.op_type = "Conv", .inputs = {RandomTensor({1, 2, 2, 2}, 3), w}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  // Bias of the wrong size.
  out = RunKernel({.op_type = "Conv", .inputs = {x, w, RandomTensor({3}, 4)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("bias"), std::string::npos);
}

TEST(ConvTest, UnsupportedTypeIsUnimplemented) {
  Tensor x = Tensor::Zeros(DataType::kInt32, {1, 1, 3, 3}), w = Tensor::Zeros(DataType::kInt32, {1, 1, 1, 1});
  auto out = RunKernel({.op_type = "Conv", .inputs = {x, w}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(out.status().message().find("int32"), std::string::npos);
}

TEST(ConvTransposeTest, ChannelMismatchIsInvalidArgument) {
  auto out = RunKernel({.op_type = "ConvTranspose", .inputs = {RandomTensor({1, 3, 5, 5}, 1), RandomTensor({2, 4, 3, 3}, 2)}});
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("channel"), std::string::npos);
}

}  // namespace
}  // namespace tessera::engine::testing
