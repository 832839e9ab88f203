#include "worker/engine/kernels/conv_im2col.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "worker/engine/kernels/gemm_blas.h"
#include "worker/engine/kernels/parallel.h"

namespace tessera::engine {
namespace {

// Per-axis kernel tap offsets for kernel index `kidx`: base[i] = k_i * d_i - pad_i.
void KernelTapBase(const ConvGeometry& g, int64_t kidx, int64_t* base) {
  for (int i = g.spatial_rank - 1; i >= 0; --i) {
    const int64_t k = kidx % g.kernel[i];
    kidx /= g.kernel[i];
    base[i] = k * g.dilations[i] - g.pads_begin[i];
  }
}

// For positions o in [0, count) with source index o * s + base, the range
// [lo, hi) of o whose source index lies in [0, extent).
void ValidRange(int64_t base, int64_t s, int64_t extent, int64_t count, int64_t& lo, int64_t& hi) {
  // o * s + base >= 0  <=>  o >= ceil(-base / s)
  lo = base >= 0 ? 0 : (-base + s - 1) / s;
  // o * s + base <= extent - 1  <=>  o <= floor((extent - 1 - base) / s)
  const int64_t top = extent - 1 - base;
  hi = top < 0 ? 0 : top / s + 1;
  lo = std::min(lo, count);
  hi = std::clamp(hi, lo, count);
}

// Writes rows (c, kidx) of the im2col matrix for output positions [p0, p1)
// of one image and channel group; `xc` points at the group's first channel.
template <typename T>
void Im2colColumns(const ConvGeometry& g, int64_t channels, const T* xc, int64_t p0, int64_t p1, T* col) {
  const int r = g.spatial_rank;
  const int64_t kernel_size = g.KernelSize();
  const int64_t in_size = g.InSpatialSize();
  const int64_t inner_out = g.out_spatial[r - 1];
  const int64_t inner_in = g.in_spatial[r - 1];
  const int64_t inner_stride = g.strides[r - 1];
  const int64_t width = p1 - p0;
  int64_t base[8];
  int64_t outer[8];
  for (int64_t kidx = 0; kidx < kernel_size; ++kidx) {
    KernelTapBase(g, kidx, base);
    for (int64_t c = 0; c < channels; ++c) {
      T* dst = col + (c * kernel_size + kidx) * width;
      const T* xch = xc + c * in_size;
      int64_t p = p0;
      while (p < p1) {
        const int64_t ow0 = p % inner_out;
        const int64_t count = std::min(p1 - p, inner_out - ow0);
        int64_t rest = p / inner_out;
        for (int i = r - 2; i >= 0; --i) {
          outer[i] = rest % g.out_spatial[i];
          rest /= g.out_spatial[i];
        }
        bool valid = true;
        int64_t offset = 0;
        for (int i = 0; i < r - 1; ++i) {
          const int64_t ic = outer[i] * g.strides[i] + base[i];
          if (ic < 0 || ic >= g.in_spatial[i]) {
            valid = false;
            break;
          }
          offset = offset * g.in_spatial[i] + ic;
        }
        if (!valid) {
          std::fill(dst, dst + count, T(0));
        } else {
          const T* row = xch + offset * inner_in;
          // Source index of position j in this run: (ow0 + j) * s + base.
          const int64_t run_base = ow0 * inner_stride + base[r - 1];
          int64_t lo, hi;
          ValidRange(run_base, inner_stride, inner_in, count, lo, hi);
          std::fill(dst, dst + lo, T(0));
          if (inner_stride == 1) {
            std::copy(row + run_base + lo, row + run_base + hi, dst + lo);
          } else {
            for (int64_t j = lo; j < hi; ++j) dst[j] = row[j * inner_stride + run_base];
          }
          std::fill(dst + hi, dst + count, T(0));
        }
        dst += count;
        p += count;
      }
    }
  }
}

// Adds row (m, kidx) of the column matrix (one value per input position) into
// the output channel plane `ym`.
template <typename T>
void Col2imRow(const ConvGeometry& g, const int64_t* base, const T* src, T* ym) {
  const int r = g.spatial_rank;
  const int64_t inner_in = g.in_spatial[r - 1];
  const int64_t inner_out = g.out_spatial[r - 1];
  const int64_t inner_stride = g.strides[r - 1];
  const int64_t outer_count = g.InSpatialSize() / inner_in;
  int64_t outer[8];
  for (int64_t q = 0; q < outer_count; ++q) {
    int64_t rest = q;
    for (int i = r - 2; i >= 0; --i) {
      outer[i] = rest % g.in_spatial[i];
      rest /= g.in_spatial[i];
    }
    bool valid = true;
    int64_t offset = 0;
    for (int i = 0; i < r - 1; ++i) {
      const int64_t oc = outer[i] * g.strides[i] + base[i];
      if (oc < 0 || oc >= g.out_spatial[i]) {
        valid = false;
        break;
      }
      offset = offset * g.out_spatial[i] + oc;
    }
    if (!valid) continue;
    T* row = ym + offset * inner_out;
    const T* s = src + q * inner_in;
    int64_t lo, hi;
    ValidRange(base[r - 1], inner_stride, inner_out, inner_in, lo, hi);
    for (int64_t j = lo; j < hi; ++j) row[j * inner_stride + base[r - 1]] += s[j];
  }
}

template <typename T>
std::vector<T>& ThreadColumnBuffer() {
  thread_local std::vector<T> buffer;
  return buffer;
}

}  // namespace

template <typename T>
void Im2colConvolution(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, int threads) {
  const int64_t cg = g.in_channels / g.group;
  const int64_t mg = g.out_channels / g.group;
  const int64_t rows = cg * g.KernelSize();
  const int64_t out_size = g.OutSpatialSize();
  const int64_t in_size = g.InSpatialSize();
  bool pointwise = true;
  for (int i = 0; i < g.spatial_rank; ++i) {
    pointwise = pointwise && g.kernel[i] == 1 && g.strides[i] == 1 && g.pads_begin[i] == 0 && g.pads_end[i] == 0;
  }
  // Column blocks: enough to feed every thread, and small enough that the
  // im2col block stays in cache (about 1 MB of scratch).
  const int64_t images = g.batch * g.group;
  int64_t block_cols = std::max<int64_t>(256, (int64_t{256} << 10) / std::max<int64_t>(rows, 1));
  if (pointwise) block_cols = out_size;
  int64_t blocks = (out_size + block_cols - 1) / block_cols;
  const int64_t want = (threads + images - 1) / images;
  blocks = std::clamp<int64_t>(std::max(blocks, want), 1, std::max<int64_t>(1, out_size / 64));
  if (out_size == 0) return;
  const int64_t items = images * blocks;
  ParallelFor(threads, items, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t image = item / blocks, blk = item % blocks;
      const int64_t n = image / g.group, grp = image % g.group;
      const int64_t p0 = out_size * blk / blocks, p1 = out_size * (blk + 1) / blocks;
      const T* xg = x + (n * g.in_channels + grp * cg) * in_size;
      const T* wg = w + grp * mg * rows;
      T* yg = y + (n * g.out_channels + grp * mg) * out_size;
      const T* b_matrix = xg + p0;
      int64_t ldb = in_size;
      if (!pointwise) {
        std::vector<T>& col = ThreadColumnBuffer<T>();
        col.resize(rows * (p1 - p0));
        Im2colColumns(g, cg, xg, p0, p1, col.data());
        b_matrix = col.data();
        ldb = p1 - p0;
      }
      T beta = T(0);
      if (bias != nullptr) {
        for (int64_t m = 0; m < mg; ++m) std::fill(yg + m * out_size + p0, yg + m * out_size + p1, bias[grp * mg + m]);
        beta = T(1);
      }
      BlasGemm(false, false, mg, p1 - p0, rows, T(1), wg, rows, b_matrix, ldb, beta, yg + p0, out_size);
    }
  });
}

template <typename T>
void Col2imConvTranspose(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, int threads) {
  const int64_t cg = g.in_channels / g.group;
  const int64_t mg = g.out_channels / g.group;
  const int64_t kernel_size = g.KernelSize();
  const int64_t in_size = g.InSpatialSize();
  const int64_t out_size = g.OutSpatialSize();
  const int64_t images = g.batch * g.group;
  const int64_t blocks = std::clamp<int64_t>((threads + images - 1) / images, 1, mg);
  ParallelFor(threads, images * blocks, 1, [&](int64_t begin, int64_t end) {
    int64_t base[8];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t image = item / blocks, blk = item % blocks;
      const int64_t n = image / g.group, grp = image % g.group;
      const int64_t m0 = mg * blk / blocks, m1 = mg * (blk + 1) / blocks;
      const T* xg = x + (n * g.in_channels + grp * cg) * in_size;
      // W is [C, M/group, k...]: group grp's slice is a [cg, mg * K] matrix.
      const T* wg = w + grp * cg * mg * kernel_size;
      T* yg = y + (n * g.out_channels + grp * mg) * out_size;
      for (int64_t m = m0; m < m1; ++m) {
        std::fill(yg + m * out_size, yg + (m + 1) * out_size, bias != nullptr ? bias[grp * mg + m] : T(0));
      }
      if (m1 == m0 || in_size == 0) continue;
      std::vector<T>& col = ThreadColumnBuffer<T>();
      const int64_t rows = (m1 - m0) * kernel_size;
      col.resize(rows * in_size);
      // col[(m, k), q] = sum_c W[c, m, k] * X[c, q]
      BlasGemm(true, false, rows, in_size, cg, T(1), wg + m0 * kernel_size, mg * kernel_size, xg, in_size, T(0),
               col.data(), in_size);
      for (int64_t m = m0; m < m1; ++m) {
        for (int64_t kidx = 0; kidx < kernel_size; ++kidx) {
          KernelTapBase(g, kidx, base);
          Col2imRow(g, base, col.data() + ((m - m0) * kernel_size + kidx) * in_size, yg + m * out_size);
        }
      }
    }
  });
}

template void Im2colConvolution<float>(const ConvGeometry&, const float*, const float*, const float*, float*, int);
template void Im2colConvolution<double>(const ConvGeometry&, const double*, const double*, const double*, double*,
                                        int);
template void Col2imConvTranspose<float>(const ConvGeometry&, const float*, const float*, const float*, float*, int);
template void Col2imConvTranspose<double>(const ConvGeometry&, const double*, const double*, const double*, double*,
                                          int);

}  // namespace tessera::engine
