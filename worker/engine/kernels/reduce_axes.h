// Axis arithmetic shared by the reduction-group kernels (Reduce*, Softmax,
// ArgMax, TopK, CumSum).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"

namespace tessera::engine {

// Maps axis in [-rank, rank) to [0, rank); otherwise InvalidArgument naming
// the op, the axis and the rank.
absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int rank);

// A rank-sized mask with true at each (normalized) axis of `axes`; rejects
// out-of-range and repeated axes with InvalidArgument.
absl::StatusOr<std::vector<bool>> AxesMask(absl::string_view op, const std::vector<int64_t>& axes, int rank);

// Product of shape[begin, end).
int64_t DimProduct(const Shape& shape, int begin, int end);

// Reads a scalar (or one-element) integer tensor such as CumSum's axis or
// TopK's K; InvalidArgument naming `what` when it is not one.
absl::StatusOr<int64_t> ReadScalarInt(absl::string_view op, absl::string_view what, const Tensor& tensor);

}  // namespace tessera::engine
