// Gather and GatherElements (int32 or int64 indices, negative indices count
// from the end of the axis).
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/broadcast.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/tensor_ops_common.h"

namespace tessera::engine::tensor_ops {
namespace {

// Checks every index lies in [-dim, dim); names the first one that does not.
template <typename I>
absl::Status CheckIndices(absl::string_view op, const I* idx, int64_t n, int64_t dim, int axis) {
  I lo = 0, hi = 0;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, idx[i]);
    hi = std::max(hi, idx[i]);
  }
  if (n == 0 || (lo >= -dim && hi < dim)) return absl::OkStatus();
  for (int64_t i = 0; i < n; ++i) {
    if (idx[i] < -dim || idx[i] >= dim) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": index ", idx[i], " (at position ", i,
                                                     ") is out of range [", -dim, ", ", dim - 1, "] for axis ",
                                                     axis, " of size ", dim));
    }
  }
  return absl::OkStatus();
}

template <typename I>
inline int64_t Wrap(I v, int64_t dim) {
  return v < 0 ? static_cast<int64_t>(v) + dim : static_cast<int64_t>(v);
}

absl::Status CheckIndexType(absl::string_view op, const Tensor& indices) {
  if (indices.dtype() == DataType::kInt32 || indices.dtype() == DataType::kInt64) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": indices must be int32 or int64, got ", DataTypeName(indices.dtype())));
}

// ---- Gather ----------------------------------------------------------------

// out[o, m, :] = data[o, idx[m], :] with o over data[:axis], m over the
// indices and ':' the contiguous block data[axis+1:].
template <typename I>
void GatherRows(const char* src, char* dst, const I* idx, int64_t outer, int64_t n_idx, int64_t dim,
                int64_t inner, size_t elem, int threads) {
  const int64_t items = outer * n_idx;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, inner));
  if (inner == 1) {
    DispatchElementSize(elem, [&](auto tag) {
      using U = decltype(tag);
      const U* s = reinterpret_cast<const U*>(src);
      U* d = reinterpret_cast<U*>(dst);
      ParallelFor(threads, items, grain, [&](int64_t begin, int64_t end) {
        int64_t o = begin / n_idx, m = begin % n_idx;
        for (int64_t it = begin; it < end; ++it) {
          d[it] = s[o * dim + Wrap(idx[m], dim)];
          if (++m == n_idx) m = 0, ++o;
        }
      });
    });
    return;
  }
  const size_t block = static_cast<size_t>(inner) * elem;
  ParallelFor(threads, items, grain, [&](int64_t begin, int64_t end) {
    int64_t o = begin / n_idx, m = begin % n_idx;
    for (int64_t it = begin; it < end; ++it) {
      std::memcpy(dst + it * block, src + (o * dim + Wrap(idx[m], dim)) * block, block);
      if (++m == n_idx) m = 0, ++o;
    }
  });
}

absl::StatusOr<std::unique_ptr<OpKernel>> CreateGather(const KernelInit& init) {
  const int64_t axis_attr = init.attrs.GetInt("axis", 0);
  return MakeKernel([axis_attr](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Gather", ctx, 0, "data"));
    TESSERA_ASSIGN_OR_RETURN(const Tensor* indices, RequiredInput("Gather", ctx, 1, "indices"));
    if (data->rank() == 0) return absl::InvalidArgumentError("Gather: data must have rank >= 1, got a scalar");
    TESSERA_RETURN_IF_ERROR(CheckIndexType("Gather", *indices));
    TESSERA_ASSIGN_OR_RETURN(int axis, NormalizeAxis("Gather", axis_attr, data->rank()));
    Shape out_shape(data->shape().begin(), data->shape().begin() + axis);
    out_shape.insert(out_shape.end(), indices->shape().begin(), indices->shape().end());
    out_shape.insert(out_shape.end(), data->shape().begin() + axis + 1, data->shape().end());
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= data->dim(d);
    for (int d = axis + 1; d < data->rank(); ++d) inner *= data->dim(d);
    const int64_t dim = data->dim(axis);
    const int64_t n_idx = indices->num_elements();
    return DispatchType<int32_t, int64_t>(indices->dtype(), [&](auto tag) -> absl::Status {
      using I = decltype(tag);
      const I* idx = indices->data<I>();
      TESSERA_RETURN_IF_ERROR(CheckIndices<I>("Gather", idx, n_idx, dim, axis));
      Tensor* out = ctx.AllocateOutput(0, data->dtype(), out_shape);
      if (out->num_elements() == 0) return absl::OkStatus();
      GatherRows<I>(static_cast<const char*>(data->raw_data()), static_cast<char*>(out->raw_data()), idx, outer,
                    n_idx, dim, inner, DataTypeSize(data->dtype()), ctx.num_threads());
      return absl::OkStatus();
    });
  });
}

// ---- GatherElements --------------------------------------------------------

// out[i0..ik] = data[i0..idx[i0..ik]..ik] (the index replaces the axis
// coordinate). Rows run along the last axis of the indices.
template <typename I, typename U>
void GatherElementsRows(const U* src, U* dst, const I* idx, const Shape& idx_shape,
                        const std::vector<int64_t>& data_strides, int axis, int64_t dim, int threads) {
  const int rank = static_cast<int>(idx_shape.size());
  const int64_t len = idx_shape[rank - 1];
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= idx_shape[d];
  const int64_t axis_stride = data_strides[axis];
  const bool along_last = axis == rank - 1;
  ParallelFor(threads, rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, len)),
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r) {
                  // Data offset of the row, without the axis coordinate.
                  int64_t base = 0, rem = r;
                  for (int d = rank - 2; d >= 0; --d) {
                    const int64_t c = rem % idx_shape[d];
                    rem /= idx_shape[d];
                    if (d != axis) base += c * data_strides[d];
                  }
                  const I* ir = idx + r * len;
                  U* out = dst + r * len;
                  if (along_last) {
                    const U* row = src + base;
                    for (int64_t j = 0; j < len; ++j) out[j] = row[Wrap(ir[j], dim)];
                  } else {
                    const U* row = src + base;
                    for (int64_t j = 0; j < len; ++j) out[j] = row[j + Wrap(ir[j], dim) * axis_stride];
                  }
                }
              });
}

absl::StatusOr<std::unique_ptr<OpKernel>> CreateGatherElements(const KernelInit& init) {
  const int64_t axis_attr = init.attrs.GetInt("axis", 0);
  return MakeKernel([axis_attr](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("GatherElements", ctx, 0, "data"));
    TESSERA_ASSIGN_OR_RETURN(const Tensor* indices, RequiredInput("GatherElements", ctx, 1, "indices"));
    TESSERA_RETURN_IF_ERROR(CheckIndexType("GatherElements", *indices));
    const int rank = data->rank();
    if (rank == 0) return absl::InvalidArgumentError("GatherElements: data must have rank >= 1, got a scalar");
    if (indices->rank() != rank) {
      return absl::InvalidArgumentError(absl::StrCat("GatherElements: indices rank ", indices->rank(),
                                                     " differs from data rank ", rank));
    }
    TESSERA_ASSIGN_OR_RETURN(int axis, NormalizeAxis("GatherElements", axis_attr, rank));
    for (int d = 0; d < rank; ++d) {
      if (d != axis && indices->dim(d) > data->dim(d)) {
        return absl::InvalidArgumentError(absl::StrCat("GatherElements: indices shape ",
                                                       ShapeToString(indices->shape()), " exceeds data shape ",
                                                       ShapeToString(data->shape()), " on axis ", d));
      }
    }
    const int64_t dim = data->dim(axis);
    return DispatchType<int32_t, int64_t>(indices->dtype(), [&](auto tag) -> absl::Status {
      using I = decltype(tag);
      const I* idx = indices->data<I>();
      TESSERA_RETURN_IF_ERROR(CheckIndices<I>("GatherElements", idx, indices->num_elements(), dim, axis));
      Tensor* out = ctx.AllocateOutput(0, data->dtype(), indices->shape());
      if (out->num_elements() == 0) return absl::OkStatus();
      const std::vector<int64_t> strides = ContiguousStrides(data->shape());
      DispatchElementSize(DataTypeSize(data->dtype()), [&](auto utag) {
        using U = decltype(utag);
        GatherElementsRows<I, U>(data->data<U>(), out->data<U>(), idx, indices->shape(), strides, axis, dim,
                                 ctx.num_threads());
      });
      return absl::OkStatus();
    });
  });
}

}  // namespace

void RegisterGatherKernels(KernelRegistry& registry) {
  RegisterOp(registry, "Gather", CreateGather);
  RegisterOp(registry, "GatherElements", CreateGatherElements);
}

}  // namespace tessera::engine::tensor_ops
