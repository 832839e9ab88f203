// Runs the ONNX backend test suite shipped in libonnx-testdata against the
// engine: each case directory holds model.onnx and test_data_set_*/ with
// input_*.pb / output_*.pb TensorProtos.
#pragma once

#include <string>
#include <vector>

namespace tessera::engine::conformance {

inline constexpr char kDefaultDataRoot[] = "/usr/share/libonnx-testdata/data";
// The suite directories the conformance test covers.
const std::vector<std::string>& SuiteDirectories();

enum class Outcome { kPass, kFail, kUnsupported, kExcluded };
const char* OutcomeName(Outcome outcome);

struct CaseResult {
  std::string name;    // e.g. "node/test_abs"
  Outcome outcome = Outcome::kFail;
  std::string detail;  // why it failed / which ops are unsupported / exclusion reason
};

// The operators Tessera commits to (issue list), ai.onnx domain.
const std::vector<std::string>& CommittedOperators();

struct Exclusion {
  std::string pattern;  // case name or glob with '*', e.g. "node/test_cast_*FLOAT16*"
  std::string reason;
};
// Parses "pattern  # reason" lines; blank lines and lines starting with '#' are skipped.
std::vector<Exclusion> ParseExclusions(const std::string& text);
bool GlobMatch(const std::string& pattern, const std::string& text);

// Runs one case directory. rtol/atol as in the ONNX backend tests.
CaseResult RunCase(const std::string& dir, const std::string& name, const std::vector<Exclusion>& exclusions,
                   double rtol = 1e-3, double atol = 1e-7);

// Lists "suite/case" names under root for the suite directories, sorted.
std::vector<std::string> ListCases(const std::string& root);

}  // namespace tessera::engine::conformance
