// Data-movement primitives for the tensor kernels: strided n-D copies (with
// broadcast and reversed strides), transposition, parallel memcpy and fill.
//
// Everything works on raw elements of `elem_size` bytes (1, 2, 4 or 8), so a
// kernel moves any element type without a per-type instantiation. All
// functions are thread-safe for disjoint destinations and use up to
// `threads` OpenMP threads for large work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/tensor.h"

namespace tessera::engine::tensor_ops {

// For every index i of `shape`:
//   dst[sum_d i_d * dst_strides[d]] = src[sum_d i_d * src_strides[d]].
// Strides are in elements; source strides may be 0 (broadcast) or negative
// (reversed slices). Adjacent dimensions are merged first; contiguous rows
// move with memcpy and broadcast rows with fill.
void CopyStrided(size_t elem_size, const Shape& shape, const std::vector<int64_t>& src_strides, const void* src,
                 const std::vector<int64_t>& dst_strides, void* dst, int threads);

// As CopyStrided with a contiguous (row-major) destination.
void CopyStridedToContiguous(size_t elem_size, const Shape& shape, const std::vector<int64_t>& src_strides,
                             const void* src, void* dst, int threads);

// dst = src transposed by `perm` (output axis i is input axis perm[i]); both
// contiguous. `perm` must be a valid permutation of [0, rank). Size-1 axes
// are dropped and axes that stay adjacent are merged; a permutation that
// keeps the innermost axis innermost moves whole rows with memcpy
// (e.g. [B,S,H,D] -> [B,H,S,D]); otherwise the innermost plane is
// transposed in cache-sized tiles.
void TransposeContiguous(size_t elem_size, const Shape& in_shape, const std::vector<int>& perm, const void* src,
                         void* dst, int threads);

// memcpy, split across threads when large.
void ParallelMemcpy(void* dst, const void* src, size_t bytes, int threads);

// Writes the element at `value` (elem_size bytes) to dst[0, count).
void FillElements(size_t elem_size, void* dst, int64_t count, const void* value, int threads);

}  // namespace tessera::engine::tensor_ops
