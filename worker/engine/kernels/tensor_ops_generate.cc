// Kernels that describe shapes or generate tensors: Shape, Size, Constant,
// ConstantOfShape, Range.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/tensor_ops_common.h"
#include "worker/engine/kernels/tensor_ops_copy.h"

namespace tessera::engine::tensor_ops {
namespace {

// ---- Shape / Size ----------------------------------------------------------

absl::StatusOr<std::unique_ptr<OpKernel>> CreateShape(const KernelInit& init) {
  const bool sliced = init.opset >= 15;
  const int64_t start_attr = sliced ? init.attrs.GetInt("start", 0) : 0;
  const bool has_end = sliced && init.attrs.Has("end");
  const int64_t end_attr = has_end ? init.attrs.GetInt("end", 0) : 0;
  return MakeKernel([=](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Shape", ctx, 0, "data"));
    const int64_t rank = data->rank();
    auto clamp = [rank](int64_t v) {
      if (v < 0) v += rank;
      return std::clamp<int64_t>(v, 0, rank);
    };
    const int64_t start = clamp(start_attr);
    const int64_t end = has_end ? clamp(end_attr) : rank;
    const int64_t n = std::max<int64_t>(0, end - start);
    Tensor* out = ctx.AllocateOutput(0, DataType::kInt64, {n});
    for (int64_t i = 0; i < n; ++i) out->data<int64_t>()[i] = data->dim(static_cast<int>(start + i));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::unique_ptr<OpKernel>> CreateSize(const KernelInit&) {
  return MakeKernel([](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Size", ctx, 0, "data"));
    Tensor* out = ctx.AllocateOutput(0, DataType::kInt64, {});
    out->data<int64_t>()[0] = data->num_elements();
    return absl::OkStatus();
  });
}

// ---- Constant --------------------------------------------------------------

// The value a Constant node holds, from whichever value attribute it has.
absl::StatusOr<Tensor> ConstantValue(const KernelInit& init) {
  static constexpr const char* kUnsupported[] = {"sparse_value", "value_string", "value_strings"};
  static constexpr const char* kAll[] = {"value",     "sparse_value", "value_float",   "value_floats",
                                         "value_int", "value_ints",   "value_string", "value_strings"};
  int count = 0;
  for (const char* name : kAll) count += init.attrs.Has(name) ? 1 : 0;
  if (count != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Constant: exactly one value attribute must be set, found ", count));
  }
  for (const char* name : kUnsupported) {
    if (init.attrs.Has(name)) {
      return absl::UnimplementedError(absl::StrCat("Constant: attribute '", name, "' is not supported"));
    }
  }
  if (init.attrs.Has("value")) {
    auto t = init.attrs.GetTensor("value");
    if (!t.ok()) return absl::Status(t.status().code(), absl::StrCat("Constant: ", t.status().message()));
    return *t;
  }
  if (init.attrs.Has("value_float")) return Tensor::Scalar<float>(init.attrs.GetFloat("value_float", 0));
  if (init.attrs.Has("value_int")) return Tensor::Scalar<int64_t>(init.attrs.GetInt("value_int", 0));
  if (init.attrs.Has("value_floats")) {
    std::vector<float> v = init.attrs.GetFloats("value_floats");
    return Tensor::FromVector<float>({static_cast<int64_t>(v.size())}, v);
  }
  std::vector<int64_t> v = init.attrs.GetInts("value_ints");
  return Tensor::FromVector<int64_t>({static_cast<int64_t>(v.size())}, v);
}

class ConstantKernel : public OpKernel {
 public:
  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    TESSERA_ASSIGN_OR_RETURN(Tensor value, ConstantValue(init));
    return std::unique_ptr<OpKernel>(std::make_unique<ConstantKernel>(std::move(value)));
  }
  explicit ConstantKernel(Tensor value) : value_(std::move(value)) {}

  // Copies the value so that consumers may own (and overwrite) the output.
  absl::Status Compute(KernelContext& ctx) const override {
    Tensor* out = ctx.AllocateOutput(0, value_.dtype(), value_.shape());
    if (value_.byte_size() > 0) std::memcpy(out->raw_data(), value_.raw_data(), value_.byte_size());
    return absl::OkStatus();
  }

 private:
  Tensor value_;
};

// ---- ConstantOfShape -------------------------------------------------------

absl::StatusOr<std::unique_ptr<OpKernel>> CreateConstantOfShape(const KernelInit& init) {
  Tensor value = Tensor::Zeros(DataType::kFloat32, {1});
  if (init.attrs.Has("value")) {
    auto t = init.attrs.GetTensor("value");
    if (!t.ok()) return absl::Status(t.status().code(), absl::StrCat("ConstantOfShape: ", t.status().message()));
    if (t->num_elements() != 1) {
      return absl::InvalidArgumentError(absl::StrCat("ConstantOfShape: attribute 'value' must hold one element, got ",
                                                     ShapeToString(t->shape())));
    }
    value = *t;
  }
  return MakeKernel([value](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* shape_t, RequiredInput("ConstantOfShape", ctx, 0, "input"));
    TESSERA_ASSIGN_OR_RETURN(Shape shape, ReadInt64Vector("ConstantOfShape", "input", *shape_t));
    TESSERA_RETURN_IF_ERROR(ValidateOutputShape("ConstantOfShape", shape, value.dtype()));
    Tensor* out = ctx.AllocateOutput(0, value.dtype(), shape);
    FillElements(DataTypeSize(value.dtype()), out->raw_data(), out->num_elements(), value.raw_data(),
                 ctx.num_threads());
    return absl::OkStatus();
  });
}

// ---- Range -----------------------------------------------------------------

template <typename T>
absl::StatusOr<int64_t> RangeLength(T start, T limit, T delta) {
  if (delta == T(0)) return absl::InvalidArgumentError("Range: delta must not be zero");
  if constexpr (std::is_floating_point_v<T>) {
    const double n = std::ceil((static_cast<double>(limit) - start) / delta);
    if (!(n < 9.2e18)) return absl::InvalidArgumentError("Range: too many elements");
    return n > 0 ? static_cast<int64_t>(n) : 0;
  } else {
    // Exact integer ceil((limit - start) / delta) without overflow.
    const __int128 span = static_cast<__int128>(limit) - start;
    const __int128 d = delta;
    __int128 n = span / d;
    if (span % d != 0 && ((span > 0) == (d > 0))) ++n;
    return n > 0 ? static_cast<int64_t>(n) : 0;
  }
}

absl::StatusOr<std::unique_ptr<OpKernel>> CreateRange(const KernelInit&) {
  return MakeKernel([](KernelContext& ctx) -> absl::Status {
    const Tensor* in[3];
    static constexpr const char* kNames[] = {"start", "limit", "delta"};
    for (int i = 0; i < 3; ++i) {
      TESSERA_ASSIGN_OR_RETURN(in[i], RequiredInput("Range", ctx, i, kNames[i]));
      if (in[i]->num_elements() != 1 || in[i]->rank() > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("Range: ", kNames[i], " must be a scalar, got shape ", ShapeToString(in[i]->shape())));
      }
      if (in[i]->dtype() != in[0]->dtype()) {
        return absl::InvalidArgumentError(absl::StrCat("Range: ", kNames[i], " is ", DataTypeName(in[i]->dtype()),
                                                       " but start is ", DataTypeName(in[0]->dtype())));
      }
    }
    const DataType type = in[0]->dtype();
    if (type != DataType::kFloat32 && type != DataType::kFloat64 && type != DataType::kInt32 &&
        type != DataType::kInt64) {
      return absl::InvalidArgumentError(absl::StrCat("Range: element type ", DataTypeName(type),
                                                     " is not supported (float32, float64, int32, int64)"));
    }
    return DispatchType<float, double, int32_t, int64_t>(type, [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      const T start = in[0]->data<T>()[0], limit = in[1]->data<T>()[0], delta = in[2]->data<T>()[0];
      TESSERA_ASSIGN_OR_RETURN(int64_t n, RangeLength<T>(start, limit, delta));
      TESSERA_RETURN_IF_ERROR(ValidateOutputShape("Range", {n}, type));
      Tensor* out = ctx.AllocateOutput(0, type, {n});
      T* y = out->data<T>();
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(start + static_cast<T>(i) * delta);
      return absl::OkStatus();
    });
  });
}

}  // namespace

void RegisterShapeQueryKernels(KernelRegistry& registry) {
  RegisterOp(registry, "Shape", CreateShape);
  RegisterOp(registry, "Size", CreateSize);
  RegisterOp(registry, "Constant", FactoryOf<ConstantKernel>());
  RegisterOp(registry, "ConstantOfShape", CreateConstantOfShape);
  RegisterOp(registry, "Range", CreateRange);
}

}  // namespace tessera::engine::tensor_ops
