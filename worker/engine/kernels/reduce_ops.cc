// ReduceSum, ReduceSumSquare, ReduceL1, ReduceL2, ReduceMean, ReduceProd,
// ReduceMax, ReduceMin, ReduceLogSum, ReduceLogSumExp (ai.onnx opsets 1..18).
//
// Axes come from the `axes` attribute, or from the optional second input
// (ReduceSum from opset 13, every Reduce* from opset 18); `noop_with_empty_axes`
// makes empty axes an identity instead of "reduce everything". Reducing over
// an empty set yields the reduction's identity (0 for sums, 1 for products,
// -inf / lowest for Max, +inf / highest for Min, -inf for LogSum(Exp), NaN for
// a float Mean), as the ONNX test_reduce_*_empty_set cases expect.
//
// The input is viewed as collapsed runs of kept / reduced dimensions (size-1
// dimensions dropped). The innermost run is either reduced (a contiguous
// reduction per output, with independent partial accumulators so it
// vectorizes) or kept (a contiguous block of outputs accumulated row by row,
// also vectorized); the outer runs are walked with precomputed offsets.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/reduce_axes.h"
#include "worker/engine/kernels/reduce_group.h"

namespace tessera::engine {
namespace {

enum class ReduceKind { kSum, kSumSquare, kL1, kL2, kMean, kProd, kMax, kMin, kLogSum, kLogSumExp };
enum class Combine { kAdd, kMul, kMax, kMin };

constexpr int64_t kGrain = 16384;

// What each ReduceKind does to an element before combining (Pre), how it
// combines (kCombine), where it starts (Identity) and how the accumulator
// becomes the output (Finalize). LogSumExp subtracts a per-output shift (the
// maximum) before exponentiating.
template <ReduceKind K, typename T>
struct Policy {
  static constexpr bool kFloat = std::is_floating_point_v<T>;
  // Integer L2 / LogSum / LogSumExp accumulate in double.
  static constexpr bool kWideAcc =
      !kFloat && (K == ReduceKind::kL2 || K == ReduceKind::kLogSum || K == ReduceKind::kLogSumExp);
  using Acc = std::conditional_t<kWideAcc, double, T>;
  static constexpr bool kNeedsShift = K == ReduceKind::kLogSumExp;
  static constexpr Combine kCombine = K == ReduceKind::kProd  ? Combine::kMul
                                      : K == ReduceKind::kMax ? Combine::kMax
                                      : K == ReduceKind::kMin ? Combine::kMin
                                                              : Combine::kAdd;

  static Acc Identity() {
    if constexpr (kCombine == Combine::kMul) return Acc(1);
    if constexpr (kCombine == Combine::kMax) {
      return kFloat ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::lowest();
    }
    if constexpr (kCombine == Combine::kMin) {
      return kFloat ? std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::max();
    }
    return Acc(0);
  }
  static Acc Apply(Acc a, Acc b) {
    if constexpr (kCombine == Combine::kMul) return a * b;
    if constexpr (kCombine == Combine::kMax) return a > b ? a : b;
    if constexpr (kCombine == Combine::kMin) return a < b ? a : b;
    return a + b;
  }
  static Acc Pre(T x, Acc shift) {
    (void)shift;
    const Acc v = static_cast<Acc>(x);
    if constexpr (K == ReduceKind::kSumSquare || K == ReduceKind::kL2) return v * v;
    if constexpr (K == ReduceKind::kL1) return v < Acc(0) ? -v : v;
    if constexpr (K == ReduceKind::kLogSumExp) return std::exp(v - shift);
    return v;
  }
  static T Finalize(Acc acc, int64_t count, Acc shift) {
    if constexpr (K == ReduceKind::kL2) return static_cast<T>(std::sqrt(acc));
    if constexpr (K == ReduceKind::kLogSum) return static_cast<T>(std::log(acc));
    if constexpr (K == ReduceKind::kLogSumExp) {
      if (count == 0) return static_cast<T>(-std::numeric_limits<double>::infinity());
      if (std::isinf(static_cast<double>(shift))) return static_cast<T>(shift);
      return static_cast<T>(shift + std::log(acc));
    }
    if constexpr (K == ReduceKind::kMean) {
      if constexpr (kFloat) {
        return count == 0 ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(acc / static_cast<Acc>(count));
      } else {
        return count == 0 ? T(0) : static_cast<T>(acc / static_cast<Acc>(count));
      }
    }
    (void)count;
    (void)shift;
    return static_cast<T>(acc);
  }
};

// The max policy used to find LogSumExp's shift.
template <typename T, typename Acc>
struct ShiftPolicy {
  static Acc Identity() {
    return std::is_floating_point_v<T> ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::lowest();
  }
};

// Combines Pre(x[i]) for i < n with 16 independent partial accumulators so
// the compiler vectorizes the loop without reassociating float math.
template <typename P, typename T, typename Acc>
Acc ReduceContiguous(const T* x, int64_t n, Acc shift) {
  constexpr int kLanes = 16;
  int64_t i = 0;
  Acc result = P::Identity();
  if (n >= kLanes) {
    Acc lanes[kLanes];
    for (int l = 0; l < kLanes; ++l) lanes[l] = P::Identity();
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] = P::Apply(lanes[l], P::Pre(x[i + l], shift));
    }
    for (int l = 0; l < kLanes; ++l) result = P::Apply(result, lanes[l]);
  }
  for (; i < n; ++i) result = P::Apply(result, P::Pre(x[i], shift));
  return result;
}

template <typename T, typename Acc>
Acc MaxContiguous(const T* x, int64_t n) {
  constexpr int kLanes = 16;
  int64_t i = 0;
  Acc result = ShiftPolicy<T, Acc>::Identity();
  if (n >= kLanes) {
    Acc lanes[kLanes];
    for (int l = 0; l < kLanes; ++l) lanes[l] = result;
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const Acc v = static_cast<Acc>(x[i + l]);
        lanes[l] = lanes[l] > v ? lanes[l] : v;
      }
    }
    for (int l = 0; l < kLanes; ++l) result = result > lanes[l] ? result : lanes[l];
  }
  for (; i < n; ++i) {
    const Acc v = static_cast<Acc>(x[i]);
    result = result > v ? result : v;
  }
  return result;
}

// The input seen as runs of kept / reduced dimensions.
struct ReductionLayout {
  // Outer kept runs: sizes and input strides (output is contiguous over them).
  std::vector<int64_t> kept_sizes, kept_strides;
  // Offsets (in the input) of every position of the outer reduced runs.
  std::vector<int64_t> reduced_offsets;
  bool inner_reduced = false;
  int64_t inner_size = 1;
  int64_t reduce_count = 1;  // reduced elements per output
};

ReductionLayout MakeLayout(const Shape& shape, const std::vector<bool>& mask) {
  std::vector<int64_t> sizes;
  std::vector<bool> reduced;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!sizes.empty() && reduced.back() == mask[i]) {
      sizes.back() *= shape[i];
    } else {
      sizes.push_back(shape[i]);
      reduced.push_back(mask[i]);
    }
  }
  ReductionLayout layout;
  if (sizes.empty()) return layout;  // one element, reduced with itself
  const int m = static_cast<int>(sizes.size());
  std::vector<int64_t> strides(m, 1);
  for (int i = m - 2; i >= 0; --i) strides[i] = strides[i + 1] * sizes[i + 1];
  layout.inner_reduced = reduced[m - 1];
  layout.inner_size = sizes[m - 1];
  std::vector<int64_t> red_sizes, red_strides;
  for (int i = 0; i < m; ++i) {
    if (reduced[i]) layout.reduce_count *= sizes[i];
    if (i == m - 1) break;
    if (reduced[i]) {
      red_sizes.push_back(sizes[i]);
      red_strides.push_back(strides[i]);
    } else {
      layout.kept_sizes.push_back(sizes[i]);
      layout.kept_strides.push_back(strides[i]);
    }
  }
  int64_t q_count = 1;
  for (int64_t s : red_sizes) q_count *= s;
  layout.reduced_offsets.resize(q_count);
  std::vector<int64_t> idx(red_sizes.size(), 0);
  int64_t offset = 0;
  for (int64_t q = 0; q < q_count; ++q) {
    layout.reduced_offsets[q] = offset;
    for (int d = static_cast<int>(red_sizes.size()) - 1; d >= 0; --d) {
      offset += red_strides[d];
      if (++idx[d] < red_sizes[d]) break;
      offset -= red_strides[d] * red_sizes[d];
      idx[d] = 0;
    }
  }
  return layout;
}

// Input offset of outer kept position p.
inline int64_t KeptOffset(const ReductionLayout& layout, int64_t p) {
  int64_t offset = 0;
  for (int d = static_cast<int>(layout.kept_sizes.size()) - 1; d >= 0; --d) {
    const int64_t size = layout.kept_sizes[d];
    offset += (p % size) * layout.kept_strides[d];
    p /= size;
  }
  return offset;
}

template <ReduceKind K, typename T>
void RunReduction(const T* x, T* out, const ReductionLayout& layout, int threads) {
  using P = Policy<K, T>;
  using Acc = typename P::Acc;
  const std::vector<int64_t>& q_offsets = layout.reduced_offsets;
  const int64_t q_count = static_cast<int64_t>(q_offsets.size());
  const int64_t n = layout.inner_size;
  const int64_t count = layout.reduce_count;
  int64_t p_count = 1;
  for (int64_t s : layout.kept_sizes) p_count *= s;

  if (layout.inner_reduced) {
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, q_count * n));
    ParallelFor(threads, p_count, grain, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const T* base = x + KeptOffset(layout, p);
        Acc shift = Acc(0);
        if constexpr (P::kNeedsShift) {
          shift = ShiftPolicy<T, Acc>::Identity();
          for (int64_t q = 0; q < q_count; ++q) shift = std::max(shift, MaxContiguous<T, Acc>(base + q_offsets[q], n));
        }
        Acc acc = P::Identity();
        for (int64_t q = 0; q < q_count; ++q) acc = P::Apply(acc, ReduceContiguous<P>(base + q_offsets[q], n, shift));
        out[p] = P::Finalize(acc, count, shift);
      }
    });
    return;
  }

  // Innermost run kept: accumulate blocks of contiguous outputs.
  const int64_t block = std::min<int64_t>(n, 1024);
  const int64_t blocks_per_row = (n + block - 1) / block;
  const int64_t items = p_count * blocks_per_row;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, q_count * block));
  ParallelFor(threads, items, grain, [&](int64_t begin, int64_t end) {
    std::vector<Acc> acc(block);
    std::vector<Acc> shift(P::kNeedsShift ? block : 0);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t p = item / blocks_per_row;
      const int64_t j0 = (item % blocks_per_row) * block;
      const int64_t len = std::min(block, n - j0);
      const T* base = x + KeptOffset(layout, p) + j0;
      T* dst = out + p * n + j0;
      if constexpr (P::kNeedsShift) {
        for (int64_t j = 0; j < len; ++j) shift[j] = ShiftPolicy<T, Acc>::Identity();
        for (int64_t q = 0; q < q_count; ++q) {
          const T* src = base + q_offsets[q];
          for (int64_t j = 0; j < len; ++j) {
            const Acc v = static_cast<Acc>(src[j]);
            shift[j] = shift[j] > v ? shift[j] : v;
          }
        }
        for (int64_t j = 0; j < len; ++j) acc[j] = P::Identity();
        for (int64_t q = 0; q < q_count; ++q) {
          const T* src = base + q_offsets[q];
          for (int64_t j = 0; j < len; ++j) acc[j] = P::Apply(acc[j], P::Pre(src[j], shift[j]));
        }
        for (int64_t j = 0; j < len; ++j) dst[j] = P::Finalize(acc[j], count, shift[j]);
      } else {
        Acc* a = acc.data();
        for (int64_t j = 0; j < len; ++j) a[j] = P::Identity();
        for (int64_t q = 0; q < q_count; ++q) {
          const T* src = base + q_offsets[q];
          for (int64_t j = 0; j < len; ++j) a[j] = P::Apply(a[j], P::Pre(src[j], Acc(0)));
        }
        for (int64_t j = 0; j < len; ++j) dst[j] = P::Finalize(a[j], count, Acc(0));
      }
    }
  });
}

class ReduceKernel : public OpKernel {
 public:
  ReduceKernel(ReduceKind kind, std::string op, std::vector<int64_t> axes, bool keepdims, bool noop_with_empty_axes,
               bool axes_from_input)
      : kind_(kind),
        op_(std::move(op)),
        axes_(std::move(axes)),
        keepdims_(keepdims),
        noop_with_empty_axes_(noop_with_empty_axes),
        axes_from_input_(axes_from_input) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* input = ctx.input(0);
    if (input == nullptr) return absl::InvalidArgumentError(absl::StrCat(op_, ": missing input 'data'"));
    std::vector<int64_t> axes = axes_;
    if (axes_from_input_) {
      axes.clear();
      if (const Tensor* axes_tensor = ctx.input(1); axes_tensor != nullptr) {
        if (axes_tensor->dtype() != DataType::kInt64 || axes_tensor->rank() > 1) {
          return absl::InvalidArgumentError(absl::StrCat(op_, ": axes input must be a 1-D int64 tensor, got ",
                                                         DataTypeName(axes_tensor->dtype()), " ",
                                                         ShapeToString(axes_tensor->shape())));
        }
        const auto values = axes_tensor->values<int64_t>();
        axes.assign(values.begin(), values.end());
      }
    }
    const int rank = input->rank();
    const Shape& shape = input->shape();
    if (axes.empty() && noop_with_empty_axes_) {
      Tensor* out = ctx.AllocateOutput(0, input->dtype(), shape);
      if (input->byte_size() > 0) std::memcpy(out->raw_data(), input->raw_data(), input->byte_size());
      return absl::OkStatus();
    }
    std::vector<bool> mask(rank, true);
    if (!axes.empty()) {
      TESSERA_ASSIGN_OR_RETURN(mask, AxesMask(op_, axes, rank));
    }
    Shape out_shape;
    for (int i = 0; i < rank; ++i) {
      if (!mask[i]) {
        out_shape.push_back(shape[i]);
      } else if (keepdims_) {
        out_shape.push_back(1);
      }
    }
    const bool minmax = kind_ == ReduceKind::kMax || kind_ == ReduceKind::kMin;
    auto run = [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      Tensor* out = ctx.AllocateOutput(0, input->dtype(), out_shape);
      if (out->num_elements() == 0) return absl::OkStatus();
      const T* x = input->data<T>();
      T* y = out->data<T>();
      if (input->num_elements() == 0) {
        // Reducing over an empty set: every output is the reduction of nothing.
        ReductionLayout empty;
        empty.reduce_count = 0;
        const T value = Dispatch<T>(kind_, nullptr, nullptr, empty, 1, /*empty_value=*/true);
        std::fill(y, y + out->num_elements(), value);
        return absl::OkStatus();
      }
      Dispatch<T>(kind_, x, y, MakeLayout(shape, mask), ctx.num_threads(), /*empty_value=*/false);
      return absl::OkStatus();
    };
    absl::Status status = minmax ? DispatchType<float, double, int32_t, int64_t, int8_t, uint8_t>(input->dtype(), run)
                                 : DispatchType<float, double, int32_t, int64_t>(input->dtype(), run);
    if (!status.ok() && status.code() == absl::StatusCode::kInvalidArgument) {
      return absl::UnimplementedError(
          absl::StrCat(op_, ": element type ", DataTypeName(input->dtype()), " is not supported"));
    }
    return status;
  }

 private:
  // Runs the reduction (or, with empty_value, returns the value of reducing
  // an empty set).
  template <typename T>
  static T Dispatch(ReduceKind kind, const T* x, T* y, const ReductionLayout& layout, int threads, bool empty_value) {
    auto go = [&](auto kind_tag) -> T {
      constexpr ReduceKind K = decltype(kind_tag)::value;
      using P = Policy<K, T>;
      if (empty_value) return P::Finalize(P::Identity(), 0, ShiftPolicy<T, typename P::Acc>::Identity());
      RunReduction<K, T>(x, y, layout, threads);
      return T{};
    };
    switch (kind) {
      case ReduceKind::kSum: return go(std::integral_constant<ReduceKind, ReduceKind::kSum>{});
      case ReduceKind::kSumSquare: return go(std::integral_constant<ReduceKind, ReduceKind::kSumSquare>{});
      case ReduceKind::kL1: return go(std::integral_constant<ReduceKind, ReduceKind::kL1>{});
      case ReduceKind::kL2: return go(std::integral_constant<ReduceKind, ReduceKind::kL2>{});
      case ReduceKind::kMean: return go(std::integral_constant<ReduceKind, ReduceKind::kMean>{});
      case ReduceKind::kProd: return go(std::integral_constant<ReduceKind, ReduceKind::kProd>{});
      case ReduceKind::kMax: return go(std::integral_constant<ReduceKind, ReduceKind::kMax>{});
      case ReduceKind::kMin: return go(std::integral_constant<ReduceKind, ReduceKind::kMin>{});
      case ReduceKind::kLogSum: return go(std::integral_constant<ReduceKind, ReduceKind::kLogSum>{});
      case ReduceKind::kLogSumExp: return go(std::integral_constant<ReduceKind, ReduceKind::kLogSumExp>{});
    }
    return T{};
  }

  ReduceKind kind_;
  std::string op_;
  std::vector<int64_t> axes_;
  bool keepdims_;
  bool noop_with_empty_axes_;
  bool axes_from_input_;
};

KernelFactory ReduceFactory(ReduceKind kind, std::string op) {
  return [kind, op](const KernelInit& init) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    // Axes moved from the attribute to an optional second input in opset 13
    // (ReduceSum) and 18 (the others); whichever form the node uses is read.
    const bool axes_from_input = init.node.input_size() > 1 && !init.node.input(1).empty();
    if (axes_from_input && init.attrs.Has("axes")) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": axes given both as an attribute and as an input"));
    }
    const int64_t keepdims = init.attrs.GetInt("keepdims", 1);
    const int64_t noop = init.attrs.GetInt("noop_with_empty_axes", 0);
    return std::unique_ptr<OpKernel>(std::make_unique<ReduceKernel>(
        kind, op, axes_from_input ? std::vector<int64_t>{} : init.attrs.GetInts("axes"), keepdims != 0, noop != 0,
        axes_from_input));
  };
}

}  // namespace

void RegisterReduceOpKernels(KernelRegistry& registry) {
  const std::pair<const char*, ReduceKind> ops[] = {
      {"ReduceSum", ReduceKind::kSum},       {"ReduceSumSquare", ReduceKind::kSumSquare},
      {"ReduceL1", ReduceKind::kL1},         {"ReduceL2", ReduceKind::kL2},
      {"ReduceMean", ReduceKind::kMean},     {"ReduceProd", ReduceKind::kProd},
      {"ReduceMax", ReduceKind::kMax},       {"ReduceMin", ReduceKind::kMin},
      {"ReduceLogSum", ReduceKind::kLogSum}, {"ReduceLogSumExp", ReduceKind::kLogSumExp},
  };
  for (const auto& [name, kind] : ops) registry.Register(name, ReduceFactory(kind, name));
}

}  // namespace tessera::engine
