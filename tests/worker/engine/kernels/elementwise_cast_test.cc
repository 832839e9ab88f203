// Cast and CastLike among the supported element types.
#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"

// Designated initializers of KernelTestCase leave the other fields defaulted.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tessera::engine {
namespace {

using testing::Attr;
using testing::RunKernel;
using testing::TensorsNear;
using ::testing::HasSubstr;

Tensor Cast(const Tensor& x, DataType to) {
  auto out = RunKernel({.op_type = "Cast", .attrs = {Attr("to", static_cast<int64_t>(to))}, .inputs = {x}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

TEST(ElementwiseCastTest, FloatToIntegersTruncates) {
  const Tensor x = Tensor::FromVector<float>({5}, {-2.7f, -0.5f, 0.0f, 1.9f, 300.0f});
  EXPECT_TRUE(TensorsNear(Cast(x, DataType::kInt32), Tensor::FromVector<int32_t>({5}, {-2, 0, 0, 1, 300})));
  EXPECT_TRUE(TensorsNear(Cast(x, DataType::kInt64), Tensor::FromVector<int64_t>({5}, {-2, 0, 0, 1, 300})));
  // 8-bit targets wrap like NumPy: 300 -> 44.
  EXPECT_TRUE(TensorsNear(Cast(x, DataType::kUint8), Tensor::FromVector<uint8_t>({5}, {254, 0, 0, 1, 44})));
  EXPECT_TRUE(TensorsNear(Cast(x, DataType::kInt8), Tensor::FromVector<int8_t>({5}, {-2, 0, 0, 1, 44})));
  EXPECT_TRUE(TensorsNear(Cast(x, DataType::kBool), Tensor::FromVector<bool>({5}, {true, true, false, true, true})));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor odd = Tensor::FromVector<float>({3}, {nan, 1e20f, -1e20f});
  EXPECT_TRUE(TensorsNear(Cast(odd, DataType::kInt32),
                          Tensor::FromVector<int32_t>({3}, {0, std::numeric_limits<int32_t>::max(),
                                                            std::numeric_limits<int32_t>::min()})));
  EXPECT_TRUE(TensorsNear(Cast(odd, DataType::kBool), Tensor::FromVector<bool>({3}, {true, true, true})));
}

TEST(ElementwiseCastTest, AllPairsRoundTripSmallIntegers) {
  const std::vector<DataType> types = {DataType::kFloat32, DataType::kFloat64, DataType::kInt32, DataType::kInt64,
                                       DataType::kInt8,    DataType::kUint8,   DataType::kBool};
  for (DataType from : types) {
    const Tensor src = Cast(Tensor::FromVector<int64_t>({3}, {0, 1, 7}), from);
    for (DataType to : types) {
      const Tensor out = Cast(src, to);
      ASSERT_EQ(out.dtype(), to);
      ASSERT_EQ(out.shape(), (Shape{3}));
      const bool through_bool = from == DataType::kBool || to == DataType::kBool;
      EXPECT_EQ(out.GetAsInt64(0), 0);
      EXPECT_EQ(out.GetAsInt64(1), 1);
      EXPECT_EQ(out.GetAsInt64(2), through_bool ? 1 : 7) << DataTypeName(from) << "->" << DataTypeName(to);
    }
  }
  EXPECT_TRUE(TensorsNear(Cast(Tensor::FromVector<int32_t>({2}, {-1, 256}), DataType::kUint8),
                          Tensor::FromVector<uint8_t>({2}, {255, 0})));
  EXPECT_TRUE(TensorsNear(Cast(Tensor::FromVector<double>({1}, {0.1}), DataType::kFloat32),
                          Tensor::FromVector<float>({1}, {0.1f})));
}

TEST(ElementwiseCastTest, CastLike) {
  auto out = RunKernel({.op_type = "CastLike",
                        .inputs = {Tensor::FromVector<float>({2}, {1.5f, -3.0f}), Tensor::FromVector<int64_t>({0}, {})}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(TensorsNear((*out)[0], Tensor::FromVector<int64_t>({2}, {1, -3})));
}

TEST(ElementwiseCastTest, UnsupportedTypes) {
  auto st = RunKernel({.op_type = "Cast", .attrs = {Attr("to", int64_t{10})}, .inputs = {Tensor::Scalar(1.0f)}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(st.status().message(), HasSubstr("FLOAT16"));
  st = RunKernel({.op_type = "Cast", .attrs = {Attr("to", int64_t{8})}, .inputs = {Tensor::Scalar(1.0f)}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(st.status().message(), HasSubstr("STRING"));
  st = RunKernel({.op_type = "Cast", .inputs = {Tensor::Scalar(1.0f)}});
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("'to'"));
}

}  // namespace
}  // namespace tessera::engine
