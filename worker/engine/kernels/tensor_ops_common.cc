#include "worker/engine/kernels/tensor_ops_common.h"

#include "absl/strings/str_cat.h"

namespace tessera::engine::tensor_ops {

absl::StatusOr<int> NormalizeAxis(absl::string_view op, int64_t axis, int64_t rank, bool allow_rank) {
  const int64_t hi = allow_rank ? rank : rank - 1;
  const int64_t lo = -rank;
  if (axis < lo || axis > hi) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": axis ", axis, " is out of range [", lo, ", ", hi,
                                                   "] for rank ", rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

absl::StatusOr<const Tensor*> RequiredInput(absl::string_view op, const KernelContext& ctx, int i,
                                            absl::string_view what) {
  const Tensor* t = ctx.input(i);
  if (t == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": required input ", i, " (", what, ") is missing"));
  }
  return t;
}

absl::StatusOr<std::vector<int64_t>> ReadInt64Vector(absl::string_view op, absl::string_view what,
                                                     const Tensor& t) {
  if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, " must be int64 or int32, got ", DataTypeName(t.dtype())));
  }
  if (t.rank() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, " must be 1-D, got shape ", ShapeToString(t.shape())));
  }
  std::vector<int64_t> out(static_cast<size_t>(t.num_elements()));
  if (t.dtype() == DataType::kInt64) {
    const int64_t* p = t.data<int64_t>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
  } else {
    const int32_t* p = t.data<int32_t>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
  }
  return out;
}

absl::StatusOr<int64_t> ReadInt64Scalar(absl::string_view op, absl::string_view what, const Tensor& t) {
  if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, " must be int64 or int32, got ", DataTypeName(t.dtype())));
  }
  if (t.num_elements() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, " must be a scalar, got shape ", ShapeToString(t.shape())));
  }
  return t.GetAsInt64(0);
}

absl::StatusOr<double> ReadFloatScalar(absl::string_view op, absl::string_view what, const Tensor& t) {
  if (t.dtype() != DataType::kFloat32 && t.dtype() != DataType::kFloat64) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, " must be float32 or float64, got ", DataTypeName(t.dtype())));
  }
  if (t.num_elements() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, " must be a scalar, got shape ", ShapeToString(t.shape())));
  }
  return t.GetAsDouble(0);
}

absl::Status ValidateOutputShape(absl::string_view op, const Shape& shape, DataType type) {
  absl::Status st = ValidateShape(shape, type);
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(op, ": output ", st.message()));
}

void RegisterOp(KernelRegistry& registry, absl::string_view op_type, KernelFactory factory,
                bool output_aliases_input, bool deterministic) {
  KernelDef def;
  def.domain = std::string(kOnnxDomain);
  def.op_type = std::string(op_type);
  def.factory = std::move(factory);
  def.output_aliases_input = output_aliases_input;
  def.deterministic = deterministic;
  registry.Register(std::move(def));
}

}  // namespace tessera::engine::tensor_ops
