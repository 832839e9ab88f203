#include "worker/engine/kernels/tensor_ops_copy.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "worker/engine/kernels/broadcast.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/tensor_ops_common.h"

namespace tessera::engine::tensor_ops {
namespace {

struct StridedDim {
  int64_t size;
  int64_t src_stride;
  int64_t dst_stride;
};

// Drops size-1 dimensions and merges a dimension into its outer neighbour
// when both strides are contiguous across them.
std::vector<StridedDim> SimplifyDims(const Shape& shape, const std::vector<int64_t>& src_strides,
                                     const std::vector<int64_t>& dst_strides) {
  std::vector<StridedDim> dims;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!dims.empty()) {
      StridedDim& outer = dims.back();
      if (outer.src_stride == src_strides[i] * shape[i] && outer.dst_stride == dst_strides[i] * shape[i]) {
        outer.size *= shape[i];
        outer.src_stride = src_strides[i];
        outer.dst_stride = dst_strides[i];
        continue;
      }
    }
    dims.push_back({shape[i], src_strides[i], dst_strides[i]});
  }
  return dims;
}

// Odometer over the outer dimensions of a strided copy, tracking the source
// and destination element offsets of the current row.
class RowCursor {
 public:
  RowCursor(const std::vector<StridedDim>& outer, int64_t row) : outer_(outer), index_(outer.size(), 0) {
    for (int k = static_cast<int>(outer.size()) - 1; k >= 0; --k) {
      index_[k] = row % outer[k].size;
      row /= outer[k].size;
      src_ += index_[k] * outer[k].src_stride;
      dst_ += index_[k] * outer[k].dst_stride;
    }
  }
  int64_t src() const { return src_; }
  int64_t dst() const { return dst_; }
  void Next() {
    for (int k = static_cast<int>(outer_.size()) - 1; k >= 0; --k) {
      src_ += outer_[k].src_stride;
      dst_ += outer_[k].dst_stride;
      if (++index_[k] < outer_[k].size) return;
      src_ -= outer_[k].src_stride * outer_[k].size;
      dst_ -= outer_[k].dst_stride * outer_[k].size;
      index_[k] = 0;
    }
  }

 private:
  const std::vector<StridedDim>& outer_;
  std::vector<int64_t> index_;
  int64_t src_ = 0;
  int64_t dst_ = 0;
};

template <typename U>
void CopyRows(const std::vector<StridedDim>& outer, const StridedDim& inner, const U* src, U* dst, int threads) {
  int64_t rows = 1;
  for (const auto& d : outer) rows *= d.size;
  const int64_t n = inner.size;
  const int64_t ss = inner.src_stride, ds = inner.dst_stride;
  ParallelFor(threads, rows, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t begin, int64_t end) {
    RowCursor cursor(outer, begin);
    for (int64_t r = begin; r < end; ++r, cursor.Next()) {
      const U* s = src + cursor.src();
      U* d = dst + cursor.dst();
      if (ss == 1 && ds == 1) {
        std::memcpy(d, s, static_cast<size_t>(n) * sizeof(U));
      } else if (ss == 0 && ds == 1) {
        std::fill(d, d + n, *s);
      } else if (ds == 1) {
        for (int64_t j = 0; j < n; ++j) d[j] = s[j * ss];
      } else {
        for (int64_t j = 0; j < n; ++j) d[j * ds] = s[j * ss];
      }
    }
  });
}

// Tiled transpose of the innermost plane: for every outer offset,
//   dst[a * dst_a_stride + b] = src[b * src_b_stride + a],  a < a_size, b < b_size.
template <typename U>
void TransposePlanes(const std::vector<StridedDim>& outer, int64_t a_size, int64_t b_size, int64_t src_b_stride,
                     int64_t dst_a_stride, const U* src, U* dst, int threads) {
  constexpr int64_t kTile = 16;
  int64_t planes = 1;
  for (const auto& d : outer) planes *= d.size;
  const int64_t b_tiles = (b_size + kTile - 1) / kTile;
  const int64_t items = planes * b_tiles;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / (kTile * a_size));
  ParallelFor(threads, items, grain, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t plane = item / b_tiles;
      const int64_t b0 = (item % b_tiles) * kTile;
      const int64_t b1 = std::min(b_size, b0 + kTile);
      RowCursor cursor(outer, plane);
      const U* s = src + cursor.src();
      U* d = dst + cursor.dst();
      for (int64_t a0 = 0; a0 < a_size; a0 += kTile) {
        const int64_t a1 = std::min(a_size, a0 + kTile);
        for (int64_t a = a0; a < a1; ++a) {
          U* drow = d + a * dst_a_stride;
          const U* scol = s + a;
          for (int64_t b = b0; b < b1; ++b) drow[b] = scol[b * src_b_stride];
        }
      }
    }
  });
}

}  // namespace

void CopyStrided(size_t elem_size, const Shape& shape, const std::vector<int64_t>& src_strides, const void* src,
                 const std::vector<int64_t>& dst_strides, void* dst, int threads) {
  if (NumElements(shape) == 0) return;
  std::vector<StridedDim> dims = SimplifyDims(shape, src_strides, dst_strides);
  if (dims.empty()) {
    std::memcpy(dst, src, elem_size);
    return;
  }
  const StridedDim inner = dims.back();
  dims.pop_back();
  if (dims.empty() && inner.src_stride == 1 && inner.dst_stride == 1) {
    ParallelMemcpy(dst, src, static_cast<size_t>(inner.size) * elem_size, threads);
    return;
  }
  DispatchElementSize(elem_size, [&](auto tag) {
    using U = decltype(tag);
    CopyRows<U>(dims, inner, static_cast<const U*>(src), static_cast<U*>(dst), threads);
  });
}

void CopyStridedToContiguous(size_t elem_size, const Shape& shape, const std::vector<int64_t>& src_strides,
                             const void* src, void* dst, int threads) {
  CopyStrided(elem_size, shape, src_strides, src, ContiguousStrides(shape), dst, threads);
}

void TransposeContiguous(size_t elem_size, const Shape& in_shape, const std::vector<int>& perm, const void* src,
                         void* dst, int threads) {
  const int64_t total = NumElements(in_shape);
  if (total == 0) return;
  // Drop size-1 axes.
  std::vector<int> kept_index(in_shape.size(), -1);
  Shape kept_shape;
  for (size_t i = 0; i < in_shape.size(); ++i) {
    if (in_shape[i] == 1) continue;
    kept_index[i] = static_cast<int>(kept_shape.size());
    kept_shape.push_back(in_shape[i]);
  }
  std::vector<int> kept_perm;
  for (int axis : perm) {
    if (in_shape[axis] != 1) kept_perm.push_back(kept_index[axis]);
  }
  // Merge runs of axes that are consecutive in both input and output order.
  std::vector<int64_t> group_size;   // in output order
  std::vector<int> group_first_in;   // first input axis of each group
  for (size_t j = 0; j < kept_perm.size(); ++j) {
    if (j > 0 && kept_perm[j] == kept_perm[j - 1] + 1) {
      group_size.back() *= kept_shape[kept_perm[j]];
    } else {
      group_size.push_back(kept_shape[kept_perm[j]]);
      group_first_in.push_back(kept_perm[j]);
    }
  }
  const int rank = static_cast<int>(group_size.size());
  if (rank <= 1) {
    ParallelMemcpy(dst, src, static_cast<size_t>(total) * elem_size, threads);
    return;
  }
  // Input axis of each group = its rank by first input axis.
  std::vector<int> order(rank);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int x, int y) { return group_first_in[x] < group_first_in[y]; });
  std::vector<int> merged_perm(rank);
  Shape merged_in(rank), merged_out(rank);
  for (int in_axis = 0; in_axis < rank; ++in_axis) {
    merged_perm[order[in_axis]] = in_axis;
    merged_in[in_axis] = group_size[order[in_axis]];
  }
  for (int g = 0; g < rank; ++g) merged_out[g] = group_size[g];
  const std::vector<int64_t> in_strides = ContiguousStrides(merged_in);
  const std::vector<int64_t> out_strides = ContiguousStrides(merged_out);

  if (merged_perm[rank - 1] == rank - 1) {
    // The innermost axis stays innermost: rows of merged_in[rank-1] elements.
    std::vector<int64_t> src_strides(rank);
    for (int i = 0; i < rank; ++i) src_strides[i] = in_strides[merged_perm[i]];
    CopyStrided(elem_size, merged_out, src_strides, src, out_strides, dst, threads);
    return;
  }
  int a_axis_out = 0;  // output position of the input's innermost axis
  while (merged_perm[a_axis_out] != rank - 1) ++a_axis_out;
  const int b_axis_in = merged_perm[rank - 1];
  std::vector<StridedDim> outer;
  for (int i = 0; i < rank - 1; ++i) {
    if (i == a_axis_out) continue;
    outer.push_back({merged_out[i], in_strides[merged_perm[i]], out_strides[i]});
  }
  const int64_t a_size = merged_in[rank - 1];
  const int64_t b_size = merged_in[b_axis_in];
  DispatchElementSize(elem_size, [&](auto tag) {
    using U = decltype(tag);
    TransposePlanes<U>(outer, a_size, b_size, in_strides[b_axis_in], out_strides[a_axis_out],
                       static_cast<const U*>(src), static_cast<U*>(dst), threads);
  });
}

void ParallelMemcpy(void* dst, const void* src, size_t bytes, int threads) {
  constexpr size_t kChunk = size_t{256} << 10;
  if (bytes == 0) return;
  if (threads <= 1 || bytes < 2 * kChunk) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const int64_t chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
  ParallelFor(threads, chunks, 1, [&](int64_t begin, int64_t end) {
    const size_t from = static_cast<size_t>(begin) * kChunk;
    const size_t to = std::min(bytes, static_cast<size_t>(end) * kChunk);
    std::memcpy(static_cast<char*>(dst) + from, static_cast<const char*>(src) + from, to - from);
  });
}

void FillElements(size_t elem_size, void* dst, int64_t count, const void* value, int threads) {
  if (count <= 0) return;
  DispatchElementSize(elem_size, [&](auto tag) {
    using U = decltype(tag);
    U v;
    std::memcpy(&v, value, sizeof(U));
    U* d = static_cast<U*>(dst);
    ParallelFor(threads, count, 4 * kParallelGrain, [&](int64_t begin, int64_t end) {
      std::fill(d + begin, d + end, v);
    });
  });
}

}  // namespace tessera::engine::tensor_ops
