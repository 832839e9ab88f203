#include "common/openmp_environment.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

#include "gtest/gtest.h"

namespace tessera {
namespace {

std::string self_path;

// Runs this binary in its probe mode under `env_prefix` and returns what it printed.
std::string Probe(const std::string& env_prefix) {
  const std::string cmd = "env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY " + env_prefix + " " + self_path + " --probe";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[256] = {0};
  std::string out;
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out;
}

TEST(OpenMpEnvironmentTest, SetsBoundedSpinWhenUnset) {
  EXPECT_EQ(Probe(""), std::string("GOMP_SPINCOUNT=") + kDefaultSpinCount + "\n");
}

TEST(OpenMpEnvironmentTest, RespectsUserChoice) {
  EXPECT_EQ(Probe("GOMP_SPINCOUNT=77"), "GOMP_SPINCOUNT=77\n");
  EXPECT_EQ(Probe("OMP_WAIT_POLICY=active"), "GOMP_SPINCOUNT=(unset)\n");
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--probe") == 0) {
    tessera::BoundOpenMpSpinning(argv);
    const char* v = std::getenv("GOMP_SPINCOUNT");
    std::printf("GOMP_SPINCOUNT=%s\n", v ? v : "(unset)");
    return 0;
  }
  tessera::self_path = "/proc/" + std::to_string(getpid()) + "/exe";
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
