// Binary element-wise kernels (broadcasting, Pow, Mod, logic, comparisons,
// PRelu), Where and the variadic Sum/Mean/Max/Min.
#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"

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
template <typename T>
Tensor T_(Shape s, std::vector<T> v) { return Tensor::FromVector<T>(std::move(s), v); }
Tensor B(Shape s, std::vector<bool> v) { return Tensor::FromVector<bool>(std::move(s), v); }

Tensor Run1(KernelTestCase tc) {
  auto out = RunKernel(tc);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

// Reference: out[idx] = op(a[bcast idx], b[bcast idx]) by explicit index math.
template <typename Op>
std::vector<float> Reference(const Shape& as, const std::vector<float>& a, const Shape& bs,
                             const std::vector<float>& b, const Shape& out, Op op) {
  const int64_t n = NumElements(out);
  std::vector<float> r(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, ai = 0, bi = 0, astride = 1, bstride = 1;
    for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
      const int64_t idx = rem % out[d];
      rem /= out[d];
      const int ad = d - static_cast<int>(out.size() - as.size());
      const int bd = d - static_cast<int>(out.size() - bs.size());
      if (ad >= 0) {
        ai += (as[ad] == 1 ? 0 : idx) * astride;
        astride *= as[ad];
      }
      if (bd >= 0) {
        bi += (bs[bd] == 1 ? 0 : idx) * bstride;
        bstride *= bs[bd];
      }
    }
    r[i] = op(a[ai], b[bi]);
  }
  return r;
}

std::vector<float> Iota(int64_t n, float scale) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = (static_cast<float>(i % 23) - 11.0f) * scale;
  return v;
}

TEST(ElementwiseBinaryTest, BroadcastPatternsMatchReference) {
  struct Case {
    Shape a, b, out;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}},  // same shape
      {{2, 3, 4, 5}, {}, {2, 3, 4, 5}},            // scalar
      {{1}, {2, 3}, {2, 3}},                       // scalar first, rank grows
      {{2, 3, 4, 5}, {3, 1, 1}, {2, 3, 4, 5}},     // per-channel bias
      {{2, 7, 6}, {6}, {2, 7, 6}},                 // trailing block
      {{3, 1, 5}, {1, 4, 1}, {3, 4, 5}},           // both broadcast
      {{4, 1}, {1, 5}, {4, 5}},                    // outer product
      {{2, 1, 3}, {2, 4, 1}, {2, 4, 3}},
      {{0, 3}, {3}, {0, 3}},                       // empty
      {{1, 1}, {1}, {1, 1}},
  };
  for (const auto& c : cases) {
    const auto av = Iota(NumElements(c.a), 0.5f), bv = Iota(NumElements(c.b), 0.25f);
    for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
      const Tensor out = Run1({.op_type = op, .inputs = {F(c.a, av), F(c.b, bv)}, .threads = 3});
      std::vector<float> ref;
      const std::string o = op;
      ref = Reference(c.a, av, c.b, bv, c.out, [&](float x, float y) {
        return o == "Add" ? x + y : o == "Sub" ? x - y : o == "Mul" ? x * y : x / y;
      });
      EXPECT_TRUE(TensorsNear(out, F(c.out, ref))) << op << " " << ShapeToString(c.a) << " " << ShapeToString(c.b);
    }
  }
}

TEST(ElementwiseBinaryTest, LargeBroadcastParallel) {
  const Shape a{2, 16, 48, 48}, b{16, 1, 1};
  const auto av = Iota(NumElements(a), 0.1f), bv = Iota(NumElements(b), 1.0f);
  const Tensor out = Run1({.op_type = "Add", .inputs = {F(a, av), F(b, bv)}, .threads = 4});
  EXPECT_TRUE(TensorsNear(out, F(a, Reference(a, av, b, bv, a, [](float x, float y) { return x + y; }))));
  const Shape c{3, 1000, 40}, d{40};
  const auto cv = Iota(NumElements(c), 0.1f), dv = Iota(40, 1.0f);
  const Tensor out2 = Run1({.op_type = "Mul", .inputs = {F(c, cv), F(d, dv)}, .threads = 4});
  EXPECT_TRUE(TensorsNear(out2, F(c, Reference(c, cv, d, dv, c, [](float x, float y) { return x * y; }))));
}

TEST(ElementwiseBinaryTest, IntegerArithmetic) {
  const Tensor a = T_<int32_t>({4}, {7, -7, 7, -7}), b = T_<int32_t>({4}, {2, 2, -2, -2});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Div", .inputs = {a, b}}), T_<int32_t>({4}, {3, -3, -3, 3})));
  // Division by zero is defined as 0 instead of trapping.
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Div", .inputs = {a, T_<int32_t>({}, {0})}}), T_<int32_t>({4}, {0, 0, 0, 0})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Add", .inputs = {T_<uint8_t>({2}, {250, 1}), T_<uint8_t>({1}, {10})}}),
                          T_<uint8_t>({2}, {4, 11})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Sub", .inputs = {T_<int64_t>({2}, {5, 1}), T_<int64_t>({2}, {7, 1})}}),
                          T_<int64_t>({2}, {-2, 0})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Mul", .inputs = {T_<int8_t>({2}, {-3, 50}), T_<int8_t>({2}, {4, 3})}}),
                          T_<int8_t>({2}, {-12, static_cast<int8_t>(150)})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Add", .inputs = {T_<double>({2}, {0.5, 1}), T_<double>({}, {2})}}),
                          T_<double>({2}, {2.5, 3})));
}

TEST(ElementwiseBinaryTest, Mod) {
  const Tensor a = T_<int32_t>({4}, {7, -7, 7, -7}), b = T_<int32_t>({4}, {3, 3, -3, -3});
  // fmod=0: the sign follows the divisor.
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Mod", .inputs = {a, b}}), T_<int32_t>({4}, {1, 2, -2, -1})));
  // fmod=1: the sign follows the dividend.
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Mod", .attrs = {Attr("fmod", int64_t{1})}, .inputs = {a, b}}),
                          T_<int32_t>({4}, {1, -1, 1, -1})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Mod",
                                .attrs = {Attr("fmod", int64_t{1})},
                                .inputs = {F({2}, {5.5f, -5.5f}), F({1}, {2.0f})}}),
                          F({2}, {1.5f, -1.5f})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Mod", .inputs = {T_<uint8_t>({2}, {7, 9}), T_<uint8_t>({2}, {4, 0})}}),
                          T_<uint8_t>({2}, {3, 0})));
  auto st = RunKernel({.op_type = "Mod", .inputs = {F({1}, {1}), F({1}, {2})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("fmod"));
}

TEST(ElementwiseBinaryTest, PowMixedTypes) {
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Pow", .inputs = {F({3}, {1, 2, 3}), F({3}, {4, 5, 6})}}),
                          F({3}, {1, 32, 729})));
  // Scalar exponent fast paths.
  for (float e : {2.0f, 3.0f, 0.5f, 1.0f, -1.5f}) {
    const Tensor out = Run1({.op_type = "Pow", .inputs = {F({3}, {1, 4, 9}), F({1, 1}, {e})}});
    EXPECT_EQ(out.shape(), (Shape{1, 3}));
    EXPECT_TRUE(TensorsNear(out, F({1, 3}, {1, std::pow(4.0f, e), std::pow(9.0f, e)}))) << e;
  }
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Pow", .inputs = {F({2}, {2, 3}), T_<int64_t>({2}, {3, -1})}}),
                          F({2}, {8, 1.0f / 3})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Pow", .inputs = {T_<int32_t>({3}, {2, -3, 5}), F({1}, {2.0f})}}),
                          T_<int32_t>({3}, {4, 9, 25})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Pow", .inputs = {T_<int64_t>({4}, {3, -2, 2, -1}), T_<int64_t>({4}, {39, 3, -1, -3})}}),
      T_<int64_t>({4}, {4052555153018976267LL, -8, 0, -1})));
  auto st = RunKernel({.op_type = "Pow", .inputs = {T_<uint8_t>({1}, {2}), T_<uint8_t>({1}, {2})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(st.status().message(), HasSubstr("uint8"));
}

TEST(ElementwiseBinaryTest, LogicAndComparisons) {
  const Tensor a = B({2, 2}, {true, true, false, false}), b = B({2}, {true, false});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "And", .inputs = {a, b}}), B({2, 2}, {true, false, false, false})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Or", .inputs = {a, b}}), B({2, 2}, {true, true, true, false})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Xor", .inputs = {a, b}}), B({2, 2}, {false, true, true, false})));
  const Tensor x = F({3}, {1, 2, 3}), y = F({}, {2});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Equal", .inputs = {x, y}}), B({3}, {false, true, false})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Greater", .inputs = {x, y}}), B({3}, {false, false, true})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "GreaterOrEqual", .inputs = {x, y}}), B({3}, {false, true, true})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Less", .inputs = {x, y}}), B({3}, {true, false, false})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "LessOrEqual", .inputs = {x, y}}), B({3}, {true, true, false})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Equal", .inputs = {T_<int64_t>({2}, {5, 6}), T_<int64_t>({1}, {6})}}),
                          B({2}, {false, true})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Equal", .inputs = {a, b}}), B({2, 2}, {true, false, false, true})));
}

TEST(ElementwiseBinaryTest, PReluUnidirectional) {
  const Tensor x = F({2, 2, 2}, {-1, 1, -2, 2, -3, 3, -4, 4});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "PRelu", .inputs = {x, F({2, 1}, {0.5f, 0.25f})}}),
                          F({2, 2, 2}, {-0.5f, 1, -0.5f, 2, -1.5f, 3, -1, 4})));
  auto st = RunKernel({.op_type = "PRelu", .inputs = {F({2}, {1, 2}), F({2, 2}, {1, 2, 3, 4})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("PRelu"));
}

TEST(ElementwiseBinaryTest, BadInputs) {
  auto st = RunKernel({.op_type = "Add", .inputs = {F({2, 3}, {}), F({4}, {})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("Add"));
  EXPECT_THAT(st.status().message(), HasSubstr("[2,3]"));
  st = RunKernel({.op_type = "Mul", .inputs = {F({2}, {}), T_<int32_t>({2}, {})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("element type"));
  st = RunKernel({.op_type = "And", .inputs = {F({2}, {}), F({2}, {})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnimplemented);
  st = RunKernel({.op_type = "Sub", .inputs = {F({2}, {})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("missing"));
  st = RunKernel({.op_type = "Mod", .attrs = {Attr("fmod", int64_t{3})}, .inputs = {F({1}, {1}), F({1}, {1})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ElementwiseWhereTest, ThreeWayBroadcast) {
  const Tensor c = B({2, 1}, {true, false});
  const Tensor x = F({3}, {1, 2, 3});
  const Tensor y = F({}, {-1});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Where", .inputs = {c, x, y}}), F({2, 3}, {1, 2, 3, -1, -1, -1})));
  const Tensor c2 = B({2, 2}, {true, false, false, true});
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Where", .inputs = {c2, T_<int64_t>({2, 2}, {1, 2, 3, 4}), T_<int64_t>({2, 1}, {9, 8})}}),
      T_<int64_t>({2, 2}, {1, 9, 8, 4})));
  auto st = RunKernel({.op_type = "Where", .inputs = {F({1}, {1}), x, x}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("bool"));
  st = RunKernel({.op_type = "Where", .inputs = {c, x, T_<int32_t>({1}, {1})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ElementwiseVariadicTest, SumMeanMaxMin) {
  const Tensor a = F({2, 2}, {1, 5, 3, -2}), b = F({2}, {2, 2}), c = F({1, 2, 1}, {10, -10});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Sum", .inputs = {a}}), a));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Sum", .inputs = {a, b}}), F({2, 2}, {3, 7, 5, 0})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Sum", .inputs = {a, b, c}}),
                          F({1, 2, 2}, {13, 17, -5, -10})));
  // The first two inputs broadcast to less than the output shape.
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Sum", .inputs = {b, b, a}}), F({2, 2}, {5, 9, 7, 2})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Mean", .inputs = {a, b}}), F({2, 2}, {1.5f, 3.5f, 2.5f, 0})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Max", .inputs = {a, b, c}}), F({1, 2, 2}, {10, 10, 3, 2})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Min", .inputs = {a, b, c}}), F({1, 2, 2}, {1, 2, -10, -10})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Max", .inputs = {T_<int32_t>({3}, {1, 9, -4}), T_<int32_t>({3}, {2, 3, -5})}}),
      T_<int32_t>({3}, {2, 9, -4})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Min", .inputs = {T_<uint8_t>({3}, {1, 9, 200}), T_<uint8_t>({1}, {5})}}),
      T_<uint8_t>({3}, {1, 5, 5})));
  auto st = RunKernel({.op_type = "Sum", .inputs = {a, T_<int32_t>({1}, {1})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  st = RunKernel({.op_type = "Max", .inputs = {a, F({3}, {1, 2, 3})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("Max"));
  st = RunKernel({.op_type = "Mean", .inputs = {T_<int32_t>({1}, {1})}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnimplemented);
  st = RunKernel({.op_type = "Sum", .inputs = {}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::engine
