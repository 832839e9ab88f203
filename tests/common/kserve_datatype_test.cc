#include "common/kserve_datatype.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

struct Supported {
  DataType type;
  const char* kserve;
  inference::DataType triton;
  size_t size;
};

const Supported kSupported[] = {
    {DataType::kFloat32, "FP32", inference::TYPE_FP32, 4}, {DataType::kFloat64, "FP64", inference::TYPE_FP64, 8},
    {DataType::kInt64, "INT64", inference::TYPE_INT64, 8}, {DataType::kInt32, "INT32", inference::TYPE_INT32, 4},
    {DataType::kInt8, "INT8", inference::TYPE_INT8, 1},    {DataType::kUint8, "UINT8", inference::TYPE_UINT8, 1},
    {DataType::kBool, "BOOL", inference::TYPE_BOOL, 1},
};

TEST(KServeDatatypeTest, SupportedTypesRoundTrip) {
  for (const Supported& s : kSupported) {
    SCOPED_TRACE(s.kserve);
    EXPECT_EQ(KServeDatatype(s.type), s.kserve);
    auto parsed = DataTypeFromKServe(s.kserve);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, s.type);

    EXPECT_EQ(TritonDataType(s.type), s.triton);
    auto from_triton = DataTypeFromTriton(s.triton);
    ASSERT_TRUE(from_triton.ok()) << from_triton.status();
    EXPECT_EQ(*from_triton, s.type);

    EXPECT_EQ(KServeDatatypeFromTriton(s.triton), s.kserve);
    auto triton = TritonDataTypeFromKServe(s.kserve);
    ASSERT_TRUE(triton.ok());
    EXPECT_EQ(*triton, s.triton);

    auto size = KServeElementSize(s.kserve);
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, s.size);
    EXPECT_EQ(*size, DataTypeSize(s.type));

    auto from_onnx = KServeDatatypeFromOnnx(static_cast<int32_t>(s.type));
    ASSERT_TRUE(from_onnx.ok());
    EXPECT_EQ(*from_onnx, s.kserve);
    EXPECT_TRUE(IsKServeDatatype(s.kserve));
  }
}

TEST(KServeDatatypeTest, UndefinedMapsToEmptyAndInvalid) {
  EXPECT_EQ(KServeDatatype(DataType::kUndefined), "");
  EXPECT_EQ(TritonDataType(DataType::kUndefined), inference::TYPE_INVALID);
}

TEST(KServeDatatypeTest, KnownButUnsupportedIsUnimplementedNamingIt) {
  for (const char* name : {"FP16", "BF16", "INT16", "UINT16", "UINT32", "UINT64", "BYTES"}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(IsKServeDatatype(name));
    auto parsed = DataTypeFromKServe(name);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(name));
  }
}

TEST(KServeDatatypeTest, UnknownIsInvalidArgumentNamingIt) {
  for (const char* name : {"FLOAT32", "fp32", "", "INT128", "STRING", "TYPE_FP32"}) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(IsKServeDatatype(name));
    auto parsed = DataTypeFromKServe(name);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(std::string("\"") + name + "\""));
    EXPECT_EQ(KServeElementSize(name).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(TritonDataTypeFromKServe(name).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(KServeDatatypeTest, ElementSizesOfUnsupportedTypes) {
  EXPECT_EQ(*KServeElementSize("FP16"), 2u);
  EXPECT_EQ(*KServeElementSize("BF16"), 2u);
  EXPECT_EQ(*KServeElementSize("INT16"), 2u);
  EXPECT_EQ(*KServeElementSize("UINT16"), 2u);
  EXPECT_EQ(*KServeElementSize("UINT32"), 4u);
  EXPECT_EQ(*KServeElementSize("UINT64"), 8u);
  EXPECT_EQ(*KServeElementSize("BYTES"), 0u);  // variable-length
}

TEST(KServeDatatypeTest, TritonUnsupportedAndInvalid) {
  auto fp16 = DataTypeFromTriton(inference::TYPE_FP16);
  EXPECT_EQ(fp16.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(fp16.status().message()), HasSubstr("TYPE_FP16"));
  auto string_type = DataTypeFromTriton(inference::TYPE_STRING);
  EXPECT_EQ(string_type.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(string_type.status().message()), HasSubstr("TYPE_STRING"));

  auto invalid = DataTypeFromTriton(inference::TYPE_INVALID);
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(invalid.status().message()), HasSubstr("TYPE_INVALID"));
  auto out_of_range = DataTypeFromTriton(static_cast<inference::DataType>(99));
  EXPECT_EQ(out_of_range.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out_of_range.status().message()), HasSubstr("99"));

  EXPECT_EQ(KServeDatatypeFromTriton(inference::TYPE_STRING), "BYTES");
  EXPECT_EQ(KServeDatatypeFromTriton(inference::TYPE_BF16), "BF16");
  EXPECT_EQ(KServeDatatypeFromTriton(inference::TYPE_INVALID), "");
  EXPECT_EQ(*TritonDataTypeFromKServe("BYTES"), inference::TYPE_STRING);
  EXPECT_EQ(*TritonDataTypeFromKServe("UINT16"), inference::TYPE_UINT16);
}

TEST(KServeDatatypeTest, OnnxTypesIncludingUnsupported) {
  EXPECT_EQ(*KServeDatatypeFromOnnx(10), "FP16");    // FLOAT16
  EXPECT_EQ(*KServeDatatypeFromOnnx(16), "BF16");    // BFLOAT16
  EXPECT_EQ(*KServeDatatypeFromOnnx(8), "BYTES");    // STRING
  EXPECT_EQ(*KServeDatatypeFromOnnx(4), "UINT16");
  EXPECT_EQ(*KServeDatatypeFromOnnx(5), "INT16");
  EXPECT_EQ(*KServeDatatypeFromOnnx(12), "UINT32");
  EXPECT_EQ(*KServeDatatypeFromOnnx(13), "UINT64");
  auto complex = KServeDatatypeFromOnnx(14);
  EXPECT_EQ(complex.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(complex.status().message()), HasSubstr("COMPLEX64"));
  EXPECT_EQ(KServeDatatypeFromOnnx(0).status().code(), absl::StatusCode::kInvalidArgument);
}

// Every Triton enum value other than TYPE_INVALID has a KServe name, and the
// two maps are inverse.
TEST(KServeDatatypeTest, TritonAndKServeTablesAreInverse) {
  const auto* e = inference::DataType_descriptor();
  for (int i = 0; i < e->value_count(); ++i) {
    const auto value = static_cast<inference::DataType>(e->value(i)->number());
    if (value == inference::TYPE_INVALID) continue;
    SCOPED_TRACE(e->value(i)->name());
    const absl::string_view kserve = KServeDatatypeFromTriton(value);
    ASSERT_FALSE(kserve.empty());
    EXPECT_EQ(*TritonDataTypeFromKServe(kserve), value);
  }
}

}  // namespace
}  // namespace tessera
