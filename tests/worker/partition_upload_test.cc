// PartitionUpload: header validation, byte counting and the SHA-256 check.
#include "worker/partition_upload.h"

#include <string>

#include "common/sha256.h"
#include "gtest/gtest.h"

namespace tessera::worker {
namespace {

PartitionHeader Header(const std::string& bytes) {
  PartitionHeader header;
  header.set_partition_id(Sha256Hex(bytes));
  header.set_total_bytes(bytes.size());
  return header;
}

TEST(PartitionUploadTest, ChunksAddUpToTheBytes) {
  const std::string bytes = "onnx model bytes, in three chunks";
  PartitionUpload upload(Header(bytes));
  ASSERT_TRUE(upload.Append(bytes.substr(0, 5)).ok());
  ASSERT_TRUE(upload.Append(bytes.substr(5, 10)).ok());
  ASSERT_TRUE(upload.Append(bytes.substr(15)).ok());
  absl::StatusOr<std::string> done = std::move(upload).Finish();
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(*done, bytes);
}

TEST(PartitionUploadTest, HeaderMustNameADigestAndASize) {
  PartitionHeader header = Header("x");
  EXPECT_TRUE(PartitionUpload::ValidateHeader(header).ok());
  header.set_partition_id("ABC");
  absl::Status st = PartitionUpload::ValidateHeader(header);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("SHA-256"), std::string::npos) << st;
  header = Header("x");
  header.set_total_bytes(0);
  EXPECT_EQ(PartitionUpload::ValidateHeader(header).code(), absl::StatusCode::kInvalidArgument);
}

TEST(PartitionUploadTest, TooManyBytesIsDataLoss) {
  PartitionUpload upload(Header("abc"));
  ASSERT_TRUE(upload.Append("ab").ok());
  absl::Status st = upload.Append("cd");
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("more than the 3 bytes"), std::string::npos) << st;
}

TEST(PartitionUploadTest, ShortStreamIsDataLoss) {
  PartitionUpload upload(Header("abcdef"));
  ASSERT_TRUE(upload.Append("abc").ok());
  absl::StatusOr<std::string> done = std::move(upload).Finish();
  EXPECT_EQ(done.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(done.status().message().find("3 of 6 bytes"), std::string::npos) << done.status();
}

TEST(PartitionUploadTest, WrongDigestIsDataLoss) {
  PartitionHeader header = Header("abc");
  PartitionUpload upload(header);
  ASSERT_TRUE(upload.Append("abd").ok());
  absl::StatusOr<std::string> done = std::move(upload).Finish();
  EXPECT_EQ(done.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(done.status().message().find(header.partition_id()), std::string::npos) << done.status();
}

TEST(Sha256Test, KnownDigest) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("")));
  EXPECT_FALSE(IsSha256Hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
}

}  // namespace
}  // namespace tessera::worker
