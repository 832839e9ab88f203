// Every ONNX backend test case whose operators are all committed must pass,
// except the written exclusions (conformance_exclusions.txt, each with its
// reason).
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/worker/engine/conformance/conformance_suite.h"

namespace tessera::engine::conformance {
namespace {

std::vector<Exclusion> LoadExclusions() {
  std::ifstream f(TESSERA_CONFORMANCE_EXCLUSIONS);
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseExclusions(ss.str());
}

TEST(ConformanceTest, ExclusionsAllHaveReasons) {
  for (const auto& e : LoadExclusions()) EXPECT_FALSE(e.reason.empty()) << e.pattern;
}

TEST(ConformanceTest, GlobMatching) {
  EXPECT_TRUE(GlobMatch("node/test_cast_*FLOAT16*", "node/test_cast_FLOAT_to_FLOAT16"));
  EXPECT_FALSE(GlobMatch("node/test_cast_*FLOAT16*", "node/test_cast_FLOAT_to_DOUBLE"));
  EXPECT_TRUE(GlobMatch("node/test_abs", "node/test_abs"));
  EXPECT_FALSE(GlobMatch("node/test_abs", "node/test_abs_x"));
}

TEST(ConformanceTest, CommittedCasesPass) {
  const auto exclusions = LoadExclusions();
  const auto cases = ListCases(kDefaultDataRoot);
  ASSERT_GT(cases.size(), 900u) << "libonnx-testdata is not installed at " << kDefaultDataRoot;
  int pass = 0, fail = 0, unsupported = 0, excluded = 0;
  for (const auto& name : cases) {
    CaseResult r = RunCase(std::string(kDefaultDataRoot) + "/" + name, name, exclusions);
    switch (r.outcome) {
      case Outcome::kPass: ++pass; break;
      case Outcome::kUnsupported: ++unsupported; break;
      case Outcome::kExcluded: ++excluded; break;
      case Outcome::kFail:
        ++fail;
        ADD_FAILURE() << r.name << ": " << r.detail;
        break;
    }
  }
  std::cout << "conformance: pass " << pass << ", fail " << fail << ", unsupported " << unsupported
            << ", excluded " << excluded << " of " << cases.size() << "; pass rate "
            << (pass + fail > 0 ? 100.0 * pass / (pass + fail) : 0.0) << "% of committed cases\n";
  EXPECT_GT(pass, 0);
}

}  // namespace
}  // namespace tessera::engine::conformance
