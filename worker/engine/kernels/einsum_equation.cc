#include "worker/engine/kernels/einsum_equation.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tessera::engine {
namespace {

absl::Status InvalidEquation(absl::string_view equation, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("Einsum: bad equation '", equation, "': ", problem));
}

// Checks one term: letters and at most one "...".
absl::Status CheckTerm(absl::string_view equation, const std::string& term) {
  bool seen_ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    const char c = term[i];
    if (absl::ascii_isalpha(static_cast<unsigned char>(c))) continue;
    if (c == '.') {
      if (term.compare(i, 3, "...") != 0) return InvalidEquation(equation, "'.' must be part of an ellipsis '...'");
      if (seen_ellipsis) return InvalidEquation(equation, absl::StrCat("term '", term, "' has more than one ellipsis"));
      seen_ellipsis = true;
      i += 2;
      continue;
    }
    return InvalidEquation(equation, absl::StrCat("invalid character '", std::string(1, c), "' in term '", term, "'"));
  }
  return absl::OkStatus();
}

int CountLetters(const std::string& term) {
  return static_cast<int>(std::count_if(term.begin(), term.end(),
                                        [](char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)); }));
}

}  // namespace

absl::StatusOr<EinsumTerms> ParseEinsumTerms(absl::string_view equation) {
  std::string compact;
  for (char c : equation) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) compact.push_back(c);
  }
  if (compact.empty()) return InvalidEquation(equation, "it is empty");
  EinsumTerms terms;
  std::string lhs = compact;
  if (const size_t arrow = compact.find("->"); arrow != std::string::npos) {
    lhs = compact.substr(0, arrow);
    std::string rhs = compact.substr(arrow + 2);
    if (rhs.find("->") != std::string::npos) return InvalidEquation(equation, "more than one '->'");
    if (rhs.find(',') != std::string::npos) return InvalidEquation(equation, "the output term contains ','");
    auto status = CheckTerm(equation, rhs);
    if (!status.ok()) return status;
    terms.output = rhs;
  } else if (compact.find('-') != std::string::npos || compact.find('>') != std::string::npos) {
    return InvalidEquation(equation, "malformed '->'");
  }
  for (absl::string_view part : absl::StrSplit(lhs, ',')) {
    std::string term(part);
    auto status = CheckTerm(equation, term);
    if (!status.ok()) return status;
    terms.inputs.push_back(std::move(term));
  }
  return terms;
}

absl::StatusOr<EinsumEquation> BindEinsumTerms(const EinsumTerms& terms, const std::vector<int>& ranks) {
  const std::string equation =
      absl::StrCat(absl::StrJoin(terms.inputs, ","), terms.output.has_value() ? "->" + *terms.output : "");
  if (terms.inputs.size() != ranks.size()) {
    return InvalidEquation(equation, absl::StrCat("it has ", terms.inputs.size(), " input terms but the node has ",
                                                  ranks.size(), " inputs"));
  }
  EinsumEquation eq;
  // Ellipsis ranks first: they fix how many ellipsis label ids exist.
  std::vector<int> ellipsis_rank(ranks.size(), 0);
  for (size_t i = 0; i < ranks.size(); ++i) {
    const std::string& term = terms.inputs[i];
    const int letters = CountLetters(term);
    const bool has_ellipsis = term.find("...") != std::string::npos;
    if (has_ellipsis ? letters > ranks[i] : letters != ranks[i]) {
      return InvalidEquation(equation, absl::StrCat("term '", term, "' does not match input ", i, " of rank ",
                                                    ranks[i]));
    }
    ellipsis_rank[i] = has_ellipsis ? ranks[i] - letters : 0;
    eq.num_ellipsis_dims = std::max(eq.num_ellipsis_dims, ellipsis_rank[i]);
  }
  for (int i = 0; i < eq.num_ellipsis_dims; ++i) eq.label_names.push_back('.');
  std::array<int, 256> letter_id;
  letter_id.fill(-1);
  std::array<int, 256> letter_count{};
  auto id_of = [&](char c) {
    int& id = letter_id[static_cast<unsigned char>(c)];
    if (id < 0) {
      id = static_cast<int>(eq.label_names.size());
      eq.label_names.push_back(c);
    }
    return id;
  };
  for (size_t i = 0; i < ranks.size(); ++i) {
    const std::string& term = terms.inputs[i];
    std::vector<int> labels;
    for (size_t p = 0; p < term.size(); ++p) {
      if (term[p] == '.') {
        for (int e = eq.num_ellipsis_dims - ellipsis_rank[i]; e < eq.num_ellipsis_dims; ++e) labels.push_back(e);
        p += 2;
        continue;
      }
      labels.push_back(id_of(term[p]));
      ++letter_count[static_cast<unsigned char>(term[p])];
    }
    eq.operand_labels.push_back(std::move(labels));
  }
  eq.num_labels = static_cast<int>(eq.label_names.size());
  if (terms.output.has_value()) {
    const std::string& out = *terms.output;
    const bool out_ellipsis = out.find("...") != std::string::npos;
    if (!out_ellipsis && eq.num_ellipsis_dims > 0) {
      return InvalidEquation(equation, "the inputs use '...' but the output does not");
    }
    std::vector<bool> used(eq.num_labels, false);
    for (size_t p = 0; p < out.size(); ++p) {
      if (out[p] == '.') {
        for (int e = 0; e < eq.num_ellipsis_dims; ++e) eq.output_labels.push_back(e);
        p += 2;
        continue;
      }
      const int id = letter_id[static_cast<unsigned char>(out[p])];
      if (id < 0) {
        return InvalidEquation(equation,
                               absl::StrCat("output label '", std::string(1, out[p]), "' does not occur in any input"));
      }
      if (used[id]) {
        return InvalidEquation(equation, absl::StrCat("output label '", std::string(1, out[p]), "' is repeated"));
      }
      used[id] = true;
      eq.output_labels.push_back(id);
    }
  } else {
    for (int e = 0; e < eq.num_ellipsis_dims; ++e) eq.output_labels.push_back(e);
    for (int c = 0; c < 256; ++c) {
      if (letter_count[c] == 1) eq.output_labels.push_back(letter_id[c]);
    }
  }
  return eq;
}

}  // namespace tessera::engine
