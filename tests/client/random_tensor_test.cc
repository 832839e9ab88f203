#include "client/random_tensor.h"

#include <cmath>
#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

using ::testing::HasSubstr;

TEST(ShapeSpecTest, Parses) {
  EXPECT_EQ(*ParseShapeSpec("1x3x224x224"), (Shape{1, 3, 224, 224}));
  EXPECT_EQ(*ParseShapeSpec("4,64"), (Shape{4, 64}));
  EXPECT_EQ(*ParseShapeSpec("7"), (Shape{7}));
  EXPECT_EQ(*ParseShapeSpec("0x5"), (Shape{0, 5}));
  EXPECT_EQ(*ParseShapeSpec(""), (Shape{}));
  EXPECT_EQ(*ParseShapeSpec("scalar"), (Shape{}));
  EXPECT_EQ(ShapeSpecString({1, 3, 32, 32}), "1x3x32x32");
  EXPECT_EQ(ShapeSpecString({}), "scalar");
}

TEST(ShapeSpecTest, RefusesBadSpecs) {
  for (const char* bad : {"1x-3", "1xx3", "ax3", "1x3x", "1.5", "x"}) {
    absl::StatusOr<Shape> shape = ParseShapeSpec(bad);
    ASSERT_FALSE(shape.ok()) << bad;
    EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(shape.status().message()), HasSubstr(bad));
  }
  absl::StatusOr<Shape> huge = ParseShapeSpec("100000x100000x100000");
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("too large"));
}

TEST(RandomTensorTest, FloatsAreUniformInRange) {
  std::mt19937_64 rng(1);
  const Tensor t = MakeRandomTensor(DataType::kFloat32, {1000}, RandomDistribution::kUniform, rng);
  EXPECT_EQ(t.dtype(), DataType::kFloat32);
  double sum = 0;
  for (float v : t.values<float>()) {
    EXPECT_GE(v, -1.0f);
    EXPECT_LT(v, 1.0f);
    sum += v;
  }
  EXPECT_NEAR(sum / 1000, 0, 0.1);
}

TEST(RandomTensorTest, NormalHasUnitSpread) {
  std::mt19937_64 rng(2);
  const Tensor t = MakeRandomTensor(DataType::kFloat64, {4000}, RandomDistribution::kNormal, rng);
  double sum = 0, sum_sq = 0;
  for (double v : t.values<double>()) {
    sum += v;
    sum_sq += v * v;
  }
  EXPECT_NEAR(sum / 4000, 0, 0.1);
  EXPECT_NEAR(std::sqrt(sum_sq / 4000), 1, 0.1);
}

TEST(RandomTensorTest, IntegersAreSmallAndNonNegative) {
  std::mt19937_64 rng(3);
  for (DataType type : {DataType::kInt64, DataType::kInt32, DataType::kUint8, DataType::kInt8}) {
    const Tensor t = MakeRandomTensor(type, {2, 50}, RandomDistribution::kUniform, rng);
    EXPECT_EQ(t.dtype(), type);
    EXPECT_EQ(t.shape(), (Shape{2, 50}));
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      EXPECT_GE(t.GetAsInt64(i), 0);
      EXPECT_LT(t.GetAsInt64(i), 10);
    }
  }
  const Tensor b = MakeRandomTensor(DataType::kBool, {64}, RandomDistribution::kUniform, rng);
  const uint8_t* bytes = static_cast<const uint8_t*>(b.raw_data());
  for (int i = 0; i < 64; ++i) EXPECT_LE(bytes[i], 1);
}

TEST(RandomTensorTest, SameSeedSameData) {
  std::mt19937_64 a(42), b(42);
  const Tensor x = MakeRandomTensor(DataType::kFloat32, {16}, RandomDistribution::kUniform, a);
  const Tensor y = MakeRandomTensor(DataType::kFloat32, {16}, RandomDistribution::kUniform, b);
  ASSERT_EQ(x.byte_size(), y.byte_size());
  EXPECT_EQ(std::memcmp(x.raw_data(), y.raw_data(), x.byte_size()), 0);
}

}  // namespace
}  // namespace tessera::client
