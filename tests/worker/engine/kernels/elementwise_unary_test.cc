// Unary element-wise kernels, Clip, the vectorized float math and
// ApplyActivation.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/kernels/elementwise_activation.h"
#include "worker/engine/kernels/elementwise_math.h"

// Designated initializers of KernelTestCase leave the other fields defaulted.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tessera::engine {
namespace {

using testing::Attr;
using testing::KernelTestCase;
using testing::RunKernel;
using testing::TensorsNear;
using ::testing::HasSubstr;

Tensor F(Shape s, std::vector<float> v) { return Tensor::FromVector<float>(std::move(s), v); }

Tensor Run1(KernelTestCase tc) {
  auto out = RunKernel(tc);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

TEST(ElementwiseUnaryTest, BasicMath) {
  const Tensor x = F({2, 3}, {-2.5f, -0.5f, 0.0f, 0.5f, 1.5f, 2.5f});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Abs", .inputs = {x}}), F({2, 3}, {2.5f, 0.5f, 0, 0.5f, 1.5f, 2.5f})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Neg", .inputs = {x}}), F({2, 3}, {2.5f, 0.5f, 0, -0.5f, -1.5f, -2.5f})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Ceil", .inputs = {x}}), F({2, 3}, {-2, -0.0f, 0, 1, 2, 3})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Floor", .inputs = {x}}), F({2, 3}, {-3, -1, 0, 0, 1, 2})));
  // Half to even.
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Round", .inputs = {x}}), F({2, 3}, {-2, -0.0f, 0, 0, 2, 2})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Sign", .inputs = {x}}), F({2, 3}, {-1, -1, 0, 1, 1, 1})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Relu", .inputs = {x}}), F({2, 3}, {0, 0, 0, 0.5f, 1.5f, 2.5f})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Reciprocal", .inputs = {F({2}, {4, -0.5f})}}), F({2}, {0.25f, -2})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Sqrt", .inputs = {F({2}, {4, 2})}}), F({2}, {2, std::sqrt(2.0f)})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Exp", .inputs = {F({2}, {0, 1})}}), F({2}, {1, std::exp(1.0f)})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Log", .inputs = {F({2}, {1, std::exp(2.0f)})}}), F({2}, {0, 2})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Tanh", .inputs = {F({2}, {0, 1})}}), F({2}, {0, std::tanh(1.0f)})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Sigmoid", .inputs = {F({2}, {0, 2})}}),
                          F({2}, {0.5f, 1 / (1 + std::exp(-2.0f))})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Erf", .inputs = {F({2}, {0.5f, -2})}}),
                          F({2}, {std::erf(0.5f), std::erf(-2.0f)})));
  for (const char* op : {"Sin", "Cos", "Tan", "Asin", "Acos", "Atan"}) {
    const Tensor out = Run1({.op_type = op, .inputs = {F({1}, {0.5f})}});
    const double expected = std::string(op) == "Sin"    ? std::sin(0.5)
                            : std::string(op) == "Cos"  ? std::cos(0.5)
                            : std::string(op) == "Tan"  ? std::tan(0.5)
                            : std::string(op) == "Asin" ? std::asin(0.5)
                            : std::string(op) == "Acos" ? std::acos(0.5)
                                                        : std::atan(0.5);
    EXPECT_NEAR(out.data<float>()[0], expected, 1e-6) << op;
  }
}

TEST(ElementwiseUnaryTest, IntegerAndBoolTypes) {
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Abs", .inputs = {Tensor::FromVector<int32_t>({3}, {-3, 0, 4})}}),
                          Tensor::FromVector<int32_t>({3}, {3, 0, 4})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Neg", .inputs = {Tensor::FromVector<int8_t>({2}, {-128, 5})}}),
                          Tensor::FromVector<int8_t>({2}, {-128, -5})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Sign", .inputs = {Tensor::FromVector<int64_t>({3}, {-7, 0, 9})}}),
                          Tensor::FromVector<int64_t>({3}, {-1, 0, 1})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Relu", .inputs = {Tensor::FromVector<int64_t>({2}, {-7, 9})}}),
                          Tensor::FromVector<int64_t>({2}, {0, 9})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Not", .inputs = {Tensor::FromVector<bool>({2}, {true, false})}}),
                          Tensor::FromVector<bool>({2}, {false, true})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Abs", .inputs = {Tensor::FromVector<double>({1}, {-1.25})}}),
                          Tensor::FromVector<double>({1}, {1.25})));
}

TEST(ElementwiseUnaryTest, ActivationAttributes) {
  const Tensor x = F({4}, {-2, -0.5f, 0.5f, 3});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "LeakyRelu", .attrs = {Attr("alpha", 0.1f)}, .inputs = {x}}),
                          F({4}, {-0.2f, -0.05f, 0.5f, 3})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "LeakyRelu", .inputs = {x}}), F({4}, {-0.02f, -0.005f, 0.5f, 3})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Elu", .attrs = {Attr("alpha", 2.0f)}, .inputs = {x}}),
                          F({4}, {2 * std::expm1(-2.0f), 2 * std::expm1(-0.5f), 0.5f, 3})));
  const float a = 1.5f, g = 2.0f;
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Selu", .attrs = {Attr("alpha", a), Attr("gamma", g)}, .inputs = {x}}),
                          F({4}, {g * a * std::expm1(-2.0f), g * a * std::expm1(-0.5f), 1.0f, 6.0f})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "HardSigmoid", .attrs = {Attr("alpha", 0.5f), Attr("beta", 0.6f)}, .inputs = {x}}),
      F({4}, {0, 0.35f, 0.85f, 1})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "HardSwish", .inputs = {F({3}, {-4, 1, 4})}}),
                          F({3}, {0, 1.0f * (1.0f / 6 + 0.5f), 4})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "ThresholdedRelu", .attrs = {Attr("alpha", 0.5f)}, .inputs = {x}}),
                          F({4}, {0, 0, 0, 3})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Softsign", .inputs = {x}}), F({4}, {-2.0f / 3, -0.5f / 1.5f, 0.5f / 1.5f, 0.75f})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Softplus", .inputs = {F({3}, {-1, 0, 100})}}),
                          F({3}, {std::log1p(std::exp(-1.0f)), std::log(2.0f), 100})));
}

TEST(ElementwiseUnaryTest, ClipAttributesAndInputs) {
  const Tensor x = F({4}, {-3, -1, 1, 3});
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Clip", .opset = 6, .attrs = {Attr("min", -2.0f), Attr("max", 2.0f)}, .inputs = {x}}),
      F({4}, {-2, -1, 1, 2})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Clip", .opset = 6, .attrs = {Attr("max", 0.0f)}, .inputs = {x}}),
                          F({4}, {-3, -1, 0, 0})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Clip", .opset = 13, .inputs = {x, Tensor::Scalar(-2.0f), std::nullopt}}),
                          F({4}, {-2, -1, 1, 3})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Clip", .opset = 11, .inputs = {x, std::nullopt, Tensor::Scalar(0.5f)}}),
                          F({4}, {-3, -1, 0.5f, 0.5f})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Clip", .opset = 13, .inputs = {x}}), x));
  // min > max: everything becomes max.
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Clip", .opset = 13, .inputs = {x, Tensor::Scalar(2.0f), Tensor::Scalar(1.0f)}}),
      F({4}, {1, 1, 1, 1})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Clip",
                                .opset = 12,
                                .inputs = {Tensor::FromVector<int8_t>({3}, {-100, 5, 100}),
                                           Tensor::Scalar<int8_t>(-10), Tensor::Scalar<int8_t>(10)}}),
                          Tensor::FromVector<int8_t>({3}, {-10, 5, 10})));
}

TEST(ElementwiseUnaryTest, LargeTensorUsesAllThreads) {
  const int64_t n = 100003;
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 17) - 8.0f;
  const Tensor out = Run1({.op_type = "Relu", .inputs = {F({n}, v)}, .threads = 4});
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out.data<float>()[i], std::max(v[i], 0.0f)) << i;
}

TEST(ElementwiseUnaryTest, BadInputs) {
  auto st = RunKernel({.op_type = "Sqrt", .inputs = {Tensor::FromVector<int32_t>({1}, {4})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(st.status().message(), HasSubstr("Sqrt"));
  EXPECT_THAT(st.status().message(), HasSubstr("int32"));
  st = RunKernel({.op_type = "Not", .inputs = {F({1}, {1})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnimplemented);
  st = RunKernel({.op_type = "Relu", .inputs = {std::nullopt}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("missing"));
  st = RunKernel({.op_type = "Clip", .opset = 13, .inputs = {F({2}, {1, 2}), F({2}, {0, 1})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("min must be a scalar"));
  st = RunKernel({.op_type = "Clip", .opset = 13, .inputs = {F({2}, {1, 2}), Tensor::Scalar<double>(0)}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("element type"));
}

// The vectorized float functions against std:: over a sample of every
// finite float (one in ~4099 bit patterns) plus edge values.
TEST(ElementwiseMathTest, AccuracyAgainstStd) {
  std::vector<float> xs = {0.0f, -0.0f, 1e-30f, -1e-30f, 0.625f, 0.921875f, 4.0f, 88.7f, 88.73f, -87.3f, -103.0f, -104.5f};
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 4099) {
    float f;
    const auto bits = static_cast<uint32_t>(b);
    std::memcpy(&f, &bits, 4);
    if (std::isfinite(f)) xs.push_back(f);
  }
  using namespace elementwise;
  for (int fn = 0; fn < 4; ++fn) {
    for (float x : xs) {
      const float got = fn == 0 ? VecExp(x) : fn == 1 ? VecSigmoid(x) : fn == 2 ? VecTanh(x) : VecErf(x);
      const float ref = fn == 0   ? std::exp(x)
                        : fn == 1 ? 1.0f / (1.0f + std::exp(-x))
                        : fn == 2 ? std::tanh(x)
                                  : std::erf(x);
      if (std::isinf(ref)) {
        ASSERT_EQ(got, ref) << "fn " << fn << " x " << x;
      } else if (std::fabs(ref) < std::numeric_limits<float>::min()) {
        ASSERT_LE(std::fabs(got - ref), std::numeric_limits<float>::denorm_min()) << "fn " << fn << " x " << x;
      } else {
        ASSERT_LE(std::fabs(got - ref), 1e-6 * std::fabs(ref)) << "fn " << fn << " x " << x;
      }
    }
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(std::isnan(fn == 0 ? VecExp(nan) : fn == 1 ? VecSigmoid(nan) : fn == 2 ? VecTanh(nan) : VecErf(nan)));
    EXPECT_EQ(fn == 0 ? VecExp(inf) : fn == 1 ? VecSigmoid(inf) : fn == 2 ? VecTanh(inf) : VecErf(inf),
              fn == 0 ? inf : 1.0f);
    EXPECT_EQ(fn == 0 ? VecExp(-inf) : fn == 1 ? VecSigmoid(-inf) : fn == 2 ? VecTanh(-inf) : VecErf(-inf),
              fn <= 1 ? 0.0f : -1.0f);
  }
}

TEST(ElementwiseActivationTest, ApplyInPlace) {
  std::vector<float> base = {-3, -0.5f, 0, 0.5f, 3};
  auto apply = [&](Activation a, std::vector<float> params) {
    std::vector<float> d = base;
    ApplyActivation(a, params.empty() ? nullptr : params.data(), d.data(), static_cast<int64_t>(d.size()));
    return d;
  };
  EXPECT_EQ(apply(Activation::kNone, {}), base);
  EXPECT_EQ(apply(Activation::kRelu, {}), (std::vector<float>{0, 0, 0, 0.5f, 3}));
  EXPECT_EQ(apply(Activation::kClip, {-1, 1}), (std::vector<float>{-1, -0.5f, 0, 0.5f, 1}));
  EXPECT_THAT(apply(Activation::kLeakyRelu, {0.1f}),
              ::testing::Pointwise(::testing::FloatNear(1e-6f), std::vector<float>{-0.3f, -0.05f, 0, 0.5f, 3}));
  EXPECT_THAT(apply(Activation::kHardSigmoid, {0.2f, 0.5f}),
              ::testing::Pointwise(::testing::FloatNear(1e-6f), std::vector<float>{0, 0.4f, 0.5f, 0.6f, 1}));
  EXPECT_THAT(apply(Activation::kHardSwish, {}),
              ::testing::Pointwise(::testing::FloatNear(1e-6f),
                                   std::vector<float>{0, -0.5f * (0.5f - 0.5f / 6), 0, 0.5f * (0.5f + 0.5f / 6), 3}));
  std::vector<float> sig, th;
  for (float v : base) {
    sig.push_back(1 / (1 + std::exp(-v)));
    th.push_back(std::tanh(v));
  }
  EXPECT_THAT(apply(Activation::kSigmoid, {}), ::testing::Pointwise(::testing::FloatNear(1e-6f), sig));
  EXPECT_THAT(apply(Activation::kTanh, {}), ::testing::Pointwise(::testing::FloatNear(1e-6f), th));
}

}  // namespace
}  // namespace tessera::engine
