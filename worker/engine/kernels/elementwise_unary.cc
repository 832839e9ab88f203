// Unary math operators, activations, Not and Clip.
#include <limits>
#include <memory>
#include <string>

#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/elementwise_common.h"
#include "worker/engine/kernels/elementwise_unary_ops.h"

namespace tessera::engine::elementwise {
namespace {

using KernelOr = absl::StatusOr<std::unique_ptr<OpKernel>>;

// A kernel computing y = op(x) element by element, for x of a type in Ts.
template <typename... Ts, typename Op>
KernelOr MakeUnary(std::string name, Op op, int64_t grain) {
  return std::make_unique<FunctionKernel>([name = std::move(name), op, grain](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(name, ctx, 0));
    return DispatchOr<Ts...>(name, x->dtype(), [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      Tensor* y = ctx.AllocateOutput(0, x->dtype(), x->shape());
      RunUnary(x->template data<T>(), y->template data<T>(), x->num_elements(), op, ctx.num_threads(), grain);
      return absl::OkStatus();
    });
  });
}

// Registers an operator without attributes.
template <typename Op, typename... Ts>
void RegisterSimple(KernelRegistry& registry, const char* name, int64_t grain) {
  registry.Register(name, [name, grain](const KernelInit&) { return MakeUnary<Ts...>(name, Op{}, grain); });
}

// Reads Clip's bound from input `index` (opset >= 11): a one-element tensor
// of x's type, or `fallback` when omitted.
template <typename T>
absl::StatusOr<T> ClipBound(const KernelContext& ctx, int index, const char* what, DataType type, T fallback) {
  const Tensor* t = ctx.input(index);
  if (t == nullptr || !t->defined()) return fallback;
  if (t->dtype() != type) {
    return absl::InvalidArgumentError(absl::StrCat("Clip: ", what, " has element type ", DataTypeName(t->dtype()),
                                                   " but input has ", DataTypeName(type)));
  }
  if (t->num_elements() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Clip: ", what, " must be a scalar, got shape ", ShapeToString(t->shape())));
  }
  return t->data<T>()[0];
}

KernelOr MakeClip(const KernelInit& init) {
  const int opset = init.opset;
  std::optional<float> attr_min, attr_max;
  if (opset < 11) {
    if (init.attrs.Has("min")) attr_min = init.attrs.GetFloat("min", 0.0f);
    if (init.attrs.Has("max")) attr_max = init.attrs.GetFloat("max", 0.0f);
  }
  return std::make_unique<FunctionKernel>([opset, attr_min, attr_max](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput("Clip", ctx, 0));
    return DispatchOr<TESSERA_EW_NUMERIC_TYPES>("Clip", x->dtype(), [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      ClipOp<T> op{std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max()};
      if (opset < 11) {
        if (attr_min) op.lo = static_cast<T>(*attr_min);
        if (attr_max) op.hi = static_cast<T>(*attr_max);
      } else {
        TESSERA_ASSIGN_OR_RETURN(op.lo, ClipBound<T>(ctx, 1, "min", x->dtype(), op.lo));
        TESSERA_ASSIGN_OR_RETURN(op.hi, ClipBound<T>(ctx, 2, "max", x->dtype(), op.hi));
      }
      Tensor* y = ctx.AllocateOutput(0, x->dtype(), x->shape());
      RunUnary(x->data<T>(), y->data<T>(), x->num_elements(), op, ctx.num_threads());
      return absl::OkStatus();
    });
  });
}

}  // namespace

void RegisterUnaryKernels(KernelRegistry& registry) {
  constexpr int64_t kCheap = kCheapGrain, kCostly = kExpensiveGrain;
  RegisterSimple<AbsOp, TESSERA_EW_NUMERIC_TYPES>(registry, "Abs", kCheap);
  RegisterSimple<NegOp, TESSERA_EW_SIGNED_TYPES>(registry, "Neg", kCheap);
  RegisterSimple<SignOp, TESSERA_EW_NUMERIC_TYPES>(registry, "Sign", kCheap);
  RegisterSimple<CeilOp, TESSERA_EW_FLOAT_TYPES>(registry, "Ceil", kCheap);
  RegisterSimple<FloorOp, TESSERA_EW_FLOAT_TYPES>(registry, "Floor", kCheap);
  RegisterSimple<RoundOp, TESSERA_EW_FLOAT_TYPES>(registry, "Round", kCheap);
  RegisterSimple<ReciprocalOp, TESSERA_EW_FLOAT_TYPES>(registry, "Reciprocal", kCheap);
  RegisterSimple<SqrtOp, TESSERA_EW_FLOAT_TYPES>(registry, "Sqrt", kCheap);
  RegisterSimple<ExpOp, TESSERA_EW_FLOAT_TYPES>(registry, "Exp", kCostly);
  RegisterSimple<LogOp, TESSERA_EW_FLOAT_TYPES>(registry, "Log", kCostly);
  RegisterSimple<SinOp, TESSERA_EW_FLOAT_TYPES>(registry, "Sin", kCostly);
  RegisterSimple<CosOp, TESSERA_EW_FLOAT_TYPES>(registry, "Cos", kCostly);
  RegisterSimple<TanOp, TESSERA_EW_FLOAT_TYPES>(registry, "Tan", kCostly);
  RegisterSimple<AsinOp, TESSERA_EW_FLOAT_TYPES>(registry, "Asin", kCostly);
  RegisterSimple<AcosOp, TESSERA_EW_FLOAT_TYPES>(registry, "Acos", kCostly);
  RegisterSimple<AtanOp, TESSERA_EW_FLOAT_TYPES>(registry, "Atan", kCostly);
  RegisterSimple<TanhOp, TESSERA_EW_FLOAT_TYPES>(registry, "Tanh", kCostly);
  RegisterSimple<SigmoidOp, TESSERA_EW_FLOAT_TYPES>(registry, "Sigmoid", kCostly);
  RegisterSimple<ErfOp, TESSERA_EW_NUMERIC_TYPES>(registry, "Erf", kCostly);
  {
    KernelDef gelu;
    gelu.domain = std::string(kTesseraDomain);
    gelu.op_type = "Gelu";
    gelu.factory = [](const KernelInit&) { return MakeUnary<float, double>("Gelu", GeluOp{}, kCostly); };
    registry.Register(std::move(gelu));
  }
  RegisterSimple<ReluOp, TESSERA_EW_SIGNED_TYPES>(registry, "Relu", kCheap);
  RegisterSimple<HardSwishOp, TESSERA_EW_FLOAT_TYPES>(registry, "HardSwish", kCheap);
  RegisterSimple<SoftplusOp, TESSERA_EW_FLOAT_TYPES>(registry, "Softplus", kCostly);
  RegisterSimple<SoftsignOp, TESSERA_EW_FLOAT_TYPES>(registry, "Softsign", kCheap);
  RegisterSimple<NotOp, bool>(registry, "Not", kCheap);

  registry.Register("LeakyRelu", [](const KernelInit& init) {
    return MakeUnary<TESSERA_EW_FLOAT_TYPES>("LeakyRelu", LeakyReluOp{init.attrs.GetFloat("alpha", 0.01f)}, kCheap);
  });
  registry.Register("Elu", [](const KernelInit& init) {
    return MakeUnary<TESSERA_EW_FLOAT_TYPES>("Elu", EluOp{init.attrs.GetFloat("alpha", 1.0f)}, kCostly);
  });
  registry.Register("Selu", [](const KernelInit& init) {
    SeluOp op;
    op.alpha = init.attrs.GetFloat("alpha", op.alpha);
    op.gamma = init.attrs.GetFloat("gamma", op.gamma);
    return MakeUnary<TESSERA_EW_FLOAT_TYPES>("Selu", op, kCostly);
  });
  registry.Register("HardSigmoid", [](const KernelInit& init) {
    HardSigmoidOp op;
    op.alpha = init.attrs.GetFloat("alpha", op.alpha);
    op.beta = init.attrs.GetFloat("beta", op.beta);
    return MakeUnary<TESSERA_EW_FLOAT_TYPES>("HardSigmoid", op, kCheap);
  });
  registry.Register("ThresholdedRelu", [](const KernelInit& init) {
    return MakeUnary<TESSERA_EW_FLOAT_TYPES>("ThresholdedRelu", ThresholdedReluOp{init.attrs.GetFloat("alpha", 1.0f)},
                                             kCheap);
  });
  registry.Register("Clip", MakeClip);
}

}  // namespace tessera::engine::elementwise
