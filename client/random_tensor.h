// Random input tensors for `tessera run` and shape specs such as "1x3x224x224".
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"

namespace tessera::client {

enum class RandomDistribution {
  kUniform,  // floats uniform in [-1, 1)
  kNormal,   // floats from N(0, 1)
};

// Parses "1x3x224x224" (or "1,3,224,224"); "" and "scalar" mean a rank-0
// shape. Every dimension must be a non-negative integer; the total size must
// stay below 2^34 elements. InvalidArgument names the spec when refused.
absl::StatusOr<Shape> ParseShapeSpec(absl::string_view spec);

// "1x3x224x224" (ShapeToString's counterpart in spec syntax; "scalar" for []).
std::string ShapeSpecString(const Shape& shape);

// A tensor of `type` and `shape` filled from `rng`: floats by `distribution`,
// integers uniform in [0, 10) (small non-negative values, valid as indices or
// token ids in most models), bools 0/1. Never fails for Tessera's types.
Tensor MakeRandomTensor(DataType type, const Shape& shape, RandomDistribution distribution, std::mt19937_64& rng);

}  // namespace tessera::client
