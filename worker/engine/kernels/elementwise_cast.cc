// Cast and CastLike among float32, float64, int32, int64, int8, uint8, bool.
//
// Conversions: float -> integer truncates toward zero (NaN -> 0, values
// outside int32/int64 saturate first; 8-bit targets then wrap like NumPy);
// integer -> integer wraps; anything -> bool is `!= 0`; bool -> number is
// 0 or 1. Other ONNX types (FLOAT16, STRING, ...) are Unimplemented.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/elementwise_common.h"

namespace tessera::engine::elementwise {
namespace {

using KernelOr = absl::StatusOr<std::unique_ptr<OpKernel>>;

// Truncates a floating-point value to I (int32 or int64), saturating.
template <typename I, typename F>
I TruncateSaturating(F v) {
  constexpr F kLow = static_cast<F>(std::numeric_limits<I>::lowest());
  constexpr F kHigh = static_cast<F>(std::numeric_limits<I>::max());  // rounds up to 2^(bits-1)
  if (!(v == v)) return 0;
  if (v < kLow) return std::numeric_limits<I>::lowest();
  if (v >= kHigh) return std::numeric_limits<I>::max();
  return static_cast<I>(v);
}

template <typename From, typename To>
To Convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_same_v<From, bool>) {
    return static_cast<To>(v ? 1 : 0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if constexpr (std::is_same_v<To, int64_t>) {
      return TruncateSaturating<int64_t>(v);
    } else {
      return static_cast<To>(TruncateSaturating<int32_t>(v));
    }
  } else {
    return static_cast<To>(v);
  }
}

absl::Status CastTensor(const char* op, const Tensor& in, DataType to, KernelContext& ctx) {
  return DispatchOr<TESSERA_EW_ALL_TYPES>(op, in.dtype(), [&](auto from_tag) -> absl::Status {
    using From = decltype(from_tag);
    return DispatchOr<TESSERA_EW_ALL_TYPES>(op, to, [&](auto to_tag) -> absl::Status {
      using To = decltype(to_tag);
      Tensor* out = ctx.AllocateOutput(0, to, in.shape());
      if constexpr (std::is_same_v<From, To>) {
        if (in.num_elements() > 0) std::memcpy(out->raw_data(), in.raw_data(), in.byte_size());
      } else {
        RunUnary(in.data<From>(), out->data<To>(), in.num_elements(), [](From v) { return Convert<From, To>(v); },
                 ctx.num_threads());
      }
      return absl::OkStatus();
    });
  });
}

KernelOr MakeCast(const KernelInit& init) {
  if (!init.attrs.Has("to")) return absl::InvalidArgumentError("Cast: missing required attribute 'to'");
  const int64_t to_onnx = init.attrs.GetInt("to", 0);
  if (to_onnx < std::numeric_limits<int32_t>::min() || to_onnx > std::numeric_limits<int32_t>::max() ||
      !IsSupportedDataType(static_cast<int32_t>(to_onnx))) {
    return absl::UnimplementedError(absl::StrCat(
        "Cast: target type ", OnnxTypeName(static_cast<int32_t>(to_onnx)), " (", to_onnx, ") is not supported"));
  }
  const auto to = static_cast<DataType>(to_onnx);
  return std::make_unique<FunctionKernel>([to](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput("Cast", ctx, 0));
    return CastTensor("Cast", *x, to, ctx);
  });
}

absl::Status ComputeCastLike(KernelContext& ctx) {
  TESSERA_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput("CastLike", ctx, 0));
  TESSERA_ASSIGN_OR_RETURN(const Tensor* like, RequiredInput("CastLike", ctx, 1));
  return CastTensor("CastLike", *x, like->dtype(), ctx);
}

}  // namespace

void RegisterCastKernels(KernelRegistry& registry) {
  registry.Register("Cast", MakeCast);
  registry.Register("CastLike",
                    [](const KernelInit&) -> KernelOr { return std::make_unique<FunctionKernel>(ComputeCastLike); });
}

}  // namespace tessera::engine::elementwise
