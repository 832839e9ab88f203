// Pad: constant, reflect and edge modes; pads as attribute (opset < 11) or
// input (opset >= 11, with optional constant_value and, from opset 18, axes).
// Negative pads crop; the remaining input is then padded.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/broadcast.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/tensor_ops_common.h"
#include "worker/engine/kernels/tensor_ops_copy.h"

namespace tessera::engine::tensor_ops {
namespace {

enum class PadMode { kConstant, kReflect, kEdge };

// How one axis is padded: input elements [crop_begin, crop_begin + count)
// land at output [pad_begin, pad_begin + count).
struct AxisPad {
  int64_t crop_begin = 0;
  int64_t count = 0;
  int64_t pad_begin = 0;
  int64_t out_dim = 0;
};

// Output index -> input index along one axis for reflect / edge padding.
std::vector<int64_t> SourceIndexMap(const AxisPad& a, PadMode mode) {
  std::vector<int64_t> map(a.out_dim);
  const int64_t period = 2 * (a.count - 1);
  for (int64_t o = 0; o < a.out_dim; ++o) {
    const int64_t rel = o - a.pad_begin;
    int64_t m;
    if (mode == PadMode::kEdge || a.count == 1) {
      m = std::clamp<int64_t>(rel, 0, a.count - 1);
    } else {
      m = rel % period;
      if (m < 0) m += period;
      if (m >= a.count) m = period - m;
    }
    map[o] = a.crop_begin + m;
  }
  return map;
}

template <typename U>
void PadByIndexMaps(const U* src, U* dst, const Shape& in_shape, const std::vector<AxisPad>& axes, PadMode mode,
                    int threads) {
  const int rank = static_cast<int>(axes.size());
  std::vector<std::vector<int64_t>> maps(rank);
  for (int d = 0; d < rank; ++d) maps[d] = SourceIndexMap(axes[d], mode);
  const std::vector<int64_t> in_strides = ContiguousStrides(in_shape);
  const AxisPad& last = axes[rank - 1];
  const std::vector<int64_t>& last_map = maps[rank - 1];
  const int64_t len = last.out_dim;
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= axes[d].out_dim;
  ParallelFor(threads, rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, len)),
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r) {
                  int64_t src_off = 0, rem = r;
                  for (int d = rank - 2; d >= 0; --d) {
                    src_off += maps[d][rem % axes[d].out_dim] * in_strides[d];
                    rem /= axes[d].out_dim;
                  }
                  const U* s = src + src_off;
                  U* o = dst + r * len;
                  for (int64_t j = 0; j < last.pad_begin; ++j) o[j] = s[last_map[j]];
                  std::memcpy(o + last.pad_begin, s + last.crop_begin, static_cast<size_t>(last.count) * sizeof(U));
                  for (int64_t j = last.pad_begin + last.count; j < len; ++j) o[j] = s[last_map[j]];
                }
              });
}

class PadKernel : public OpKernel {
 public:
  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    auto k = std::make_unique<PadKernel>();
    const std::string mode = init.attrs.GetString("mode", "constant");
    if (mode == "constant") {
      k->mode_ = PadMode::kConstant;
    } else if (mode == "reflect") {
      k->mode_ = PadMode::kReflect;
    } else if (mode == "edge") {
      k->mode_ = PadMode::kEdge;
    } else if (mode == "wrap") {
      return absl::UnimplementedError("Pad: mode 'wrap' (opset 19) is not supported");
    } else {
      return absl::InvalidArgumentError(absl::StrCat("Pad: unknown mode '", mode, "'"));
    }
    k->from_inputs_ = init.opset >= 11;
    if (!k->from_inputs_) {
      if (!init.attrs.Has("pads")) return absl::InvalidArgumentError("Pad: attribute 'pads' is required before opset 11");
      k->attr_pads_ = init.attrs.GetInts("pads");
      k->attr_value_ = init.attrs.GetFloat("value", 0.0f);
    }
    return std::unique_ptr<OpKernel>(std::move(k));
  }

  absl::Status Compute(KernelContext& ctx) const override {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Pad", ctx, 0, "data"));
    const int rank = data->rank();
    const size_t elem = DataTypeSize(data->dtype());
    std::vector<int64_t> pads = attr_pads_;
    uint64_t value_bits = 0;  // the constant, as elem bytes of the data type
    const absl::Status cast = DispatchType<float, double, int32_t, int64_t, int8_t, uint8_t, bool>(
        data->dtype(), [&](auto tag) {
          using T = decltype(tag);
          const T v = static_cast<T>(attr_value_);
          std::memcpy(&value_bits, &v, sizeof(T));
          return absl::OkStatus();
        });
    TESSERA_RETURN_IF_ERROR(cast);
    std::vector<int64_t> axes(rank);
    for (int d = 0; d < rank; ++d) axes[d] = d;
    if (from_inputs_) {
      TESSERA_ASSIGN_OR_RETURN(const Tensor* pads_t, RequiredInput("Pad", ctx, 1, "pads"));
      TESSERA_ASSIGN_OR_RETURN(pads, ReadInt64Vector("Pad", "pads", *pads_t));
      if (const Tensor* c = ctx.input(2); c != nullptr && c->num_elements() > 0) {
        if (c->dtype() != data->dtype() || c->num_elements() != 1) {
          return absl::InvalidArgumentError(absl::StrCat("Pad: constant_value must be a ", DataTypeName(data->dtype()),
                                                         " scalar, got ", c->DebugString()));
        }
        value_bits = 0;
        std::memcpy(&value_bits, c->raw_data(), elem);
      }
      if (const Tensor* a = ctx.input(3); a != nullptr) {
        TESSERA_ASSIGN_OR_RETURN(std::vector<int64_t> raw_axes, ReadInt64Vector("Pad", "axes", *a));
        axes.clear();
        std::vector<bool> seen(rank, false);
        for (int64_t axis : raw_axes) {
          TESSERA_ASSIGN_OR_RETURN(int n, NormalizeAxis("Pad", axis, rank));
          if (seen[n]) return absl::InvalidArgumentError(absl::StrCat("Pad: axis ", axis, " is repeated"));
          seen[n] = true;
          axes.push_back(n);
        }
      }
    }
    const size_t n_axes = axes.size();
    if (pads.size() != 2 * n_axes) {
      return absl::InvalidArgumentError(absl::StrCat("Pad: pads has ", pads.size(), " entries, expected ",
                                                     2 * n_axes, " for input shape ", ShapeToString(data->shape())));
    }
    std::vector<AxisPad> plan(rank);
    for (int d = 0; d < rank; ++d) plan[d] = {0, data->dim(d), 0, data->dim(d)};
    bool any_padding = false, any_empty = false;
    for (size_t i = 0; i < n_axes; ++i) {
      const int d = static_cast<int>(axes[i]);
      const int64_t begin = pads[i], end = pads[i + n_axes], dim = data->dim(d);
      AxisPad& a = plan[d];
      a.crop_begin = std::max<int64_t>(0, -begin);
      a.count = dim - a.crop_begin - std::max<int64_t>(0, -end);
      a.pad_begin = std::max<int64_t>(0, begin);
      a.out_dim = a.count + a.pad_begin + std::max<int64_t>(0, end);
      if (a.count < 0) {
        return absl::InvalidArgumentError(absl::StrCat("Pad: pads ", ShapeToString(pads), " crop more than axis ", d,
                                                       " of shape ", ShapeToString(data->shape()), " holds"));
      }
      any_padding |= a.out_dim > a.count;
    }
    Shape out_shape(rank), counts(rank);
    for (int d = 0; d < rank; ++d) {
      out_shape[d] = plan[d].out_dim;
      counts[d] = plan[d].count;
      any_empty |= plan[d].count == 0;
    }
    TESSERA_RETURN_IF_ERROR(ValidateOutputShape("Pad", out_shape, data->dtype()));
    Tensor* out = ctx.AllocateOutput(0, data->dtype(), out_shape);
    if (out->num_elements() == 0) return absl::OkStatus();

    if (mode_ == PadMode::kConstant || !any_padding) {
      if (any_padding || any_empty) {
        FillElements(elem, out->raw_data(), out->num_elements(), &value_bits, ctx.num_threads());
      }
      if (any_empty) return absl::OkStatus();
      const std::vector<int64_t> in_strides = ContiguousStrides(data->shape());
      const std::vector<int64_t> out_strides = ContiguousStrides(out_shape);
      int64_t src_off = 0, dst_off = 0;
      for (int d = 0; d < rank; ++d) {
        src_off += plan[d].crop_begin * in_strides[d];
        dst_off += plan[d].pad_begin * out_strides[d];
      }
      CopyStrided(elem, counts, in_strides, static_cast<const char*>(data->raw_data()) + src_off * elem,
                  out_strides, static_cast<char*>(out->raw_data()) + dst_off * elem, ctx.num_threads());
      return absl::OkStatus();
    }
    if (any_empty) {
      return absl::InvalidArgumentError(absl::StrCat("Pad: cannot pad an empty axis of shape ",
                                                     ShapeToString(data->shape()), " in ",
                                                     mode_ == PadMode::kReflect ? "reflect" : "edge", " mode"));
    }
    DispatchElementSize(elem, [&](auto tag) {
      using U = decltype(tag);
      PadByIndexMaps<U>(data->data<U>(), out->data<U>(), data->shape(), plan, mode_, ctx.num_threads());
    });
    return absl::OkStatus();
  }

 private:
  PadMode mode_ = PadMode::kConstant;
  bool from_inputs_ = true;
  std::vector<int64_t> attr_pads_;
  float attr_value_ = 0.0f;
};

}  // namespace

void RegisterPadKernels(KernelRegistry& registry) { RegisterOp(registry, "Pad", FactoryOf<PadKernel>()); }

}  // namespace tessera::engine::tensor_ops
