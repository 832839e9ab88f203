// Shared machinery of the element-wise kernel group (elementwise*.cc):
// element-type dispatch with Unimplemented errors, input checks, and the
// broadcast "run" plan that turns NumPy broadcasting into a few contiguous
// inner loops.
//
// A BroadcastPlan collapses the output shape into the fewest dimensions in
// which every input is either fully present or broadcast (stride 0), so that
//   [N,C,H,W] + [C,1,1]  -> dims [N, C, H*W], inner run H*W with B constant,
//   [B,S,D]   + [D]      -> dims [B*S, D],    inner run D with both contiguous,
//   same shapes / scalar -> one dimension, one run per parallel chunk.
// Kernels then loop over runs (index arithmetic once per run, never per
// element) with one of a handful of contiguous inner loops that vectorize.
//
// Internal to the element-wise group; other groups use
// elementwise_activation.h.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/data_type.h"
#include "common/tensor.h"
#include "worker/engine/kernel.h"
#include "worker/engine/kernels/parallel.h"

namespace tessera::engine::elementwise {

// Parallel grain in elements: cheap arithmetic and transcendental functions.
inline constexpr int64_t kCheapGrain = 16384;
inline constexpr int64_t kExpensiveGrain = 4096;

// Type lists used by the operator schemas.
#define TESSERA_EW_FLOAT_TYPES float, double
#define TESSERA_EW_NUMERIC_TYPES float, double, int32_t, int64_t, int8_t, uint8_t
#define TESSERA_EW_SIGNED_TYPES float, double, int32_t, int64_t, int8_t
#define TESSERA_EW_ALL_TYPES float, double, int32_t, int64_t, int8_t, uint8_t, bool

template <typename... Ts>
bool IsOneOf(DataType type) {
  return ((type == DataTypeOf<Ts>::value) || ...);
}

// Like DispatchType, but an element type outside Ts is Unimplemented and the
// message names the operator and the type.
template <typename... Ts, typename Fn>
absl::Status DispatchOr(absl::string_view op, DataType type, Fn&& fn) {
  if (!IsOneOf<Ts...>(type)) {
    return absl::UnimplementedError(
        absl::StrCat(op, ": element type ", DataTypeName(type), " is not supported"));
  }
  return DispatchType<Ts...>(type, std::forward<Fn>(fn));
}

// Input i, or InvalidArgument when it is missing.
inline absl::StatusOr<const Tensor*> RequiredInput(absl::string_view op, const KernelContext& ctx, int i) {
  const Tensor* t = ctx.input(i);
  if (t == nullptr || !t->defined()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": required input ", i, " is missing"));
  }
  return t;
}

inline absl::Status CheckSameType(absl::string_view op, const Tensor& a, const Tensor& b, int index_b) {
  if (a.dtype() != b.dtype()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": input ", index_b, " has element type ",
                                                   DataTypeName(b.dtype()), " but input 0 has ",
                                                   DataTypeName(a.dtype())));
  }
  return absl::OkStatus();
}

// Iteration plan for an output of NumPy-broadcast inputs (at most
// kMaxInputs of them). Immutable after Make; cheap to build per call.
class BroadcastPlan {
 public:
  static constexpr int kMaxInputs = 3;

  // Multidirectional broadcasting: the output shape is the broadcast of
  // `inputs`. InvalidArgument (naming `op` and the shapes) when incompatible.
  static absl::StatusOr<BroadcastPlan> Make(absl::string_view op, const std::vector<Shape>& inputs);
  // Unidirectional: every input must broadcast to exactly `out`.
  static absl::StatusOr<BroadcastPlan> MakeTo(absl::string_view op, const std::vector<Shape>& inputs,
                                              const Shape& out);

  const Shape& out_shape() const { return out_shape_; }
  int64_t total() const { return total_; }
  // Length of a full inner run.
  int64_t inner() const { return dims_.back(); }
  // True when input k advances along the inner run (else it is constant there).
  bool inner_contiguous(int k) const { return inner_stride_[k] != 0; }

  // Calls fn(out_offset, in_offsets, n) for consecutive runs covering output
  // elements [begin, end); in_offsets[k] is input k's element offset at the
  // start of the run. Along a run, input k advances iff inner_contiguous(k).
  template <typename Fn>
  void ForEachRun(int64_t begin, int64_t end, Fn&& fn) const;

 private:
  int num_inputs_ = 0;
  Shape out_shape_;
  int64_t total_ = 0;
  std::vector<int64_t> dims_;                                  // collapsed, never empty
  std::vector<std::array<int64_t, kMaxInputs>> strides_;      // per collapsed dim
  std::array<int64_t, kMaxInputs> inner_stride_{};
};

template <typename Fn>
void BroadcastPlan::ForEachRun(int64_t begin, int64_t end, Fn&& fn) const {
  if (begin >= end) return;
  const int outer_rank = static_cast<int>(dims_.size()) - 1;
  const int64_t inner_len = dims_.back();
  int64_t outer = begin / inner_len;
  int64_t pos = begin % inner_len;
  std::vector<int64_t> idx(outer_rank, 0);
  std::array<int64_t, kMaxInputs> base{};
  for (int d = outer_rank - 1; d >= 0; --d) {
    idx[d] = outer % dims_[d];
    outer /= dims_[d];
    for (int k = 0; k < num_inputs_; ++k) base[k] += idx[d] * strides_[d][k];
  }
  int64_t out = begin;
  std::array<int64_t, kMaxInputs> offsets{};
  while (out < end) {
    const int64_t n = std::min(inner_len - pos, end - out);
    for (int k = 0; k < num_inputs_; ++k) offsets[k] = base[k] + pos * inner_stride_[k];
    fn(out, offsets.data(), n);
    out += n;
    pos = 0;
    for (int d = outer_rank - 1; d >= 0; --d) {
      ++idx[d];
      for (int k = 0; k < num_inputs_; ++k) base[k] += strides_[d][k];
      if (idx[d] < dims_[d]) break;
      for (int k = 0; k < num_inputs_; ++k) base[k] -= strides_[d][k] * dims_[d];
      idx[d] = 0;
    }
  }
}

// out[i] = op(a[i], b[i]) over a broadcast plan of two inputs. The inner
// loops are contiguous (vector-vector, vector-scalar, scalar-vector).
template <typename TA, typename TB, typename R, typename Op>
void RunBinary(const BroadcastPlan& plan, const TA* a, const TB* b, R* out, const Op& op, int threads,
               int64_t grain = kCheapGrain) {
  const bool a_vec = plan.inner_contiguous(0), b_vec = plan.inner_contiguous(1);
  ParallelFor(threads, plan.total(), grain, [&](int64_t begin, int64_t end) {
    plan.ForEachRun(begin, end, [&](int64_t o, const int64_t* in, int64_t n) {
      const TA* pa = a + in[0];
      const TB* pb = b + in[1];
      R* po = out + o;
      if (a_vec && b_vec) {
        for (int64_t i = 0; i < n; ++i) po[i] = op(pa[i], pb[i]);
      } else if (a_vec) {
        const TB bv = *pb;
        for (int64_t i = 0; i < n; ++i) po[i] = op(pa[i], bv);
      } else if (b_vec) {
        const TA av = *pa;
        for (int64_t i = 0; i < n; ++i) po[i] = op(av, pb[i]);
      } else {
        const R v = op(*pa, *pb);
        for (int64_t i = 0; i < n; ++i) po[i] = v;
      }
    });
  });
}

// out[i] = op(in[i]) over n contiguous elements.
template <typename T, typename R, typename Op>
void RunUnary(const T* in, R* out, int64_t n, const Op& op, int threads, int64_t grain = kCheapGrain) {
  ParallelFor(threads, n, grain, [&](int64_t begin, int64_t end) {
    const T* pi = in + begin;
    R* po = out + begin;
    const int64_t len = end - begin;
    for (int64_t i = 0; i < len; ++i) po[i] = op(pi[i]);
  });
}

}  // namespace tessera::engine::elementwise

// Registration of the element-wise sub-groups (one per file); called by
// RegisterElementwiseKernels in elementwise.cc.

namespace tessera::engine {
class KernelRegistry;
namespace elementwise {
void RegisterUnaryKernels(KernelRegistry& registry);        // elementwise_unary.cc
void RegisterBinaryKernels(KernelRegistry& registry);       // elementwise_binary.cc
void RegisterVariadicKernels(KernelRegistry& registry);     // elementwise_variadic.cc (Sum/Mean/Max/Min, Where)
void RegisterCastKernels(KernelRegistry& registry);         // elementwise_cast.cc (Cast, CastLike)
}  // namespace elementwise
}  // namespace tessera::engine
