// Parsing of Einsum equations ("bij,bjk->bik", "...ii->...i", "i,i").
//
// An equation has one comma-separated term per operand, optionally followed
// by "->" and the output term. Terms are letters (a-z, A-Z) with at most one
// "..." standing for any number of leading/middle dimensions; spaces are
// ignored. Without "->" the output is the ellipsis dimensions followed by the
// letters that occur exactly once, in alphabetical (ASCII) order, as NumPy
// does.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera::engine {

// The equation's terms, syntax-checked but not yet bound to operand ranks.
struct EinsumTerms {
  std::vector<std::string> inputs;    // whitespace removed
  std::optional<std::string> output;  // absent for the implicit form
};

// Splits and checks `equation`; InvalidArgument naming the problem.
absl::StatusOr<EinsumTerms> ParseEinsumTerms(absl::string_view equation);

// The equation bound to operand ranks: every dimension gets a label id.
// Ellipsis dimensions (right-aligned across operands, broadcast like NumPy)
// get ids [0, num_ellipsis_dims); letters get the following ids.
struct EinsumEquation {
  std::vector<std::vector<int>> operand_labels;  // one id per operand dimension
  std::vector<int> output_labels;                // one id per output dimension
  int num_labels = 0;
  int num_ellipsis_dims = 0;
  std::vector<char> label_names;  // per id: the letter, or '.' for ellipsis dims
};

// Binds `terms` to operands of the given ranks; InvalidArgument when the
// number of operands or a term's length does not match, or the output term
// names a label no input has / repeats one.
absl::StatusOr<EinsumEquation> BindEinsumTerms(const EinsumTerms& terms, const std::vector<int>& ranks);

}  // namespace tessera::engine
