#include "worker/engine/kernels/conv_winograd.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "worker/engine/kernels/gemm_blas.h"

// Lane vectors are GCC/Clang vector extensions: AVX registers with
// -march=native, pairs of SSE registers otherwise (the ABI note GCC gives for
// the latter does not matter to functions internal to this file).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace tessera::engine {
namespace {

constexpr int64_t kLanes = 8;      // nChw8c channel block
constexpr int kInTile = 6;         // input tile edge: 4 outputs + 3 taps - 1
constexpr int kOutTile = 4;        // output tile edge
constexpr int kPositions = kInTile * kInTile;

// Transformed input plus output of one chunk of tiles stays within this many
// bytes (L2 + a share of L3 on the machines measured); at least
// kMinChunkTiles tiles so the GEMMs have rows to work with.
constexpr int64_t kChunkBytes = 2 << 20;
constexpr int64_t kMinChunkTiles = 32;

using Vec8 = float __attribute__((vector_size(kLanes * sizeof(float))));

inline Vec8 Load(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void Store(float* p, Vec8 v) { std::memcpy(p, &v, sizeof v); }

// r = B^T d for one line of the tile (points 0, 1, -1, 2, -2 and infinity).
inline void InputTransformLine(const Vec8* d, int64_t stride, Vec8* r, int64_t rstride) {
  const Vec8 d0 = d[0], d1 = d[stride], d2 = d[2 * stride], d3 = d[3 * stride], d4 = d[4 * stride],
             d5 = d[5 * stride];
  r[0] = 4.0f * d0 - 5.0f * d2 + d4;
  r[rstride] = -4.0f * (d1 + d2) + d3 + d4;
  r[2 * rstride] = 4.0f * (d1 - d2) - d3 + d4;
  r[3 * rstride] = 2.0f * (d3 - d1) - d2 + d4;
  r[4 * rstride] = 2.0f * (d1 - d3) - d2 + d4;
  r[5 * rstride] = 4.0f * d1 - 5.0f * d3 + d5;
}

// o = A^T m for one line of the transformed tile.
inline void OutputTransformLine(const Vec8* m, int64_t stride, Vec8* o, int64_t ostride) {
  const Vec8 m0 = m[0], m1 = m[stride], m2 = m[2 * stride], m3 = m[3 * stride], m4 = m[4 * stride],
             m5 = m[5 * stride];
  const Vec8 s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
  o[0] = m0 + s12 + s34;
  o[ostride] = d12 + 2.0f * d34;
  o[2 * ostride] = s12 + 4.0f * s34;
  o[3 * ostride] = d12 + 8.0f * d34 + m5;
}

// G (6x3) of F(4, 3) for the same points.
constexpr double kG[kInTile][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

struct TileGrid {
  int64_t height, width;          // input plane
  int64_t out_height, out_width;  // output plane
  int64_t pad_top, pad_left;
  int64_t tiles_h, tiles_w;
  int64_t tiles_per_image;

  explicit TileGrid(const ConvGeometry& g)
      : height(g.in_spatial[0]),
        width(g.in_spatial[1]),
        out_height(g.out_spatial[0]),
        out_width(g.out_spatial[1]),
        pad_top(g.pads_begin[0]),
        pad_left(g.pads_begin[1]),
        tiles_h((out_height + kOutTile - 1) / kOutTile),
        tiles_w((out_width + kOutTile - 1) / kOutTile),
        tiles_per_image(tiles_h * tiles_w) {}
};

// Transforms the 6x6 input tile at (iy0, ix0) of one channel block's plane
// ([H][W][8], zero outside) into v[p * position_stride] for the 36 positions.
void TransformInputTile(const float* plane, const TileGrid& grid, int64_t iy0, int64_t ix0, float* v,
                        int64_t position_stride) {
  Vec8 d[kInTile][kInTile];
  const bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + kInTile <= grid.height && ix0 + kInTile <= grid.width;
  for (int i = 0; i < kInTile; ++i) {
    const int64_t iy = iy0 + i;
    for (int j = 0; j < kInTile; ++j) {
      const int64_t ix = ix0 + j;
      if (inside || (iy >= 0 && iy < grid.height && ix >= 0 && ix < grid.width)) {
        d[i][j] = Load(plane + (iy * grid.width + ix) * kLanes);
      } else {
        d[i][j] = Vec8{};
      }
    }
  }
  Vec8 t[kInTile][kInTile];
  for (int j = 0; j < kInTile; ++j) InputTransformLine(&d[0][j], kInTile, &t[0][j], kInTile);
  Vec8 r[kInTile][kInTile];
  for (int i = 0; i < kInTile; ++i) InputTransformLine(&t[i][0], 1, &r[i][0], 1);
  for (int i = 0; i < kInTile; ++i) {
    for (int j = 0; j < kInTile; ++j) Store(v + (i * kInTile + j) * position_stride, r[i][j]);
  }
}

}  // namespace

bool WinogradConvolution::Supports(const ConvGeometry& g) {
  return g.spatial_rank == 2 && g.group == 1 && g.kernel[0] == 3 && g.kernel[1] == 3 && g.strides[0] == 1 &&
         g.strides[1] == 1 && g.dilations[0] == 1 && g.dilations[1] == 1 && g.in_channels % kLanes == 0 &&
         g.out_channels % kLanes == 0 && g.in_channels > 0 && g.out_channels > 0;
}

bool WinogradConvolution::PrefersWinograd(const ConvGeometry& g) {
  if (!Supports(g)) return false;
  const TileGrid grid(g);
  return g.in_channels >= 32 && g.out_channels >= 32 && g.batch * grid.tiles_per_image >= 16;
}

WinogradConvolution::WinogradConvolution(int64_t out_channels, int64_t in_channels, const float* weights,
                                         FusedActivation activation)
    : out_channels_(out_channels),
      in_channels_(in_channels),
      activation_(activation),
      transformed_weights_(kPositions * in_channels * out_channels) {
  const int64_t plane = in_channels * out_channels;
  for (int64_t m = 0; m < out_channels; ++m) {
    for (int64_t c = 0; c < in_channels; ++c) {
      const float* g = weights + (m * in_channels + c) * 9;
      double gg[kInTile][3];  // G g
      for (int i = 0; i < kInTile; ++i) {
        for (int k = 0; k < 3; ++k) gg[i][k] = kG[i][0] * g[k] + kG[i][1] * g[3 + k] + kG[i][2] * g[6 + k];
      }
      for (int i = 0; i < kInTile; ++i) {
        for (int j = 0; j < kInTile; ++j) {
          const double u = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];  // (G g) G^T
          transformed_weights_[(i * kInTile + j) * plane + c * out_channels + m] = static_cast<float>(u);
        }
      }
    }
  }
}

void WinogradConvolution::Run(const ConvGeometry& g, const float* x, const float* bias, const float* z, float* y,
                              int threads) const {
  const TileGrid grid(g);
  const int64_t C = in_channels_, M = out_channels_;
  const int64_t c_blocks = C / kLanes, m_blocks = M / kLanes;
  const int64_t total_tiles = g.batch * grid.tiles_per_image;
  const int64_t chunk = std::min(
      total_tiles, std::max<int64_t>(kMinChunkTiles, kChunkBytes / (kPositions * (C + M) * int64_t{sizeof(float)})));
  std::unique_ptr<float[]> transformed_input = std::make_unique_for_overwrite<float[]>(kPositions * chunk * C);
  std::unique_ptr<float[]> transformed_output = std::make_unique_for_overwrite<float[]>(kPositions * chunk * M);
  float* const v = transformed_input.get();
  float* const mo = transformed_output.get();
  const float* const u = transformed_weights_.data();
  const int64_t in_plane = grid.height * grid.width * kLanes;
  const int64_t out_plane = grid.out_height * grid.out_width * kLanes;

#pragma omp parallel num_threads(threads)
  for (int64_t first = 0; first < total_tiles; first += chunk) {
    const int64_t count = std::min(chunk, total_tiles - first);
    // 1. Input transform: V[p][t][c] for the chunk's tiles.
#pragma omp for schedule(static)
    for (int64_t item = 0; item < c_blocks * count; ++item) {
      const int64_t cb = item / count, t = item % count;
      const int64_t tile = first + t, n = tile / grid.tiles_per_image, r = tile % grid.tiles_per_image;
      const int64_t ty = r / grid.tiles_w, tx = r % grid.tiles_w;
      TransformInputTile(x + (n * c_blocks + cb) * in_plane, grid, ty * kOutTile - grid.pad_top,
                         tx * kOutTile - grid.pad_left, v + t * C + cb * kLanes, count * C);
    }
    // 2. One GEMM per position: Mo[p] (count x M) = V[p] (count x C) U[p] (C x M).
#pragma omp for schedule(static)
    for (int p = 0; p < kPositions; ++p) {
      BlasGemm(false, false, count, M, C, 1.0f, v + p * count * C, C, u + p * C * M, M, 0.0f, mo + p * count * M, M);
    }
    // 3. Output transform with bias, residual and activation.
#pragma omp for schedule(static)
    for (int64_t item = 0; item < m_blocks * count; ++item) {
      const int64_t mb = item / count, t = item % count;
      const int64_t tile = first + t, n = tile / grid.tiles_per_image, r = tile % grid.tiles_per_image;
      const int64_t oy0 = r / grid.tiles_w * kOutTile, ox0 = r % grid.tiles_w * kOutTile;
      Vec8 m[kInTile][kInTile];
      for (int p = 0; p < kPositions; ++p) m[p / kInTile][p % kInTile] = Load(mo + (p * count + t) * M + mb * kLanes);
      Vec8 s[kOutTile][kInTile];
      for (int j = 0; j < kInTile; ++j) OutputTransformLine(&m[0][j], kInTile, &s[0][j], kInTile);
      Vec8 out[kOutTile][kOutTile];
      for (int i = 0; i < kOutTile; ++i) OutputTransformLine(&s[i][0], 1, &out[i][0], 1);
      const Vec8 b = bias != nullptr ? Load(bias + mb * kLanes) : Vec8{};
      const int64_t plane_offset = (n * m_blocks + mb) * out_plane;
      const int64_t rows = std::min<int64_t>(kOutTile, grid.out_height - oy0);
      const int64_t cols = std::min<int64_t>(kOutTile, grid.out_width - ox0);
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t offset = plane_offset + ((oy0 + i) * grid.out_width + ox0) * kLanes;
        Vec8 row[kOutTile];
        for (int64_t j = 0; j < cols; ++j) {
          row[j] = out[i][j] + b;
          if (z != nullptr) row[j] += Load(z + offset + j * kLanes);
        }
        float* dst = y + offset;
        std::memcpy(dst, row, cols * sizeof(Vec8));
        activation_.Apply(dst, cols * kLanes);
      }
    }
  }
}

}  // namespace tessera::engine
