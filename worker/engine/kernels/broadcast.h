// NumPy-style (multidirectional) broadcasting helpers.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"

namespace tessera::engine {

// The broadcast shape of `shapes`, or InvalidArgument naming both shapes.
absl::StatusOr<Shape> BroadcastShapes(const std::vector<Shape>& shapes);

// Element strides of `shape` viewed as broadcast to `out` (rank(out) >=
// rank(shape)); broadcast dimensions get stride 0. Size == rank(out).
std::vector<int64_t> BroadcastStrides(const Shape& shape, const Shape& out);

// Row-major strides of `shape`.
std::vector<int64_t> ContiguousStrides(const Shape& shape);

}  // namespace tessera::engine
