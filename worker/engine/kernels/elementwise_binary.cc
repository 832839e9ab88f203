// Binary operators with multidirectional broadcasting: arithmetic, Pow,
// Mod, logic, comparisons, and PRelu (unidirectional).
//
// Integer semantics (ONNX leaves them to the implementation; these follow
// ONNX Runtime where it defines them and never trap): division truncates
// toward zero, x / 0 == 0 and x % 0 == 0, overflow wraps.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/elementwise_common.h"

namespace tessera::engine::elementwise {
namespace {

using KernelOr = absl::StatusOr<std::unique_ptr<OpKernel>>;

template <typename T>
using Unsigned = std::make_unsigned_t<T>;

struct AddOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return a + b;
    } else {
      return static_cast<T>(static_cast<Unsigned<T>>(a) + static_cast<Unsigned<T>>(b));
    }
  }
};
struct SubOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return a - b;
    } else {
      return static_cast<T>(static_cast<Unsigned<T>>(a) - static_cast<Unsigned<T>>(b));
    }
  }
};
struct MulOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return a * b;
    } else if constexpr (sizeof(T) < sizeof(int)) {
      return static_cast<T>(static_cast<int>(a) * static_cast<int>(b));
    } else {
      return static_cast<T>(static_cast<Unsigned<T>>(a) * static_cast<Unsigned<T>>(b));
    }
  }
};
struct DivOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return a / b;
    } else {
      if (b == T(0)) return T(0);
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return static_cast<T>(0 - static_cast<Unsigned<T>>(a));
      }
      return static_cast<T>(a / b);
    }
  }
};
// Mod with fmod=1: the sign of the result follows the dividend (C fmod / %).
struct FmodOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return std::fmod(a, b);
    } else {
      if (b == T(0)) return T(0);
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return T(0);
      }
      return static_cast<T>(a % b);
    }
  }
};
// Mod with fmod=0 on integers: the sign of the result follows the divisor.
struct IntModOp {
  template <typename T>
  T operator()(T a, T b) const {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return T(0);
      T r = static_cast<T>(a % b);
      if (r != T(0) && ((r < T(0)) != (b < T(0)))) r = static_cast<T>(r + b);
      return r;
    } else {
      return static_cast<T>(a % b);
    }
  }
};
struct AndOp {
  bool operator()(bool a, bool b) const { return a && b; }
};
struct OrOp {
  bool operator()(bool a, bool b) const { return a || b; }
};
struct XorOp {
  bool operator()(bool a, bool b) const { return a != b; }
};
struct EqualOp {
  template <typename T>
  bool operator()(T a, T b) const { return a == b; }
};
struct GreaterOp {
  template <typename T>
  bool operator()(T a, T b) const { return a > b; }
};
struct GreaterOrEqualOp {
  template <typename T>
  bool operator()(T a, T b) const { return a >= b; }
};
struct LessOp {
  template <typename T>
  bool operator()(T a, T b) const { return a < b; }
};
struct LessOrEqualOp {
  template <typename T>
  bool operator()(T a, T b) const { return a <= b; }
};
struct PReluOp {
  template <typename T>
  T operator()(T x, T slope) const { return x < T(0) ? static_cast<T>(slope * x) : x; }
};

// Converts a double result to an integer type without undefined behaviour:
// NaN becomes 0, out-of-range values saturate.
template <typename T>
T SaturatingFromDouble(double v) {
  if (std::isnan(v)) return T(0);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// Integer power by squaring (wrapping); negative exponents give the
// truncated real result (0 unless |base| == 1).
template <typename T, typename E>
T IntPow(T base, E exponent) {
  if constexpr (std::is_signed_v<E>) {
    if (exponent < E(0)) {
      if (base == T(1)) return T(1);
      if (base == T(-1)) return (exponent % 2 == 0) ? T(1) : T(-1);
      return T(0);
    }
  }
  using U = Unsigned<T>;
  U result = 1, b = static_cast<U>(base);
  auto e = static_cast<std::make_unsigned_t<E>>(exponent);
  while (e != 0) {
    if (e & 1u) result = static_cast<U>(result * b);
    b = static_cast<U>(b * b);
    e >>= 1;
  }
  return static_cast<T>(result);
}

// Pow with base type TB and exponent type TE; the result has the base type.
struct PowOp {
  template <typename TB, typename TE>
  TB operator()(TB base, TE exponent) const {
    if constexpr (std::is_floating_point_v<TB> && std::is_same_v<TB, TE>) {
      return std::pow(base, exponent);
    } else if constexpr (std::is_floating_point_v<TB>) {
      return static_cast<TB>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
    } else if constexpr (std::is_floating_point_v<TE>) {
      return SaturatingFromDouble<TB>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
    } else {
      return IntPow(base, exponent);
    }
  }
};

struct Operands {
  const Tensor* a;
  const Tensor* b;
};

absl::StatusOr<Operands> GetOperands(absl::string_view op, const KernelContext& ctx, bool same_type) {
  TESSERA_ASSIGN_OR_RETURN(const Tensor* a, RequiredInput(op, ctx, 0));
  TESSERA_ASSIGN_OR_RETURN(const Tensor* b, RequiredInput(op, ctx, 1));
  if (same_type) TESSERA_RETURN_IF_ERROR(CheckSameType(op, *a, *b, 1));
  return Operands{a, b};
}

// A kernel computing out = op(a, b) with broadcasting, for a, b of the same
// type T in Ts; the output is bool when kBoolResult, else T.
template <bool kBoolResult, typename... Ts, typename Op>
KernelOr MakeBinary(std::string name, Op op) {
  return std::make_unique<FunctionKernel>([name = std::move(name), op](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(Operands in, GetOperands(name, ctx, /*same_type=*/true));
    return DispatchOr<Ts...>(name, in.a->dtype(), [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      using R = std::conditional_t<kBoolResult, bool, T>;
      TESSERA_ASSIGN_OR_RETURN(BroadcastPlan plan, BroadcastPlan::Make(name, {in.a->shape(), in.b->shape()}));
      Tensor* out = ctx.AllocateOutput(0, DataTypeOf<R>::value, plan.out_shape());
      RunBinary(plan, in.a->template data<T>(), in.b->template data<T>(), out->template data<R>(), op,
                ctx.num_threads());
      return absl::OkStatus();
    });
  });
}

template <typename Op, bool kBoolResult, typename... Ts>
void RegisterBinary(KernelRegistry& registry, const char* name) {
  registry.Register(name, [name](const KernelInit&) { return MakeBinary<kBoolResult, Ts...>(name, Op{}); });
}

KernelOr MakeMod(const KernelInit& init) {
  const int64_t fmod = init.attrs.GetInt("fmod", 0);
  if (fmod != 0 && fmod != 1) {
    return absl::InvalidArgumentError(absl::StrCat("Mod: attribute fmod must be 0 or 1, got ", fmod));
  }
  return std::make_unique<FunctionKernel>([fmod](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(Operands in, GetOperands("Mod", ctx, /*same_type=*/true));
    return DispatchOr<TESSERA_EW_NUMERIC_TYPES>("Mod", in.a->dtype(), [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      if (std::is_floating_point_v<T> && fmod == 0) {
        return absl::InvalidArgumentError("Mod: attribute fmod must be 1 for floating-point inputs");
      }
      TESSERA_ASSIGN_OR_RETURN(BroadcastPlan plan, BroadcastPlan::Make("Mod", {in.a->shape(), in.b->shape()}));
      Tensor* out = ctx.AllocateOutput(0, in.a->dtype(), plan.out_shape());
      if (fmod == 1) {
        RunBinary(plan, in.a->data<T>(), in.b->data<T>(), out->data<T>(), FmodOp{}, ctx.num_threads());
      } else if constexpr (!std::is_floating_point_v<T>) {
        RunBinary(plan, in.a->data<T>(), in.b->data<T>(), out->data<T>(), IntModOp{}, ctx.num_threads());
      }
      return absl::OkStatus();
    });
  });
}

// Pow with a one-element exponent and a floating-point base: common
// exponents become cheap unary loops.
template <typename T>
bool TryPowScalarExponent(const Tensor& base, double exponent, Tensor* out, int threads) {
  const T* x = base.data<T>();
  T* y = out->data<T>();
  const int64_t n = base.num_elements();
  if (exponent == 2.0) {
    RunUnary(x, y, n, [](T v) { return v * v; }, threads);
  } else if (exponent == 3.0) {
    RunUnary(x, y, n, [](T v) { return v * v * v; }, threads);
  } else if (exponent == 1.0) {
    RunUnary(x, y, n, [](T v) { return v; }, threads);
  } else if (exponent == 0.5) {
    RunUnary(x, y, n, [](T v) { return std::sqrt(v); }, threads);
  } else {
    return false;
  }
  return true;
}

absl::Status ComputePow(KernelContext& ctx) {
  TESSERA_ASSIGN_OR_RETURN(Operands in, GetOperands("Pow", ctx, /*same_type=*/false));
  TESSERA_ASSIGN_OR_RETURN(BroadcastPlan plan, BroadcastPlan::Make("Pow", {in.a->shape(), in.b->shape()}));
  return DispatchOr<float, double, int32_t, int64_t>("Pow", in.a->dtype(), [&](auto base_tag) -> absl::Status {
    using TB = decltype(base_tag);
    return DispatchOr<TESSERA_EW_NUMERIC_TYPES>("Pow", in.b->dtype(), [&](auto exp_tag) -> absl::Status {
      using TE = decltype(exp_tag);
      Tensor* out = ctx.AllocateOutput(0, in.a->dtype(), plan.out_shape());
      if constexpr (std::is_floating_point_v<TB>) {
        if (in.b->num_elements() == 1 &&
            TryPowScalarExponent<TB>(*in.a, in.b->GetAsDouble(0), out, ctx.num_threads())) {
          return absl::OkStatus();
        }
      }
      RunBinary(plan, in.a->data<TB>(), in.b->data<TE>(), out->data<TB>(), PowOp{}, ctx.num_threads(),
                kExpensiveGrain);
      return absl::OkStatus();
    });
  });
}

absl::Status ComputePRelu(KernelContext& ctx) {
  TESSERA_ASSIGN_OR_RETURN(Operands in, GetOperands("PRelu", ctx, /*same_type=*/true));
  TESSERA_ASSIGN_OR_RETURN(BroadcastPlan plan,
                           BroadcastPlan::MakeTo("PRelu", {in.a->shape(), in.b->shape()}, in.a->shape()));
  return DispatchOr<float, double, int32_t, int64_t>("PRelu", in.a->dtype(), [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    Tensor* out = ctx.AllocateOutput(0, in.a->dtype(), plan.out_shape());
    RunBinary(plan, in.a->data<T>(), in.b->data<T>(), out->data<T>(), PReluOp{}, ctx.num_threads());
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterBinaryKernels(KernelRegistry& registry) {
  RegisterBinary<AddOp, false, TESSERA_EW_NUMERIC_TYPES>(registry, "Add");
  RegisterBinary<SubOp, false, TESSERA_EW_NUMERIC_TYPES>(registry, "Sub");
  RegisterBinary<MulOp, false, TESSERA_EW_NUMERIC_TYPES>(registry, "Mul");
  RegisterBinary<DivOp, false, TESSERA_EW_NUMERIC_TYPES>(registry, "Div");
  RegisterBinary<AndOp, false, bool>(registry, "And");
  RegisterBinary<OrOp, false, bool>(registry, "Or");
  RegisterBinary<XorOp, false, bool>(registry, "Xor");
  RegisterBinary<EqualOp, true, TESSERA_EW_ALL_TYPES>(registry, "Equal");
  RegisterBinary<GreaterOp, true, TESSERA_EW_NUMERIC_TYPES>(registry, "Greater");
  RegisterBinary<GreaterOrEqualOp, true, TESSERA_EW_NUMERIC_TYPES>(registry, "GreaterOrEqual");
  RegisterBinary<LessOp, true, TESSERA_EW_NUMERIC_TYPES>(registry, "Less");
  RegisterBinary<LessOrEqualOp, true, TESSERA_EW_NUMERIC_TYPES>(registry, "LessOrEqual");
  registry.Register("Mod", MakeMod);
  registry.Register("Pow", [](const KernelInit&) -> KernelOr { return std::make_unique<FunctionKernel>(ComputePow); });
  registry.Register("PRelu",
                    [](const KernelInit&) -> KernelOr { return std::make_unique<FunctionKernel>(ComputePRelu); });
}

}  // namespace tessera::engine::elementwise
