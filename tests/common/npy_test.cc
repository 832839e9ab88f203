#include "common/npy.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

// Builds a .npy file by hand: magic, version, little-endian header length,
// the header text padded to 64 bytes, then `data`.
std::string MakeNpy(const std::string& dict, const std::string& data, int major = 1) {
  const size_t length_width = major == 1 ? 2 : 4;
  const size_t preamble = 8 + length_width;
  std::string header = dict;
  const size_t total = (preamble + header.size() + 1 + 63) / 64 * 64;
  header.append(total - preamble - header.size() - 1, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  for (size_t i = 0; i < length_width; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  return out + header + data;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string Dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
  return absl::StrCat("{'descr': '", descr, "', 'fortran_order': ", fortran, ", 'shape': ", shape, ", }");
}

TEST(NpyTest, ReadsFloat32Matrix) {
  const std::vector<float> values = {0, 1.5f, -2, 3, 4, 5};
  absl::StatusOr<Tensor> t = ReadNpy(MakeNpy(Dict("<f4", "(2, 3)"), Bytes(values)));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DataType::kFloat32);
  EXPECT_EQ(t->shape(), (Shape{2, 3}));
  EXPECT_THAT(t->values<float>(), ::testing::ElementsAreArray(values));
}

TEST(NpyTest, ReadsEveryDtype) {
  {
    absl::StatusOr<Tensor> t = ReadNpy(MakeNpy(Dict("<f8", "(2,)"), Bytes(std::vector<double>{1.25, -7})));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), DataType::kFloat64);
    EXPECT_THAT(t->values<double>(), ::testing::ElementsAre(1.25, -7));
  }
  {
    absl::StatusOr<Tensor> t = ReadNpy(MakeNpy(Dict("<i8", "(3,)"), Bytes(std::vector<int64_t>{1, -2, 1LL << 40})));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), DataType::kInt64);
    EXPECT_THAT(t->values<int64_t>(), ::testing::ElementsAre(1, -2, 1LL << 40));
  }
  {
    absl::StatusOr<Tensor> t = ReadNpy(MakeNpy(Dict("<i4", "(1, 2)"), Bytes(std::vector<int32_t>{7, -9})));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), DataType::kInt32);
    EXPECT_EQ(t->shape(), (Shape{1, 2}));
    EXPECT_THAT(t->values<int32_t>(), ::testing::ElementsAre(7, -9));
  }
  {
    // Bool bytes other than 0/1 are normalized.
    absl::StatusOr<Tensor> t = ReadNpy(MakeNpy(Dict("|b1", "(3,)"), std::string("\x01\x00\x05", 3)));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), DataType::kBool);
    // (Tensor::values<bool>() is avoided: braces pick Span's initializer_list
    // constructor for bool.)
    const uint8_t* bytes = static_cast<const uint8_t*>(t->raw_data());
    EXPECT_EQ(bytes[0], 1);
    EXPECT_EQ(bytes[1], 0);
    EXPECT_EQ(bytes[2], 1);
  }
  {
    absl::StatusOr<Tensor> t = ReadNpy(MakeNpy(Dict("|u1", "(2,)"), std::string("\xff\x03", 2)));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), DataType::kUint8);
    EXPECT_THAT(t->values<uint8_t>(), ::testing::ElementsAre(255, 3));
  }
  {
    absl::StatusOr<Tensor> t = ReadNpy(MakeNpy(Dict("|i1", "(2,)"), std::string("\xff\x03", 2)));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), DataType::kInt8);
    EXPECT_THAT(t->values<int8_t>(), ::testing::ElementsAre(-1, 3));
  }
}

TEST(NpyTest, ReadsScalarAndEmptyTensors) {
  absl::StatusOr<Tensor> scalar = ReadNpy(MakeNpy(Dict("<f4", "()"), Bytes(std::vector<float>{2.5f})));
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(scalar->rank(), 0);
  EXPECT_EQ(scalar->values<float>()[0], 2.5f);

  absl::StatusOr<Tensor> empty = ReadNpy(MakeNpy(Dict("<i8", "(0, 4)"), ""));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->shape(), (Shape{0, 4}));
  EXPECT_EQ(empty->num_elements(), 0);
}

TEST(NpyTest, ReadsVersion2And3Headers) {
  for (int major : {2, 3}) {
    absl::StatusOr<Tensor> t = ReadNpy(MakeNpy(Dict("<f4", "(2,)"), Bytes(std::vector<float>{1, 2}), major));
    ASSERT_TRUE(t.ok()) << "version " << major << ": " << t.status();
    EXPECT_THAT(t->values<float>(), ::testing::ElementsAre(1, 2));
  }
}

TEST(NpyTest, AcceptsHeaderVariants) {
  // Key order, double quotes, no trailing comma, native '=' order, and the
  // byte-order-free '>' on one-byte types are all valid.
  const std::string dict = "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"=f4\"}";
  absl::StatusOr<Tensor> t = ReadNpy(MakeNpy(dict, Bytes(std::vector<float>{1, 2})));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape(), (Shape{2}));
  absl::StatusOr<Tensor> u8 = ReadNpy(MakeNpy(Dict(">u1", "(1,)"), std::string("\x07", 1)));
  ASSERT_TRUE(u8.ok()) << u8.status();
  EXPECT_EQ(u8->values<uint8_t>()[0], 7);
}

TEST(NpyTest, RoundTripsEveryDtype) {
  std::vector<Tensor> tensors = {
      Tensor::FromVector<float>({2, 2}, {1, -2, 3.5f, 4}),
      Tensor::FromVector<double>({3}, {0.1, 0.2, 0.3}),
      Tensor::FromVector<int64_t>({1, 1, 2}, {-5, 9}),
      Tensor::FromVector<int32_t>({}, {42}),
      Tensor::FromVector<bool>({2}, {true, false}),
      Tensor::FromVector<uint8_t>({0}, {}),
      Tensor::FromVector<int8_t>({2, 1}, {-128, 127}),
  };
  for (const Tensor& original : tensors) {
    const std::string bytes = WriteNpy(original);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    const size_t header_length = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    EXPECT_EQ((10 + header_length) % 64, 0u) << original.DebugString();
    EXPECT_EQ(bytes[10 + header_length - 1], '\n');
    absl::StatusOr<Tensor> read = ReadNpy(bytes);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->dtype(), original.dtype());
    EXPECT_EQ(read->shape(), original.shape());
    ASSERT_EQ(read->byte_size(), original.byte_size());
    EXPECT_EQ(std::memcmp(read->raw_data(), original.raw_data(), original.byte_size()), 0) << original.DebugString();
  }
}

TEST(NpyTest, WritesNumpyStyleHeader) {
  const std::string bytes = WriteNpy(Tensor::FromVector<int64_t>({3}, {1, 2, 3}));
  EXPECT_THAT(bytes, HasSubstr("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }"));
  const std::string scalar = WriteNpy(Tensor::Scalar<double>(1.0));
  EXPECT_THAT(scalar, HasSubstr("'shape': (), }"));
  const std::string matrix = WriteNpy(Tensor::Zeros(DataType::kFloat32, {2, 3}));
  EXPECT_THAT(matrix, HasSubstr("'shape': (2, 3), }"));
}

TEST(NpyTest, FilesRoundTrip) {
  const std::string path = (std::filesystem::temp_directory_path() / "tessera_npy_test.npy").string();
  const Tensor original = Tensor::FromVector<float>({2}, {3, 4});
  ASSERT_TRUE(WriteNpyFile(path, original).ok());
  absl::StatusOr<Tensor> read = ReadNpyFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(read->values<float>(), ::testing::ElementsAre(3, 4));
  std::remove(path.c_str());

  absl::StatusOr<Tensor> missing = ReadNpyFile("/nonexistent/dir/x.npy");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/dir/x.npy"));
  EXPECT_FALSE(WriteNpyFile("/nonexistent/dir/x.npy", original).ok());
}

void ExpectInvalid(const std::string& bytes, const std::string& message_part) {
  absl::StatusOr<Tensor> t = ReadNpy(bytes);
  ASSERT_FALSE(t.ok()) << "expected failure mentioning '" << message_part << "'";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr(message_part));
}

TEST(NpyTest, RefusesBadMagic) {
  ExpectInvalid("", "bad magic");
  ExpectInvalid("PK\x03\x04 this is a zip", "bad magic");
  std::string bytes = MakeNpy(Dict("<f4", "(1,)"), Bytes(std::vector<float>{1}));
  bytes[1] = 'n';
  ExpectInvalid(bytes, "bad magic");
}

TEST(NpyTest, RefusesUnknownVersion) {
  std::string bytes = MakeNpy(Dict("<f4", "(1,)"), Bytes(std::vector<float>{1}));
  bytes[6] = 4;
  ExpectInvalid(bytes, "unsupported format version 4.0");
}

TEST(NpyTest, RefusesFortranOrder) {
  ExpectInvalid(MakeNpy(Dict("<f4", "(1, 2)", "True"), Bytes(std::vector<float>{1, 2})), "fortran_order True");
}

TEST(NpyTest, RefusesBigEndian) {
  ExpectInvalid(MakeNpy(Dict(">f4", "(1,)"), Bytes(std::vector<float>{1})), "big-endian");
  ExpectInvalid(MakeNpy(Dict(">i8", "(1,)"), Bytes(std::vector<int64_t>{1})), "'>i8'");
}

TEST(NpyTest, RefusesUnsupportedDtypesByName) {
  ExpectInvalid(MakeNpy(Dict("<f2", "(1,)"), "\0\0"), "unsupported dtype '<f2'");
  ExpectInvalid(MakeNpy(Dict("<U5", "(1,)"), std::string(20, '\0')), "unsupported dtype '<U5'");
  ExpectInvalid(MakeNpy(Dict("|O", "(1,)"), std::string(8, '\0')), "unsupported dtype '|O'");
  ExpectInvalid(MakeNpy(Dict("<u8", "(1,)"), std::string(8, '\0')), "unsupported dtype '<u8'");
  ExpectInvalid(MakeNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0')),
                "structured");
}

TEST(NpyTest, RefusesDataSizeMismatch) {
  ExpectInvalid(MakeNpy(Dict("<f4", "(3,)"), Bytes(std::vector<float>{1, 2})), "truncated data");
  ExpectInvalid(MakeNpy(Dict("<f4", "(1,)"), Bytes(std::vector<float>{1, 2})), "data size mismatch");
}

TEST(NpyTest, RefusesAbsurdShapes) {
  ExpectInvalid(MakeNpy(Dict("<f4", "(-1, 2)"), ""), "negative dimension");
  ExpectInvalid(MakeNpy(Dict("<f4", "(99999999999999999999,)"), ""), "overflows");
  ExpectInvalid(MakeNpy(Dict("<f8", "(4294967296, 4294967296)"), ""), "overflows int64");
  // Fits in int64 elements but not bytes.
  ExpectInvalid(MakeNpy(Dict("<f8", "(2305843009213693952,)"), ""), "overflows int64");
  // Plausible but not backed by data: refused before any allocation.
  ExpectInvalid(MakeNpy(Dict("<f4", "(100000, 100000)"), ""), "truncated data");
  ExpectInvalid(MakeNpy(Dict("<f4", "(1.5,)"), ""), "");
  ExpectInvalid(MakeNpy(Dict("<f4", "('a',)"), ""), "non-integer");
}

TEST(NpyTest, RefusesMalformedHeaders) {
  ExpectInvalid(MakeNpy("not a dict", ""), "header");
  ExpectInvalid(MakeNpy("{'descr': '<f4', 'shape': (1,)}", "xxxx"), "lacks one of the keys");
  ExpectInvalid(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", "xxxx"), "header");
  ExpectInvalid(MakeNpy("{'descr: '<f4'}", ""), "header");
  ExpectInvalid(MakeNpy(std::string(5000, '(') + std::string(5000, ')'), ""), "header");
  ExpectInvalid(MakeNpy("{'descr': 1, 'fortran_order': False, 'shape': (1,)}", "xxxx"), "'descr' is not a string");
  ExpectInvalid(MakeNpy("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "xxxx"), "fortran_order");
  ExpectInvalid(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': 3}", "xxxx"), "not a tuple");
}

TEST(NpyTest, RefusesTruncatedHeader) {
  std::string bytes = MakeNpy(Dict("<f4", "(1,)"), Bytes(std::vector<float>{1}));
  ExpectInvalid(bytes.substr(0, 7), "truncated header");
  ExpectInvalid(bytes.substr(0, 9), "truncated header");
  ExpectInvalid(bytes.substr(0, 30), "truncated header");
}

// Every prefix of a valid file (and a bounded set of single-byte corruptions)
// must produce an error or a tensor, never a crash; prefixes must all fail.
TEST(NpyTest, TruncationsAndCorruptionsNeverCrash) {
  const std::vector<float> values = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  for (int major : {1, 2}) {
    const std::string valid = MakeNpy(Dict("<f4", "(3, 4)"), Bytes(values), major);
    ASSERT_TRUE(ReadNpy(valid).ok());
    for (size_t length = 0; length < valid.size(); ++length) {
      absl::StatusOr<Tensor> t = ReadNpy(absl::string_view(valid).substr(0, length));
      ASSERT_FALSE(t.ok()) << "prefix of length " << length << " was accepted";
      EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    }
    // Flip each header byte to a few values; outcomes vary but must be sane.
    const size_t header_end = valid.size() - values.size() * sizeof(float);
    for (size_t i = 0; i < header_end; ++i) {
      for (char replacement : {'\0', '\xff', '(', ',', '9', '\''}) {
        std::string corrupted = valid;
        corrupted[i] = replacement;
        absl::StatusOr<Tensor> t = ReadNpy(corrupted);
        if (t.ok()) {
          EXPECT_LE(t->byte_size(), corrupted.size());
        } else {
          EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
        }
      }
    }
  }
}

}  // namespace
}  // namespace tessera
