// Slice: numpy-style strided slicing (attributes before opset 10, inputs
// with steps from opset 10; negative steps, clamping, optional axes).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/broadcast.h"
#include "worker/engine/kernels/tensor_ops_common.h"
#include "worker/engine/kernels/tensor_ops_copy.h"

namespace tessera::engine::tensor_ops {
namespace {

struct AxisSlice {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
};

// Clamps start/end to the axis as numpy does and counts the elements taken.
AxisSlice ClampSlice(int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  AxisSlice s;
  s.step = step;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    const __int128 span = static_cast<__int128>(end) - start;
    s.count = span > 0 ? static_cast<int64_t>((span + step - 1) / step) : 0;
  } else {
    start = std::clamp<int64_t>(start, -1, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    const __int128 span = static_cast<__int128>(start) - end;
    const __int128 neg_step = -static_cast<__int128>(step);
    s.count = span > 0 ? static_cast<int64_t>((span + neg_step - 1) / neg_step) : 0;
  }
  s.start = s.count > 0 ? start : 0;
  return s;
}

class SliceKernel : public OpKernel {
 public:
  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    auto k = std::make_unique<SliceKernel>();
    k->from_inputs_ = init.opset >= 10;
    if (!k->from_inputs_) {
      if (!init.attrs.Has("starts") || !init.attrs.Has("ends")) {
        return absl::InvalidArgumentError("Slice: attributes 'starts' and 'ends' are required before opset 10");
      }
      k->attr_starts_ = init.attrs.GetInts("starts");
      k->attr_ends_ = init.attrs.GetInts("ends");
      k->attr_axes_ = init.attrs.GetInts("axes");
      k->attr_has_axes_ = init.attrs.Has("axes");
    }
    return std::unique_ptr<OpKernel>(std::move(k));
  }

  absl::Status Compute(KernelContext& ctx) const override {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Slice", ctx, 0, "data"));
    std::vector<int64_t> starts = attr_starts_, ends = attr_ends_, axes = attr_axes_, steps;
    bool has_axes = attr_has_axes_;
    if (from_inputs_) {
      TESSERA_ASSIGN_OR_RETURN(const Tensor* s, RequiredInput("Slice", ctx, 1, "starts"));
      TESSERA_ASSIGN_OR_RETURN(const Tensor* e, RequiredInput("Slice", ctx, 2, "ends"));
      TESSERA_ASSIGN_OR_RETURN(starts, ReadInt64Vector("Slice", "starts", *s));
      TESSERA_ASSIGN_OR_RETURN(ends, ReadInt64Vector("Slice", "ends", *e));
      if (const Tensor* a = ctx.input(3); a != nullptr) {
        TESSERA_ASSIGN_OR_RETURN(axes, ReadInt64Vector("Slice", "axes", *a));
        has_axes = true;
      }
      if (const Tensor* st = ctx.input(4); st != nullptr) {
        TESSERA_ASSIGN_OR_RETURN(steps, ReadInt64Vector("Slice", "steps", *st));
      }
    }
    const size_t n = starts.size();
    if (ends.size() != n || (has_axes && axes.size() != n) || (!steps.empty() && steps.size() != n)) {
      return absl::InvalidArgumentError(absl::StrCat("Slice: starts, ends, axes and steps must have equal lengths (",
                                                     n, ", ", ends.size(), ", ", has_axes ? axes.size() : n, ", ",
                                                     steps.empty() ? n : steps.size(), ")"));
    }
    const int rank = data->rank();
    std::vector<AxisSlice> slices(rank);
    for (int d = 0; d < rank; ++d) slices[d] = {0, 1, data->dim(d)};
    std::vector<bool> seen(rank, false);
    for (size_t i = 0; i < n; ++i) {
      TESSERA_ASSIGN_OR_RETURN(int axis, NormalizeAxis("Slice", has_axes ? axes[i] : static_cast<int64_t>(i), rank));
      if (seen[axis]) return absl::InvalidArgumentError(absl::StrCat("Slice: axis ", axis, " is repeated"));
      seen[axis] = true;
      const int64_t step = steps.empty() ? 1 : steps[i];
      if (step == 0) return absl::InvalidArgumentError(absl::StrCat("Slice: step for axis ", axis, " is 0"));
      slices[axis] = ClampSlice(data->dim(axis), starts[i], ends[i], step);
    }
    Shape out_shape(rank);
    const std::vector<int64_t> in_strides = ContiguousStrides(data->shape());
    std::vector<int64_t> src_strides(rank);
    int64_t offset = 0;
    for (int d = 0; d < rank; ++d) {
      out_shape[d] = slices[d].count;
      src_strides[d] = in_strides[d] * slices[d].step;
      offset += slices[d].start * in_strides[d];
    }
    Tensor* out = ctx.AllocateOutput(0, data->dtype(), out_shape);
    if (out->num_elements() == 0) return absl::OkStatus();
    const size_t elem = DataTypeSize(data->dtype());
    CopyStridedToContiguous(elem, out_shape, src_strides, static_cast<const char*>(data->raw_data()) + offset * elem,
                            out->raw_data(), ctx.num_threads());
    return absl::OkStatus();
  }

 private:
  bool from_inputs_ = true;
  std::vector<int64_t> attr_starts_, attr_ends_, attr_axes_;
  bool attr_has_axes_ = false;
};

}  // namespace

void RegisterSliceKernels(KernelRegistry& registry) { RegisterOp(registry, "Slice", FactoryOf<SliceKernel>()); }

}  // namespace tessera::engine::tensor_ops
