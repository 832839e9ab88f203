// conformance_runner [--root DIR] [--filter REGEX] [--exclusions FILE] [--quiet]
// Prints PASS / FAIL / UNSUPPORTED / EXCLUDED for every ONNX backend test case
// and the pass rate. Exit code 1 when any in-scope case fails.
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "tests/worker/engine/conformance/conformance_suite.h"

using namespace tessera::engine::conformance;

int main(int argc, char** argv) {
  std::string root = kDefaultDataRoot;
  std::string filter = ".*";
  std::string exclusions_file = TESSERA_CONFORMANCE_EXCLUSIONS;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--root") root = next();
    else if (a == "--filter") filter = next();
    else if (a == "--exclusions") exclusions_file = next();
    else if (a == "--quiet") quiet = true;
    else {
      std::cerr << "usage: conformance_runner [--root DIR] [--filter REGEX] [--exclusions FILE] [--quiet]\n";
      return 2;
    }
  }
  std::ifstream f(exclusions_file);
  std::stringstream ss;
  ss << f.rdbuf();
  const auto exclusions = ParseExclusions(ss.str());
  std::regex re(filter);
  int counts[4] = {0, 0, 0, 0};
  for (const auto& name : ListCases(root)) {
    if (!std::regex_search(name, re)) continue;
    CaseResult r = RunCase(root + "/" + name, name, exclusions);
    ++counts[static_cast<int>(r.outcome)];
    if (!quiet || r.outcome == Outcome::kFail) {
      std::cout << OutcomeName(r.outcome) << " " << r.name << (r.detail.empty() ? "" : "  -- ") << r.detail << "\n";
    }
  }
  const int pass = counts[0], fail = counts[1], unsupported = counts[2], excluded = counts[3];
  const int total = pass + fail + unsupported + excluded;
  const int in_scope = pass + fail;
  std::cout << "\npass " << pass << ", fail " << fail << ", unsupported " << unsupported << ", excluded " << excluded
            << " of " << total << " cases\n";
  if (in_scope > 0) {
    std::cout << "pass rate (committed operators, not excluded): " << (100.0 * pass / in_scope) << "%\n";
  }
  if (total > 0) std::cout << "pass rate (all cases): " << (100.0 * pass / total) << "%\n";
  return fail > 0 ? 1 : 0;
}
