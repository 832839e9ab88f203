// Kernels whose output 0 is a view of input 0 (no data copy): Reshape,
// Flatten, Squeeze, Unsqueeze, Identity and (inference) Dropout.
#include <algorithm>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/tensor_ops_common.h"

namespace tessera::engine::tensor_ops {
namespace {

// ---- Reshape -------------------------------------------------------------

// The output shape of Reshape: 0 copies the input dimension (unless
// allowzero), one -1 is inferred.
absl::StatusOr<Shape> ReshapeTarget(const Shape& in, const std::vector<int64_t>& requested, bool allow_zero) {
  Shape out(requested.size());
  int infer_at = -1;
  bool has_zero = false;
  int64_t known = 1;
  for (size_t i = 0; i < requested.size(); ++i) {
    int64_t d = requested[i];
    if (d == -1) {
      if (infer_at >= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("Reshape: shape ", ShapeToString(requested), " has more than one -1"));
      }
      infer_at = static_cast<int>(i);
      continue;
    }
    if (d < -1) {
      return absl::InvalidArgumentError(
          absl::StrCat("Reshape: shape ", ShapeToString(requested), " has invalid dimension ", d));
    }
    if (d == 0) {
      has_zero = true;
      if (!allow_zero) {
        if (i >= in.size()) {
          return absl::InvalidArgumentError(absl::StrCat("Reshape: shape ", ShapeToString(requested),
                                                         " copies dimension ", i, " (0) but the input ",
                                                         ShapeToString(in), " has rank ", in.size()));
        }
        d = in[i];
      }
    }
    out[i] = d;
    known *= d;
  }
  if (allow_zero && has_zero && infer_at >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Reshape: shape ", ShapeToString(requested), " has both 0 and -1 with allowzero=1"));
  }
  const int64_t total = NumElements(in);
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0) {
      return absl::InvalidArgumentError(absl::StrCat("Reshape: cannot reshape ", ShapeToString(in), " (", total,
                                                     " elements) to ", ShapeToString(requested)));
    }
    out[infer_at] = total / known;
  } else if (known != total) {
    return absl::InvalidArgumentError(absl::StrCat("Reshape: cannot reshape ", ShapeToString(in), " (", total,
                                                   " elements) to ", ShapeToString(requested), " (", known,
                                                   " elements)"));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<OpKernel>> CreateReshape(const KernelInit& init) {
  const bool allow_zero = init.opset >= 14 && init.attrs.GetInt("allowzero", 0) != 0;
  return MakeKernel([allow_zero](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Reshape", ctx, 0, "data"));
    TESSERA_ASSIGN_OR_RETURN(const Tensor* shape_t, RequiredInput("Reshape", ctx, 1, "shape"));
    TESSERA_ASSIGN_OR_RETURN(std::vector<int64_t> requested, ReadInt64Vector("Reshape", "shape", *shape_t));
    TESSERA_ASSIGN_OR_RETURN(Shape out, ReshapeTarget(data->shape(), requested, allow_zero));
    ctx.SetOutput(0, data->Reshaped(std::move(out)));
    return absl::OkStatus();
  });
}

// ---- Flatten -------------------------------------------------------------

absl::StatusOr<std::unique_ptr<OpKernel>> CreateFlatten(const KernelInit& init) {
  const int64_t axis = init.attrs.GetInt("axis", 1);
  return MakeKernel([axis](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Flatten", ctx, 0, "input"));
    TESSERA_ASSIGN_OR_RETURN(int a, NormalizeAxis("Flatten", axis, data->rank(), /*allow_rank=*/true));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < data->rank(); ++i) (i < a ? outer : inner) *= data->dim(i);
    ctx.SetOutput(0, data->Reshaped({outer, inner}));
    return absl::OkStatus();
  });
}

// ---- Squeeze / Unsqueeze ---------------------------------------------------

// Axes from the attribute (opset < 13) or from input 1 (opset >= 13).
// `present` is false when neither gives any.
absl::StatusOr<std::vector<int64_t>> ReadAxes(absl::string_view op, const KernelContext& ctx, bool from_input,
                                              const std::vector<int64_t>& attr_axes, bool* present) {
  if (!from_input) {
    *present = !attr_axes.empty();
    return attr_axes;
  }
  const Tensor* t = ctx.input(1);
  *present = t != nullptr;
  if (t == nullptr) return std::vector<int64_t>{};
  return ReadInt64Vector(op, "axes", *t);
}

absl::StatusOr<std::unique_ptr<OpKernel>> CreateSqueeze(const KernelInit& init) {
  const bool from_input = init.opset >= 13;
  std::vector<int64_t> attr_axes = init.attrs.GetInts("axes");
  return MakeKernel([from_input, attr_axes](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Squeeze", ctx, 0, "data"));
    bool present = false;
    TESSERA_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadAxes("Squeeze", ctx, from_input, attr_axes, &present));
    const int rank = data->rank();
    std::vector<bool> drop(rank, false);
    if (!present) {
      for (int i = 0; i < rank; ++i) drop[i] = data->dim(i) == 1;
    } else {
      for (int64_t axis : axes) {
        TESSERA_ASSIGN_OR_RETURN(int a, NormalizeAxis("Squeeze", axis, rank));
        if (drop[a]) return absl::InvalidArgumentError(absl::StrCat("Squeeze: axis ", axis, " is repeated"));
        if (data->dim(a) != 1) {
          return absl::InvalidArgumentError(absl::StrCat("Squeeze: cannot squeeze axis ", axis, " of shape ",
                                                         ShapeToString(data->shape()), ": its size is not 1"));
        }
        drop[a] = true;
      }
    }
    Shape out;
    for (int i = 0; i < rank; ++i) {
      if (!drop[i]) out.push_back(data->dim(i));
    }
    ctx.SetOutput(0, data->Reshaped(std::move(out)));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::unique_ptr<OpKernel>> CreateUnsqueeze(const KernelInit& init) {
  const bool from_input = init.opset >= 13;
  std::vector<int64_t> attr_axes = init.attrs.GetInts("axes");
  if (!from_input && attr_axes.empty()) {
    return absl::InvalidArgumentError("Unsqueeze: attribute 'axes' is required before opset 13");
  }
  return MakeKernel([from_input, attr_axes](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Unsqueeze", ctx, 0, "data"));
    bool present = false;
    TESSERA_ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                             ReadAxes("Unsqueeze", ctx, from_input, attr_axes, &present));
    if (!present) return absl::InvalidArgumentError("Unsqueeze: required input 1 (axes) is missing");
    const int64_t out_rank = data->rank() + static_cast<int64_t>(axes.size());
    std::vector<bool> inserted(out_rank, false);
    for (int64_t axis : axes) {
      TESSERA_ASSIGN_OR_RETURN(int a, NormalizeAxis("Unsqueeze", axis, out_rank));
      if (inserted[a]) return absl::InvalidArgumentError(absl::StrCat("Unsqueeze: axis ", axis, " is repeated"));
      inserted[a] = true;
    }
    Shape out(out_rank);
    int next = 0;
    for (int64_t i = 0; i < out_rank; ++i) out[i] = inserted[i] ? 1 : data->dim(next++);
    ctx.SetOutput(0, data->Reshaped(std::move(out)));
    return absl::OkStatus();
  });
}

// ---- Identity --------------------------------------------------------------

absl::StatusOr<std::unique_ptr<OpKernel>> CreateIdentity(const KernelInit&) {
  return MakeKernel([](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Identity", ctx, 0, "input"));
    ctx.SetOutput(0, *data);
    return absl::OkStatus();
  });
}

// ---- Dropout ---------------------------------------------------------------

// Fills the mask output (if requested) with "kept" (true / 1).
absl::Status WriteKeepAllMask(KernelContext& ctx, const Tensor& data, DataType mask_type) {
  if (ctx.num_outputs() < 2 || !ctx.output_requested(1)) return absl::OkStatus();
  Tensor* mask = ctx.AllocateOutput(1, mask_type, data.shape());
  return DispatchType<float, double, int32_t, int64_t, int8_t, uint8_t, bool>(mask_type, [&](auto tag) {
    using T = decltype(tag);
    std::fill(mask->data<T>(), mask->data<T>() + mask->num_elements(), static_cast<T>(1));
    return absl::OkStatus();
  });
}

// Training-mode dropout: output = data * mask / (1 - ratio), mask ~ Bernoulli(1 - ratio).
absl::Status RandomDropout(KernelContext& ctx, const Tensor& data, double ratio, uint64_t seed) {
  Tensor* out = ctx.AllocateOutput(0, data.dtype(), data.shape());
  Tensor* mask = nullptr;
  if (ctx.num_outputs() >= 2 && ctx.output_requested(1)) {
    mask = ctx.AllocateOutput(1, DataType::kBool, data.shape());
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double scale = 1.0 / (1.0 - ratio);
  return DispatchType<float, double>(data.dtype(), [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    const T* x = data.data<T>();
    T* y = out->data<T>();
    for (int64_t i = 0; i < data.num_elements(); ++i) {
      const bool keep = uniform(rng) >= ratio;
      y[i] = keep ? static_cast<T>(x[i] * scale) : T(0);
      if (mask != nullptr) mask->data<bool>()[i] = keep;
    }
    return absl::OkStatus();
  });
}

class DropoutKernel : public OpKernel {
 public:
  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    auto k = std::make_unique<DropoutKernel>();
    k->opset_ = init.opset;
    k->has_seed_ = init.attrs.Has("seed");
    k->seed_ = static_cast<uint64_t>(init.attrs.GetInt("seed", 0));
    return std::unique_ptr<OpKernel>(std::move(k));
  }

  absl::Status Compute(KernelContext& ctx) const override {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Dropout", ctx, 0, "data"));
    if (opset_ < 12) {
      // Opsets 7..11 have no training mode (the `ratio` attribute only
      // matters in training): the output is the input. The mask has the data
      // type before opset 10 and bool from 10.
      ctx.SetOutput(0, *data);
      return WriteKeepAllMask(ctx, *data, opset_ < 10 ? data->dtype() : DataType::kBool);
    }
    bool training = false;
    if (const Tensor* t = ctx.input(2); t != nullptr) {
      if (t->dtype() != DataType::kBool || t->num_elements() != 1) {
        return absl::InvalidArgumentError(absl::StrCat("Dropout: training_mode must be a bool scalar, got ",
                                                       t->DebugString()));
      }
      training = t->data<bool>()[0];
    }
    double ratio = 0.5;
    if (const Tensor* t = ctx.input(1); t != nullptr) {
      TESSERA_ASSIGN_OR_RETURN(ratio, ReadFloatScalar("Dropout", "ratio", *t));
    }
    if (!training || ratio == 0.0) {
      ctx.SetOutput(0, *data);
      return WriteKeepAllMask(ctx, *data, DataType::kBool);
    }
    if (!(ratio > 0.0 && ratio < 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat("Dropout: ratio ", ratio, " must be in [0, 1)"));
    }
    if (data->dtype() != DataType::kFloat32 && data->dtype() != DataType::kFloat64) {
      return absl::InvalidArgumentError(absl::StrCat("Dropout: training mode needs float32 or float64 data, got ",
                                                     DataTypeName(data->dtype())));
    }
    const uint64_t seed = has_seed_ ? seed_ : std::random_device{}();
    return RandomDropout(ctx, *data, ratio, seed);
  }

 private:
  int opset_ = 0;
  bool has_seed_ = false;
  uint64_t seed_ = 0;
};

}  // namespace

void RegisterShapeViewKernels(KernelRegistry& registry) {
  RegisterOp(registry, "Reshape", CreateReshape, /*output_aliases_input=*/true);
  RegisterOp(registry, "Flatten", CreateFlatten, true);
  RegisterOp(registry, "Squeeze", CreateSqueeze, true);
  RegisterOp(registry, "Unsqueeze", CreateUnsqueeze, true);
  RegisterOp(registry, "Identity", CreateIdentity, true);
  RegisterOp(registry, "Dropout", FactoryOf<DropoutKernel>(), true);
}

}  // namespace tessera::engine::tensor_ops
