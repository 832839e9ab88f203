// Tensor bytes moved between protobuf messages and tensors: Tensor::FromBytes
// and ReleaseBytes, and the moving overloads of TensorFromWire/TensorToWire.
#include "common/wire_tensor.h"

#include <cstring>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 1024 floats 0, 1, 2, ... as bytes (large enough to live on the heap).
std::string FloatBytes(int n = 1024) {
  std::string bytes(n * sizeof(float), '\0');
  for (int i = 0; i < n; ++i) {
    const float v = static_cast<float>(i);
    std::memcpy(bytes.data() + i * sizeof(float), &v, sizeof v);
  }
  return bytes;
}

TEST(TensorBytesTest, FromBytesTakesTheStringAndReleaseGivesItBack) {
  std::string bytes = FloatBytes();
  const char* data = bytes.data();
  Tensor t = Tensor::FromBytes(DataType::kFloat32, {4, 256}, std::move(bytes));
  EXPECT_EQ(t.raw_data(), data);
  EXPECT_EQ(t.values<float>()[1023], 1023.0f);
  Tensor reshaped = t.Reshaped({1024});  // a view of all of it
  t = Tensor();
  std::string back = std::move(reshaped).ReleaseBytes();
  EXPECT_EQ(back.data(), data);
  EXPECT_EQ(back, FloatBytes());
  EXPECT_FALSE(reshaped.defined());
}

TEST(TensorBytesTest, ReleaseCopiesWhenShared) {
  Tensor t = Tensor::FromBytes(DataType::kFloat32, {1024}, FloatBytes());
  const Tensor other = t;
  std::string bytes = std::move(t).ReleaseBytes();
  EXPECT_NE(bytes.data(), other.raw_data());
  EXPECT_EQ(bytes, FloatBytes());
  EXPECT_EQ(other.values<float>()[7], 7.0f);  // the other holder is intact
}

TEST(TensorBytesTest, ReleaseCopiesAPartialViewAndAllocatedTensors) {
  Tensor whole = Tensor::FromBytes(DataType::kFloat32, {4, 256}, FloatBytes());
  Tensor second_row = Tensor::Wrap(DataType::kFloat32, {1, 256}, whole.buffer(), whole.data<float>() + 256);
  whole = Tensor();
  std::string row = std::move(second_row).ReleaseBytes();
  ASSERT_EQ(row.size(), 256 * sizeof(float));
  float first;
  std::memcpy(&first, row.data(), sizeof first);
  EXPECT_EQ(first, 256.0f);
  Tensor allocated = Tensor::FromVector<int32_t>({3}, {1, 2, 3});
  EXPECT_EQ(std::move(allocated).ReleaseBytes().size(), 3 * sizeof(int32_t));
}

TEST(WireTensorTest, MovingFromTheWireKeepsTheBuffer) {
  worker::Tensor wire;
  wire.set_name("x");
  wire.set_datatype("FP32");
  wire.add_shape(2);
  wire.add_shape(512);
  wire.set_content(FloatBytes());
  const char* data = wire.content().data();
  absl::StatusOr<Tensor> t = TensorFromWire(&wire);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->raw_data(), data);
  EXPECT_THAT(t->shape(), ElementsAre(2, 512));
  EXPECT_TRUE(wire.content().empty());
  EXPECT_EQ(wire.name(), "x");

  worker::Tensor out;
  TensorToWire("y", *std::move(t), &out);
  EXPECT_EQ(out.content().data(), data);
  EXPECT_EQ(out.name(), "y");
  EXPECT_EQ(out.datatype(), "FP32");
  EXPECT_THAT(out.shape(), ElementsAre(2, 512));
}

TEST(WireTensorTest, BadWireIsRefusedAndLeftIntact) {
  worker::Tensor wire;
  wire.set_name("x");
  wire.set_datatype("FP32");
  wire.add_shape(3);
  wire.set_content(std::string(8, '\0'));
  absl::StatusOr<Tensor> t = TensorFromWire(&wire);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("needs 12 bytes of content, got 8"));
  EXPECT_EQ(wire.content().size(), 8u);
  wire.set_datatype("BF16");
  EXPECT_EQ(TensorFromWire(&wire).status().code(), absl::StatusCode::kUnimplemented);
  wire.set_datatype("FP32");
  wire.set_shape(0, -3);
  EXPECT_THAT(TensorFromWire(wire).status().message(), HasSubstr("tensor 'x'"));
}

TEST(WireTensorTest, CopyingOverloadsLeaveTheSourceAlone) {
  const Tensor t = Tensor::FromVector<int64_t>({2}, {5, 6});
  worker::Tensor wire;
  TensorToWire("ids", t, &wire);
  EXPECT_EQ(wire.datatype(), "INT64");
  EXPECT_THAT(t.values<int64_t>(), ElementsAre(5, 6));
  absl::StatusOr<Tensor> back = TensorFromWire(wire);
  ASSERT_TRUE(back.ok());
  EXPECT_THAT(back->values<int64_t>(), ElementsAre(5, 6));
  EXPECT_EQ(wire.content().size(), 2 * sizeof(int64_t));
}

}  // namespace
}  // namespace tessera
