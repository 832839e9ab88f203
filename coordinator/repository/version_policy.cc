#include "coordinator/repository/version_policy.h"

#include <algorithm>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera::coordinator {

std::optional<int64_t> ParseVersionDirectoryName(absl::string_view name) {
  if (name.empty() || name.size() > 18 || name[0] == '0') return std::nullopt;
  int64_t v = 0;
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

absl::StatusOr<std::vector<int64_t>> SelectVersions(const inference::ModelVersionPolicy& policy,
                                                    absl::Span<const int64_t> available) {
  std::vector<int64_t> sorted(available.begin(), available.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  if (sorted.empty()) return absl::NotFoundError("the model directory holds no version directory (e.g. '1/')");

  if (policy.has_all()) return sorted;
  if (policy.has_specific()) {
    std::vector<int64_t> wanted(policy.specific().versions().begin(), policy.specific().versions().end());
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    for (int64_t v : wanted) {
      if (!std::binary_search(sorted.begin(), sorted.end(), v)) {
        return absl::NotFoundError(absl::StrCat("version_policy.specific names version ", v,
                                                ", which does not exist; versions on disk: ",
                                                absl::StrJoin(sorted, ", ")));
      }
    }
    return wanted;
  }
  const size_t n = policy.has_latest() ? policy.latest().num_versions() : 1;
  if (n == 0) return absl::InvalidArgumentError("version_policy.latest.num_versions must be >= 1");
  const size_t keep = std::min(n, sorted.size());
  return std::vector<int64_t>(sorted.end() - static_cast<std::ptrdiff_t>(keep), sorted.end());
}

}  // namespace tessera::coordinator
