#include "worker/engine/kernels/conv_channels_last.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "worker/engine/kernels/gemm_blas.h"
#include "worker/engine/kernels/parallel.h"

namespace tessera::engine {
namespace {

constexpr int64_t kTile = 32;

// dst[j, i] = src[i, j] for a [rows, cols] row-major src, tiles of rows
// [row_begin, row_end) x all columns.
template <typename T>
void TransposeRows(const T* src, int64_t rows, int64_t cols, int64_t row_begin, int64_t row_end, T* dst) {
  for (int64_t i0 = row_begin; i0 < row_end; i0 += kTile) {
    const int64_t i1 = std::min(i0 + kTile, row_end);
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t j1 = std::min(j0 + kTile, cols);
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t j = j0; j < j1; ++j) dst[j * rows + i] = src[i * cols + j];
      }
    }
  }
}

// Batched [rows, cols] -> [cols, rows] transposes, parallel over (image, row tile).
template <typename T>
void BatchedTranspose(const T* src, int64_t batch, int64_t rows, int64_t cols, T* dst, int threads) {
  const int64_t tiles = (rows + kTile - 1) / kTile;
  const int64_t grain = std::max<int64_t>(1, (16 << 10) / std::max<int64_t>(1, kTile * cols));
  ParallelFor(threads, batch * tiles, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / tiles;
      const int64_t r0 = (t % tiles) * kTile;
      TransposeRows(src + n * rows * cols, rows, cols, r0, std::min(r0 + kTile, rows), dst + n * rows * cols);
    }
  });
}

}  // namespace

template <typename T>
void NchwToNhwc(const T* src, int64_t batch, int64_t channels, int64_t spatial, T* dst, int threads) {
  BatchedTranspose(src, batch, channels, spatial, dst, threads);
}

template <typename T>
void NhwcToNchw(const T* src, int64_t batch, int64_t channels, int64_t spatial, T* dst, int threads) {
  BatchedTranspose(src, batch, spatial, channels, dst, threads);
}

template void NchwToNhwc<float>(const float*, int64_t, int64_t, int64_t, float*, int);
template void NchwToNhwc<double>(const double*, int64_t, int64_t, int64_t, double*, int);
template void NhwcToNchw<float>(const float*, int64_t, int64_t, int64_t, float*, int);
template void NhwcToNchw<double>(const double*, int64_t, int64_t, int64_t, double*, int);

bool IsPointwiseConv(const ConvGeometry& g) {
  if (g.spatial_rank != 2 || g.group != 1) return false;
  for (int i = 0; i < 2; ++i) {
    if (g.kernel[i] != 1 || g.pads_begin[i] != 0 || g.pads_end[i] != 0) return false;
  }
  return true;
}

void PointwiseConvNhwc(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                       const float* residual, const FusedActivation& activation, float* y, int threads) {
  const int64_t c = g.in_channels, m = g.out_channels;
  const int64_t oh = g.out_spatial[0], ow = g.out_spatial[1];
  const int64_t ih = g.in_spatial[0], iw = g.in_spatial[1];
  const int64_t rows = g.batch * oh * ow;
  const bool strided = g.strides[0] != 1 || g.strides[1] != 1;
  // One chunk of rows per thread (the caller picks threads = 1 for small work).
  const int64_t grain = std::max<int64_t>(4, (rows + threads - 1) / threads);
  ParallelFor(threads, rows, grain, [&](int64_t begin, int64_t end) {
    const int64_t count = end - begin;
    const float* a = x + begin * c;
    std::vector<float> gathered;
    if (strided) {  // output row r = (n, i, j) reads input pixel (n, i * sh, j * sw)
      gathered.resize(static_cast<size_t>(count * c));
      for (int64_t r = begin; r < end; ++r) {
        const int64_t j = r % ow, i = (r / ow) % oh, n = r / (ow * oh);
        const float* src = x + ((n * ih + i * g.strides[0]) * iw + j * g.strides[1]) * c;
        std::memcpy(gathered.data() + (r - begin) * c, src, c * sizeof(float));
      }
      a = gathered.data();
    }
    float* out = y + begin * m;
    float beta = 0.0f;
    if (residual != nullptr) {
      std::memcpy(out, residual + begin * m, count * m * sizeof(float));
      beta = 1.0f;
    }
    if (bias != nullptr) {
      for (int64_t r = 0; r < count; ++r) {
        float* row = out + r * m;
        if (beta == 0.0f) {
          std::memcpy(row, bias, m * sizeof(float));
        } else {
          for (int64_t k = 0; k < m; ++k) row[k] += bias[k];
        }
      }
      beta = 1.0f;
    }
    BlasGemm(false, true, count, m, c, 1.0f, a, c, w, c, beta, out, m);
    activation.Apply(out, count * m);
  });
}

}  // namespace tessera::engine
