#include "worker/engine/kernels/reduce_axes.h"

#include "absl/strings/str_cat.h"

namespace tessera::engine {

absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank || (rank == 0 && axis != 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": axis ", axis, " is out of range for a rank-", rank, " input"));
  }
  if (rank == 0) return 0;
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<std::vector<bool>> AxesMask(absl::string_view op, const std::vector<int64_t>& axes, int rank) {
  std::vector<bool> mask(rank, false);
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": axis ", axis, " is out of range for a rank-", rank, " input"));
    }
    const int a = static_cast<int>(axis < 0 ? axis + rank : axis);
    if (mask[a]) return absl::InvalidArgumentError(absl::StrCat(op, ": axis ", axis, " is repeated in axes"));
    mask[a] = true;
  }
  return mask;
}

int64_t DimProduct(const Shape& shape, int begin, int end) {
  int64_t p = 1;
  for (int i = begin; i < end; ++i) p *= shape[i];
  return p;
}

absl::StatusOr<int64_t> ReadScalarInt(absl::string_view op, absl::string_view what, const Tensor& tensor) {
  if (tensor.dtype() != DataType::kInt64 && tensor.dtype() != DataType::kInt32) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, " must be int32 or int64, got ", DataTypeName(tensor.dtype())));
  }
  if (tensor.num_elements() != 1 || tensor.rank() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", what, " must hold exactly one value, got shape ",
                                                   ShapeToString(tensor.shape())));
  }
  return tensor.GetAsInt64(0);
}

}  // namespace tessera::engine
