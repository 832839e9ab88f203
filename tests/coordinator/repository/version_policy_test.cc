// coordinator/repository/version_policy: Triton's version selection.
#include "coordinator/repository/version_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

inference::ModelVersionPolicy Latest(uint32_t n) {
  inference::ModelVersionPolicy p;
  p.mutable_latest()->set_num_versions(n);
  return p;
}

TEST(VersionPolicyTest, DirectoryNames) {
  EXPECT_THAT(ParseVersionDirectoryName("1"), Optional(1));
  EXPECT_THAT(ParseVersionDirectoryName("42"), Optional(42));
  EXPECT_EQ(ParseVersionDirectoryName("0"), std::nullopt);
  EXPECT_EQ(ParseVersionDirectoryName("01"), std::nullopt);
  EXPECT_EQ(ParseVersionDirectoryName("-1"), std::nullopt);
  EXPECT_EQ(ParseVersionDirectoryName("1a"), std::nullopt);
  EXPECT_EQ(ParseVersionDirectoryName(""), std::nullopt);
  EXPECT_EQ(ParseVersionDirectoryName("99999999999999999999"), std::nullopt);
}

TEST(VersionPolicyTest, DefaultIsLatestOne) {
  EXPECT_THAT(*SelectVersions({}, {3, 1, 2}), ElementsAre(3));
}

TEST(VersionPolicyTest, LatestN) {
  EXPECT_THAT(*SelectVersions(Latest(2), {3, 1, 2, 10}), ElementsAre(3, 10));
  EXPECT_THAT(*SelectVersions(Latest(5), {3, 1}), ElementsAre(1, 3));
  EXPECT_EQ(SelectVersions(Latest(0), {1}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(VersionPolicyTest, AllAndSpecific) {
  inference::ModelVersionPolicy all;
  all.mutable_all();
  EXPECT_THAT(*SelectVersions(all, {2, 1, 2}), ElementsAre(1, 2));
  inference::ModelVersionPolicy specific;
  specific.mutable_specific()->add_versions(4);
  specific.mutable_specific()->add_versions(1);
  EXPECT_THAT(*SelectVersions(specific, {1, 2, 4}), ElementsAre(1, 4));
  auto missing = SelectVersions(specific, {1, 2});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("version 4"));
}

TEST(VersionPolicyTest, NoVersionsIsNotFound) {
  EXPECT_EQ(SelectVersions({}, {}).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::coordinator
