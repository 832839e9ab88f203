// Unit tests of the view and generator kernels of the tensor group:
// Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Shape, Size,
// Constant, ConstantOfShape, Range.
#include <numeric>

// KernelTestCase is filled with designated initializers; the omitted members
// keep their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"

namespace tessera::engine {
namespace {

using testing::Attr;
using ::testing::HasSubstr;
using testing::KernelTestCase;
using testing::RunKernel;
using testing::TensorsNear;

template <typename T = float>
Tensor Iota(Shape shape) {
  std::vector<T> v(static_cast<size_t>(NumElements(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(i);
  return Tensor::FromVector<T>(std::move(shape), v);
}

Tensor Ints(std::vector<int64_t> v) { return Tensor::FromVector<int64_t>({static_cast<int64_t>(v.size())}, v); }
Tensor Ints32(std::vector<int32_t> v) { return Tensor::FromVector<int32_t>({static_cast<int64_t>(v.size())}, v); }

// Runs a one-output kernel; fails the test on error.
Tensor Run1(const KernelTestCase& tc) {
  auto out = RunKernel(tc);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return Tensor();
  return (*out)[0];
}

void ExpectError(const KernelTestCase& tc, absl::StatusCode code, const std::string& text) {
  auto out = RunKernel(tc);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), code) << out.status();
  EXPECT_THAT(std::string(out.status().message()), HasSubstr(text));
}

// ---- Reshape ---------------------------------------------------------------

TEST(Reshape, ZeroCopiesAndMinusOneInfers) {
  Tensor x = Iota({2, 3, 4});
  Tensor y = Run1({.op_type = "Reshape", .inputs = {x, Ints({0, -1})}});
  EXPECT_EQ(y.shape(), Shape({2, 12}));
  EXPECT_EQ(y.buffer(), x.buffer()) << "Reshape must not copy";
  EXPECT_EQ(y.raw_data(), x.raw_data());
  EXPECT_EQ(Run1({.op_type = "Reshape", .inputs = {x, Ints32({-1, 0, 2})}}).shape(), Shape({4, 3, 2}));
}

TEST(Reshape, AllowZeroKeepsZeroDimension) {
  Tensor x = Iota({0, 3});
  Tensor y =
      Run1({.op_type = "Reshape", .opset = 14, .attrs = {Attr("allowzero", int64_t{1})}, .inputs = {x, Ints({3, 0})}});
  EXPECT_EQ(y.shape(), Shape({3, 0}));
  // Without allowzero the 0 copies the input dimension.
  Tensor z = Iota({4, 3});
  EXPECT_EQ(Run1({.op_type = "Reshape", .inputs = {z, Ints({2, 0, -1})}}).shape(), Shape({2, 3, 2}));
}

TEST(Reshape, RejectsBadShapes) {
  Tensor x = Iota({2, 3});
  ExpectError({.op_type = "Reshape", .inputs = {x, Ints({4, 2})}}, absl::StatusCode::kInvalidArgument,
              "cannot reshape [2,3]");
  ExpectError({.op_type = "Reshape", .inputs = {x, Ints({-1, -1})}}, absl::StatusCode::kInvalidArgument,
              "more than one -1");
  ExpectError({.op_type = "Reshape", .inputs = {x, Ints({-2, 3})}}, absl::StatusCode::kInvalidArgument,
              "invalid dimension -2");
  ExpectError({.op_type = "Reshape", .inputs = {x, Ints({-1, 4})}}, absl::StatusCode::kInvalidArgument,
              "cannot reshape");
  ExpectError(
      {.op_type = "Reshape", .opset = 14, .attrs = {Attr("allowzero", int64_t{1})}, .inputs = {x, Ints({0, -1})}},
      absl::StatusCode::kInvalidArgument, "both 0 and -1");
  ExpectError({.op_type = "Reshape", .inputs = {x, Tensor::FromVector<float>({2}, {3, 2})}},
              absl::StatusCode::kInvalidArgument, "shape must be int64");
  ExpectError({.op_type = "Reshape", .inputs = {x}}, absl::StatusCode::kInvalidArgument, "missing");
}

// ---- Flatten ---------------------------------------------------------------

TEST(Flatten, AxesIncludingNegativeAndRank) {
  Tensor x = Iota<int8_t>({2, 3, 4, 5});
  EXPECT_EQ(Run1({.op_type = "Flatten", .inputs = {x}}).shape(), Shape({2, 60}));
  EXPECT_EQ(Run1({.op_type = "Flatten", .attrs = {Attr("axis", int64_t{0})}, .inputs = {x}}).shape(), Shape({1, 120}));
  EXPECT_EQ(Run1({.op_type = "Flatten", .attrs = {Attr("axis", int64_t{4})}, .inputs = {x}}).shape(), Shape({120, 1}));
  Tensor y = Run1({.op_type = "Flatten", .attrs = {Attr("axis", int64_t{-1})}, .inputs = {x}});
  EXPECT_EQ(y.shape(), Shape({24, 5}));
  EXPECT_EQ(y.raw_data(), x.raw_data());
  ExpectError({.op_type = "Flatten", .attrs = {Attr("axis", int64_t{5})}, .inputs = {x}},
              absl::StatusCode::kInvalidArgument, "axis 5 is out of range");
}

// ---- Squeeze / Unsqueeze -----------------------------------------------------

TEST(Squeeze, AxesFromAttributeAndInput) {
  Tensor x = Iota<bool>({1, 3, 1, 2});
  EXPECT_EQ(Run1({.op_type = "Squeeze", .opset = 11, .attrs = {Attr("axes", std::vector<int64_t>{-2})}, .inputs = {x}})
                .shape(),
            Shape({1, 3, 2}));
  EXPECT_EQ(Run1({.op_type = "Squeeze", .opset = 13, .inputs = {x, Ints({0})}}).shape(), Shape({3, 1, 2}));
  Tensor all = Run1({.op_type = "Squeeze", .opset = 13, .inputs = {x}});
  EXPECT_EQ(all.shape(), Shape({3, 2}));
  EXPECT_EQ(all.raw_data(), x.raw_data());
  EXPECT_EQ(Run1({.op_type = "Squeeze", .opset = 7, .inputs = {x}}).shape(), Shape({3, 2}));
  EXPECT_EQ(Run1({.op_type = "Squeeze", .inputs = {x, Tensor::FromVector<int64_t>({0}, {})}}).shape(), Shape({3, 2}));
  ExpectError({.op_type = "Squeeze", .inputs = {x, Ints({1})}}, absl::StatusCode::kInvalidArgument, "size is not 1");
  ExpectError({.op_type = "Squeeze", .inputs = {x, Ints({0, -4})}}, absl::StatusCode::kInvalidArgument, "repeated");
  ExpectError({.op_type = "Squeeze", .inputs = {x, Ints({4})}}, absl::StatusCode::kInvalidArgument, "out of range");
}

TEST(Unsqueeze, AxesFromAttributeAndInput) {
  Tensor x = Iota<double>({3, 4});
  EXPECT_EQ(
      Run1({.op_type = "Unsqueeze", .opset = 11, .attrs = {Attr("axes", std::vector<int64_t>{0, -1})}, .inputs = {x}})
          .shape(),
      Shape({1, 3, 4, 1}));
  Tensor y = Run1({.op_type = "Unsqueeze", .opset = 13, .inputs = {x, Ints({3, 1})}});
  EXPECT_EQ(y.shape(), Shape({3, 1, 4, 1}));
  EXPECT_EQ(y.raw_data(), x.raw_data());
  EXPECT_EQ(Run1({.op_type = "Unsqueeze", .inputs = {Tensor::Scalar<float>(2), Ints({0})}}).shape(), Shape({1}));
  ExpectError({.op_type = "Unsqueeze", .inputs = {x, Ints({1, 1})}}, absl::StatusCode::kInvalidArgument, "repeated");
  ExpectError({.op_type = "Unsqueeze", .inputs = {x, Ints({5})}}, absl::StatusCode::kInvalidArgument, "out of range");
  ExpectError({.op_type = "Unsqueeze", .inputs = {x}}, absl::StatusCode::kInvalidArgument, "axes");
  ExpectError({.op_type = "Unsqueeze", .opset = 11, .inputs = {x}}, absl::StatusCode::kInvalidArgument, "axes");
}

// ---- Identity / Dropout ------------------------------------------------------

TEST(Identity, AliasesInput) {
  Tensor x = Iota<uint8_t>({5});
  Tensor y = Run1({.op_type = "Identity", .inputs = {x}});
  EXPECT_EQ(y.raw_data(), x.raw_data());
  EXPECT_EQ(y.shape(), x.shape());
}

TEST(Dropout, InferenceIsIdentityWithAllTrueMask) {
  Tensor x = Iota({2, 3});
  auto out = RunKernel({.op_type = "Dropout",
                        .opset = 13,
                        .inputs = {x, Tensor::Scalar<float>(0.3f), Tensor::Scalar<bool>(false)},
                        .num_outputs = 2});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].raw_data(), x.raw_data());
  EXPECT_TRUE(TensorsNear((*out)[1], Tensor::FromVector<bool>({2, 3}, {1, 1, 1, 1, 1, 1})));
}

TEST(Dropout, OldOpsetsIgnoreRatioAndTypeTheMask) {
  Tensor x = Iota({4});
  auto out7 =
      RunKernel({.op_type = "Dropout", .opset = 7, .attrs = {Attr("ratio", 0.5f)}, .inputs = {x}, .num_outputs = 2});
  ASSERT_TRUE(out7.ok()) << out7.status();
  EXPECT_TRUE(TensorsNear((*out7)[0], x));
  EXPECT_TRUE(TensorsNear((*out7)[1], Tensor::FromVector<float>({4}, {1, 1, 1, 1})));
  auto out10 = RunKernel({.op_type = "Dropout", .opset = 10, .inputs = {x}, .num_outputs = 2});
  ASSERT_TRUE(out10.ok());
  EXPECT_EQ((*out10)[1].dtype(), DataType::kBool);
}

TEST(Dropout, TrainingModeScalesKeptElements) {
  Tensor x = Tensor::FromVector<float>({1000}, std::vector<float>(1000, 2.0f));
  auto out = RunKernel({.op_type = "Dropout",
                        .opset = 13,
                        .attrs = {Attr("seed", int64_t{7})},
                        .inputs = {x, Tensor::Scalar<float>(0.5f), Tensor::Scalar<bool>(true)},
                        .num_outputs = 2});
  ASSERT_TRUE(out.ok()) << out.status();
  const Tensor& y = (*out)[0];
  const Tensor& mask = (*out)[1];
  int kept = 0;
  for (int i = 0; i < 1000; ++i) {
    const bool m = mask.data<bool>()[i];
    kept += m;
    EXPECT_FLOAT_EQ(y.data<float>()[i], m ? 4.0f : 0.0f);
  }
  EXPECT_GT(kept, 400);
  EXPECT_LT(kept, 600);
  ExpectError(
      {.op_type = "Dropout", .opset = 13, .inputs = {x, Tensor::Scalar<float>(1.0f), Tensor::Scalar<bool>(true)}},
      absl::StatusCode::kInvalidArgument, "ratio");
  ExpectError({.op_type = "Dropout", .opset = 13, .inputs = {x, std::nullopt, Tensor::Scalar<int64_t>(1)}},
              absl::StatusCode::kInvalidArgument, "training_mode");
}

// ---- Shape / Size -----------------------------------------------------------

TEST(Shape, StartAndEndClampAndCountFromBack) {
  Tensor x = Iota({2, 3, 4, 5});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Shape", .inputs = {x}}), Ints({2, 3, 4, 5})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Shape",
                                .opset = 15,
                                .attrs = {Attr("start", int64_t{1}), Attr("end", int64_t{-1})},
                                .inputs = {x}}),
                          Ints({3, 4})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Shape",
                                .opset = 15,
                                .attrs = {Attr("start", int64_t{-10}), Attr("end", int64_t{10})},
                                .inputs = {x}}),
                          Ints({2, 3, 4, 5})));
  EXPECT_EQ(Run1({.op_type = "Shape",
                  .opset = 15,
                  .attrs = {Attr("start", int64_t{3}), Attr("end", int64_t{1})},
                  .inputs = {x}})
                .shape(),
            Shape({0}));
  // Before opset 15 start/end do not exist.
  EXPECT_EQ(Run1({.op_type = "Shape", .opset = 13, .attrs = {Attr("start", int64_t{2})}, .inputs = {x}}).shape(),
            Shape({4}));
}

TEST(Size, CountsElements) {
  Tensor y = Run1({.op_type = "Size", .inputs = {Iota({2, 0, 3})}});
  EXPECT_EQ(y.shape(), Shape({}));
  EXPECT_EQ(y.data<int64_t>()[0], 0);
  EXPECT_EQ(Run1({.op_type = "Size", .inputs = {Iota({7, 3})}}).data<int64_t>()[0], 21);
}

// ---- Constant / ConstantOfShape / Range ----------------------------------------

TEST(Constant, EveryValueAttribute) {
  Tensor v = Tensor::FromVector<int32_t>({2, 2}, {1, 2, 3, 4});
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Constant", .attrs = {Attr("value", v)}}), v));
  EXPECT_TRUE(
      TensorsNear(Run1({.op_type = "Constant", .attrs = {Attr("value_float", 1.5f)}}), Tensor::Scalar<float>(1.5f)));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Constant", .attrs = {Attr("value_floats", std::vector<float>{1, 2})}}),
                          Tensor::FromVector<float>({2}, {1, 2})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Constant", .attrs = {Attr("value_int", int64_t{-3})}}),
                          Tensor::Scalar<int64_t>(-3)));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "Constant", .attrs = {Attr("value_ints", std::vector<int64_t>{4, 5, 6})}}),
                          Ints({4, 5, 6})));
  ExpectError({.op_type = "Constant", .attrs = {Attr("value_string", std::string("hi"))}},
              absl::StatusCode::kUnimplemented, "value_string");
  ExpectError({.op_type = "Constant"}, absl::StatusCode::kInvalidArgument, "exactly one");
  ExpectError({.op_type = "Constant", .attrs = {Attr("value_int", int64_t{1}), Attr("value_float", 1.0f)}},
              absl::StatusCode::kInvalidArgument, "exactly one");
}

TEST(ConstantOfShape, FillsWithValueOrZero) {
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "ConstantOfShape", .inputs = {Ints({2, 2})}}),
                          Tensor::FromVector<float>({2, 2}, {0, 0, 0, 0})));
  EXPECT_TRUE(TensorsNear(Run1({.op_type = "ConstantOfShape",
                                .attrs = {Attr("value", Tensor::FromVector<int64_t>({1}, {7}))},
                                .inputs = {Ints({3})}}),
                          Ints({7, 7, 7})));
  EXPECT_EQ(Run1({.op_type = "ConstantOfShape", .inputs = {Ints({0})}}).shape(), Shape({0}));
  EXPECT_EQ(Run1({.op_type = "ConstantOfShape", .inputs = {Tensor::FromVector<int64_t>({0}, {})}}).shape(), Shape({}));
  ExpectError({.op_type = "ConstantOfShape", .inputs = {Ints({2, -1})}}, absl::StatusCode::kInvalidArgument,
              "negative dimension");
  ExpectError({.op_type = "ConstantOfShape",
               .attrs = {Attr("value", Tensor::FromVector<float>({2}, {1, 2}))},
               .inputs = {Ints({2})}},
              absl::StatusCode::kInvalidArgument, "one element");
}

TEST(Range, FloatAndIntegerTypes) {
  EXPECT_TRUE(
      TensorsNear(Run1({.op_type = "Range",
                        .inputs = {Tensor::Scalar<float>(1), Tensor::Scalar<float>(2), Tensor::Scalar<float>(0.25f)}}),
                  Tensor::FromVector<float>({4}, {1, 1.25f, 1.5f, 1.75f})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Range",
            .inputs = {Tensor::Scalar<int32_t>(10), Tensor::Scalar<int32_t>(3), Tensor::Scalar<int32_t>(-3)}}),
      Tensor::FromVector<int32_t>({3}, {10, 7, 4})));
  EXPECT_TRUE(TensorsNear(
      Run1({.op_type = "Range",
            .inputs = {Tensor::Scalar<int64_t>(0), Tensor::Scalar<int64_t>(5), Tensor::Scalar<int64_t>(2)}}),
      Ints({0, 2, 4})));
  EXPECT_EQ(Run1({.op_type = "Range",
                  .inputs = {Tensor::Scalar<double>(5), Tensor::Scalar<double>(1), Tensor::Scalar<double>(1)}})
                .shape(),
            Shape({0}));
  ExpectError({.op_type = "Range",
               .inputs = {Tensor::Scalar<int64_t>(0), Tensor::Scalar<int64_t>(5), Tensor::Scalar<int64_t>(0)}},
              absl::StatusCode::kInvalidArgument, "delta must not be zero");
  ExpectError({.op_type = "Range",
               .inputs = {Tensor::Scalar<int64_t>(0), Tensor::Scalar<int32_t>(5), Tensor::Scalar<int64_t>(1)}},
              absl::StatusCode::kInvalidArgument, "limit is int32");
}

}  // namespace
}  // namespace tessera::engine
