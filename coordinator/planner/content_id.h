// Content ids of partitions: the lowercase hex SHA-256 of the serialized
// stage model, which workers use as the cache key for loaded partitions.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace tessera::planner {

// 64 lowercase hex digits.
std::string ContentId(absl::string_view bytes);

}  // namespace tessera::planner
