#include "coordinator/planner/content_id.h"

#include "gtest/gtest.h"

namespace tessera::planner {
namespace {

TEST(ContentIdTest, IsHexSha256) {
  EXPECT_EQ(ContentId("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ContentId(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace tessera::planner
