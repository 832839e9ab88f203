// Variadic operators with broadcasting over 1..N inputs (Sum, Mean, Max,
// Min) and the three-way broadcast select Where.
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/broadcast.h"
#include "worker/engine/kernels/elementwise_common.h"

namespace tessera::engine::elementwise {
namespace {

using KernelOr = absl::StatusOr<std::unique_ptr<OpKernel>>;

struct SumOp {
  template <typename T>
  T operator()(T a, T b) const { return static_cast<T>(a + b); }
};
struct MaxOp {
  template <typename T>
  T operator()(T a, T b) const { return a < b ? b : a; }
};
struct MinOp {
  template <typename T>
  T operator()(T a, T b) const { return b < a ? b : a; }
};

// out = fold(op, inputs) with multidirectional broadcasting; Mean divides
// the sum by the number of inputs.
template <bool kMean, typename... Ts, typename Op>
KernelOr MakeVariadic(std::string name, Op op) {
  return std::make_unique<FunctionKernel>([name = std::move(name), op](KernelContext& ctx) -> absl::Status {
    const int n = ctx.num_inputs();
    if (n < 1) return absl::InvalidArgumentError(absl::StrCat(name, ": needs at least one input"));
    std::vector<Shape> shapes;
    TESSERA_ASSIGN_OR_RETURN(const Tensor* first, RequiredInput(name, ctx, 0));
    for (int i = 0; i < n; ++i) {
      TESSERA_ASSIGN_OR_RETURN(const Tensor* t, RequiredInput(name, ctx, i));
      TESSERA_RETURN_IF_ERROR(CheckSameType(name, *first, *t, i));
      shapes.push_back(t->shape());
    }
    auto out_shape = BroadcastShapes(shapes);
    if (!out_shape.ok()) return absl::InvalidArgumentError(absl::StrCat(name, ": ", out_shape.status().message()));
    return DispatchOr<Ts...>(name, first->dtype(), [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      Tensor* out = ctx.AllocateOutput(0, first->dtype(), *out_shape);
      T* y = out->template data<T>();
      const int threads = ctx.num_threads();
      if (n == 1) {
        if (first->num_elements() > 0) std::memcpy(y, first->template data<T>(), first->byte_size());
        return absl::OkStatus();
      }
      TESSERA_ASSIGN_OR_RETURN(BroadcastPlan plan, BroadcastPlan::MakeTo(name, {shapes[0], shapes[1]}, *out_shape));
      RunBinary(plan, first->template data<T>(), ctx.input(1)->template data<T>(), y, op, threads);
      for (int i = 2; i < n; ++i) {
        TESSERA_ASSIGN_OR_RETURN(plan, BroadcastPlan::MakeTo(name, {*out_shape, shapes[i]}, *out_shape));
        RunBinary(plan, static_cast<const T*>(y), ctx.input(i)->template data<T>(), y, op, threads);
      }
      if constexpr (kMean) {
        const T count = static_cast<T>(n);
        RunUnary(static_cast<const T*>(y), y, out->num_elements(), [count](T v) { return v / count; }, threads);
      }
      return absl::OkStatus();
    });
  });
}

// Where's inner loop for one combination of which operands advance.
template <bool kC, bool kX, bool kY, typename T>
void SelectRun(const bool* c, const T* x, const T* y, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = c[kC ? i : 0] ? x[kX ? i : 0] : y[kY ? i : 0];
}

template <typename T>
void RunWhere(const BroadcastPlan& plan, const bool* c, const T* x, const T* y, T* out, int threads) {
  using RunFn = void (*)(const bool*, const T*, const T*, T*, int64_t);
  static constexpr RunFn kRuns[8] = {
      SelectRun<false, false, false, T>, SelectRun<false, false, true, T>, SelectRun<false, true, false, T>,
      SelectRun<false, true, true, T>,   SelectRun<true, false, false, T>, SelectRun<true, false, true, T>,
      SelectRun<true, true, false, T>,   SelectRun<true, true, true, T>};
  const RunFn run = kRuns[(plan.inner_contiguous(0) ? 4 : 0) + (plan.inner_contiguous(1) ? 2 : 0) +
                          (plan.inner_contiguous(2) ? 1 : 0)];
  ParallelFor(threads, plan.total(), kCheapGrain, [&](int64_t begin, int64_t end) {
    plan.ForEachRun(begin, end, [&](int64_t o, const int64_t* in, int64_t n) {
      run(c + in[0], x + in[1], y + in[2], out + o, n);
    });
  });
}

absl::Status ComputeWhere(KernelContext& ctx) {
  TESSERA_ASSIGN_OR_RETURN(const Tensor* cond, RequiredInput("Where", ctx, 0));
  TESSERA_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput("Where", ctx, 1));
  TESSERA_ASSIGN_OR_RETURN(const Tensor* y, RequiredInput("Where", ctx, 2));
  if (cond->dtype() != DataType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat("Where: condition must be bool, got ", DataTypeName(cond->dtype())));
  }
  TESSERA_RETURN_IF_ERROR(CheckSameType("Where", *x, *y, 2));
  TESSERA_ASSIGN_OR_RETURN(BroadcastPlan plan, BroadcastPlan::Make("Where", {cond->shape(), x->shape(), y->shape()}));
  return DispatchOr<TESSERA_EW_ALL_TYPES>("Where", x->dtype(), [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    Tensor* out = ctx.AllocateOutput(0, x->dtype(), plan.out_shape());
    RunWhere(plan, cond->data<bool>(), x->data<T>(), y->data<T>(), out->data<T>(), ctx.num_threads());
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterVariadicKernels(KernelRegistry& registry) {
  registry.Register("Sum", [](const KernelInit&) { return MakeVariadic<false, TESSERA_EW_NUMERIC_TYPES>("Sum", SumOp{}); });
  registry.Register("Mean", [](const KernelInit&) { return MakeVariadic<true, TESSERA_EW_FLOAT_TYPES>("Mean", SumOp{}); });
  registry.Register("Max", [](const KernelInit&) { return MakeVariadic<false, TESSERA_EW_NUMERIC_TYPES>("Max", MaxOp{}); });
  registry.Register("Min", [](const KernelInit&) { return MakeVariadic<false, TESSERA_EW_NUMERIC_TYPES>("Min", MinOp{}); });
  registry.Register("Where",
                    [](const KernelInit&) -> KernelOr { return std::make_unique<FunctionKernel>(ComputeWhere); });
}

}  // namespace tessera::engine::elementwise
