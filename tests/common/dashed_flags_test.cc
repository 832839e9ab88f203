#include "common/dashed_flags.h"

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(DashedFlagsTest, RewritesFlagNamesOnly) {
  const char* argv[] = {"prog",      "--worker-memory-mb=64", "--model-repository", "/a-b/c-d", "-max-x",
                        "--insecure", "--",                   "--not-a-flag"};
  std::vector<char*> raw;
  for (const char* a : argv) raw.push_back(const_cast<char*>(a));
  const std::vector<std::string> out = UnderscoreFlagNames(static_cast<int>(raw.size()), raw.data());
  EXPECT_EQ(out, (std::vector<std::string>{"prog", "--worker_memory_mb=64", "--model_repository", "/a-b/c-d",
                                           "-max_x", "--insecure", "--", "--not-a-flag"}));
}

}  // namespace
}  // namespace tessera
