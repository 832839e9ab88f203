// Which versions of a model to serve, from the versions present on disk and
// the config's version_policy (Triton's rules):
//   - no policy, or latest { num_versions: N }: the N highest versions
//     (N defaults to 1); fewer when fewer exist;
//   - all {}: every version;
//   - specific { versions: [...] }: exactly those; a listed version that is
//     not on disk is NotFound naming it.
// A model directory without any version is NotFound.
//
// Version directories are named by a positive decimal number without a
// leading zero ("1", "12"); anything else in the model directory ("0",
// "01", "v2", files) is not a version and is ignored, as Triton does.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/model_config.pb.h"

namespace tessera::coordinator {

// The version a directory name denotes, or nullopt when it names none.
std::optional<int64_t> ParseVersionDirectoryName(absl::string_view name);

// The versions to load, ascending. `available` may be in any order.
absl::StatusOr<std::vector<int64_t>> SelectVersions(const inference::ModelVersionPolicy& policy,
                                                    absl::Span<const int64_t> available);

}  // namespace tessera::coordinator
