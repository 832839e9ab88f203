// Cutting a batch (axis 0) into pieces and putting the answers back together:
// shards for data parallelism (sized in proportion to each worker's
// capacity) and micro-batches for pipelines.
//
// Pieces are views: a row range of a C-order tensor is contiguous, so
// SliceRows shares the buffer and copies nothing. ConcatRows copies once
// into the result.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/tensor.h"

namespace tessera::coordinator {

// Splits `total` rows over workers in proportion to `weights` (capacities,
// >= 0; all zero or empty means equal shares), by largest remainder: sizes
// sum to `total`, a worker with weight 0 gets 0 unless every weight is 0.
// Workers may get 0 rows when total < workers.
std::vector<int64_t> ProportionalSplit(int64_t total, absl::Span<const double> weights);

// Splits `total` rows into consecutive pieces of `piece` rows (the last may
// be smaller); piece <= 0 means one piece of everything.
std::vector<int64_t> FixedSplit(int64_t total, int64_t piece);

// Rows [begin, begin + count) of `t` along axis 0, sharing t's buffer.
// InvalidArgument for a scalar or a range outside the tensor.
absl::StatusOr<Tensor> SliceRows(const Tensor& t, int64_t begin, int64_t count);

// The pieces stacked along axis 0, in order. They must agree on element
// type and on every dimension but the first (InvalidArgument otherwise).
absl::StatusOr<Tensor> ConcatRows(absl::Span<const Tensor> pieces);

}  // namespace tessera::coordinator
