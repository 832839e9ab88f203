#include "worker/engine/kernels/tensor_ops_copy.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#if defined(__AVX__)
#include <immintrin.h>
#endif

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

// Scalar transpose of an a_n x b_n block: d[a * das + b] = s[b * sbs + a].
template <typename U>
inline void TransposeBlockScalar(const U* s, int64_t sbs, U* d, int64_t das, int64_t a_n, int64_t b_n) {
  for (int64_t a = 0; a < a_n; ++a) {
    for (int64_t b = 0; b < b_n; ++b) d[a * das + b] = s[b * sbs + a];
  }
}

// Side of the register-blocked micro-kernel for elements of type U (0: none).
template <typename U>
constexpr int64_t MicroKernelSize() {
#if defined(__AVX__)
  if constexpr (sizeof(U) == 4) return 8;
  if constexpr (sizeof(U) == 8) return 4;
#endif
  return 0;
}

#if defined(__AVX__)
// 8x8 transpose of 32-bit elements (moved as float bit patterns, no
// arithmetic, so any 4-byte type is preserved exactly).
inline void TransposeMicro(const uint32_t* src, int64_t sbs, uint32_t* dst, int64_t das) {
  const float* s = reinterpret_cast<const float*>(src);
  float* d = reinterpret_cast<float*>(dst);
  __m256 r0 = _mm256_loadu_ps(s + 0 * sbs), r1 = _mm256_loadu_ps(s + 1 * sbs);
  __m256 r2 = _mm256_loadu_ps(s + 2 * sbs), r3 = _mm256_loadu_ps(s + 3 * sbs);
  __m256 r4 = _mm256_loadu_ps(s + 4 * sbs), r5 = _mm256_loadu_ps(s + 5 * sbs);
  __m256 r6 = _mm256_loadu_ps(s + 6 * sbs), r7 = _mm256_loadu_ps(s + 7 * sbs);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(d + 0 * das, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(d + 1 * das, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(d + 2 * das, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(d + 3 * das, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(d + 4 * das, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(d + 5 * das, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(d + 6 * das, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(d + 7 * das, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// 4x4 transpose of 64-bit elements (moved as double bit patterns).
inline void TransposeMicro(const uint64_t* src, int64_t sbs, uint64_t* dst, int64_t das) {
  const double* s = reinterpret_cast<const double*>(src);
  double* d = reinterpret_cast<double*>(dst);
  const __m256d r0 = _mm256_loadu_pd(s + 0 * sbs), r1 = _mm256_loadu_pd(s + 1 * sbs);
  const __m256d r2 = _mm256_loadu_pd(s + 2 * sbs), r3 = _mm256_loadu_pd(s + 3 * sbs);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(d + 0 * das, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(d + 1 * das, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(d + 2 * das, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(d + 3 * das, _mm256_permute2f128_pd(t1, t3, 0x31));
}
#endif

// Transposes source rows [b0, b1) of one plane across all a_size columns:
// d[a * das + b] = s[b * sbs + a]. Full K x K blocks use the micro-kernel;
// the column sweep is outermost so each destination row gets whole cache
// lines from the b-rows of this tile.
template <typename U>
void TransposeRowTile(const U* s, int64_t sbs, U* d, int64_t das, int64_t a_size, int64_t b0, int64_t b1) {
  constexpr int64_t K = MicroKernelSize<U>();
  int64_t b_full = b0;
  if constexpr (K > 0) {
    b_full = b0 + (b1 - b0) / K * K;
    int64_t a = 0;
    for (; a + K <= a_size; a += K) {
      for (int64_t b = b0; b < b_full; b += K) TransposeMicro(s + b * sbs + a, sbs, d + a * das + b, das);
    }
    if (a < a_size) TransposeBlockScalar(s + b0 * sbs + a, sbs, d + a * das + b0, das, a_size - a, b_full - b0);
  }
  if (b_full < b1) {
    constexpr int64_t kCols = 16;
    for (int64_t a = 0; a < a_size; a += kCols) {
      TransposeBlockScalar(s + b_full * sbs + a, sbs, d + a * das + b_full, das, std::min(kCols, a_size - a),
                           b1 - b_full);
    }
  }
}

// Transposes the innermost plane for every outer offset:
//   dst[a * dst_a_stride + b] = src[b * src_b_stride + a],  a < a_size, b < b_size.
// Work items are (plane, tile of source rows).
template <typename U>
void TransposePlanes(const std::vector<StridedDim>& outer, int64_t a_size, int64_t b_size, int64_t src_b_stride,
                     int64_t dst_a_stride, const U* src, U* dst, int threads) {
  // About kTileElements per item (16..256 rows, a multiple of 16), so narrow
  // planes still write long runs of each destination row.
  constexpr int64_t kTileElements = 4096;
  const int64_t row_tile = std::clamp<int64_t>((kTileElements / std::max<int64_t>(1, a_size) + 15) / 16 * 16, 16, 256);
  int64_t planes = 1;
  for (const auto& d : outer) planes *= d.size;
  const int64_t b_tiles = (b_size + row_tile - 1) / row_tile;
  const int64_t items = planes * b_tiles;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / (row_tile * a_size));
  ParallelFor(threads, items, grain, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t plane = item / b_tiles;
      const int64_t b0 = (item % b_tiles) * row_tile;
      const int64_t b1 = std::min(b_size, b0 + row_tile);
      RowCursor cursor(outer, plane);
      TransposeRowTile<U>(src + cursor.src(), src_b_stride, dst + cursor.dst(), dst_a_stride, a_size, b0, b1);
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
  std::vector<int64_t> group_size;  // in output order
  std::vector<int> group_first_in;  // first input axis of each group
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
    ParallelFor(threads, count, 4 * kParallelGrain,
                [&](int64_t begin, int64_t end) { std::fill(d + begin, d + end, v); });
  });
}

}  // namespace tessera::engine::tensor_ops
