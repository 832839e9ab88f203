// ai.tessera.ReorderLayout and the layout conversions of reorder_layout.h.
#include "worker/engine/kernels/reorder_layout.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/kernel_groups.h"
#include "worker/engine/kernels/parallel.h"

namespace tessera::engine {
namespace {

constexpr int64_t kGrainElements = 16 << 10;
constexpr int64_t kB = kChannelBlock;

// Each conversion is parallel over (image, channel block) pairs: `blocks` =
// batch * channels / 8 units of 8 * spatial elements each.
template <typename T>
void Run(int threads, int64_t units, int64_t unit_elements, const T& body) {
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, unit_elements));
  ParallelFor(threads, units, grain, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) body(u);
  });
}

// NCHW -> NCHW8c: per (image, block) an [8, S] -> [S, 8] transpose.
template <typename T>
void NchwToBlocked(const T* src, int64_t batch, int64_t channels, int64_t spatial, T* dst, int threads) {
  Run(threads, batch * channels / kB, kB * spatial, [&](int64_t u) {
    const T* s = src + u * kB * spatial;
    T* d = dst + u * kB * spatial;
    for (int64_t i = 0; i < spatial; ++i) {
      for (int64_t k = 0; k < kB; ++k) d[i * kB + k] = s[k * spatial + i];
    }
  });
}

// NCHW8c -> NCHW: per (image, block) an [S, 8] -> [8, S] transpose.
template <typename T>
void BlockedToNchw(const T* src, int64_t batch, int64_t channels, int64_t spatial, T* dst, int threads) {
  Run(threads, batch * channels / kB, kB * spatial, [&](int64_t u) {
    const T* s = src + u * kB * spatial;
    T* d = dst + u * kB * spatial;
    // 8x8 tiles: read 8 contiguous pixels x 8 channels, write 8 rows of 8.
    int64_t i0 = 0;
    for (; i0 + kB <= spatial; i0 += kB) {
      T tile[kB][kB];
      for (int64_t j = 0; j < kB; ++j) {
        for (int64_t k = 0; k < kB; ++k) tile[k][j] = s[(i0 + j) * kB + k];
      }
      for (int64_t k = 0; k < kB; ++k) {
        for (int64_t j = 0; j < kB; ++j) d[k * spatial + i0 + j] = tile[k][j];
      }
    }
    for (; i0 < spatial; ++i0) {
      for (int64_t k = 0; k < kB; ++k) d[k * spatial + i0] = s[i0 * kB + k];
    }
  });
}

// NHWC <-> NCHW8c: 8-element chunks move between [N, S, C] and [N, C/8, S, 8].
template <typename T>
void NhwcBlocked(const T* src, bool to_blocked, int64_t batch, int64_t channels, int64_t spatial, T* dst,
                 int threads) {
  const int64_t blocks = channels / kB;
  Run(threads, batch * blocks, kB * spatial, [&](int64_t u) {
    const int64_t n = u / blocks, cb = u % blocks;
    T* blocked = to_blocked ? dst + u * kB * spatial : nullptr;
    const T* blocked_src = to_blocked ? nullptr : src + u * kB * spatial;
    for (int64_t i = 0; i < spatial; ++i) {
      const int64_t nhwc = (n * spatial + i) * channels + cb * kB;
      if (to_blocked) {
        for (int64_t k = 0; k < kB; ++k) blocked[i * kB + k] = src[nhwc + k];
      } else {
        for (int64_t k = 0; k < kB; ++k) dst[nhwc + k] = blocked_src[i * kB + k];
      }
    }
  });
}

// NCHW <-> NHWC: batched [rows, cols] -> [cols, rows] transposes in 32x32 tiles.
template <typename T>
void Transpose(const T* src, int64_t batch, int64_t rows, int64_t cols, T* dst, int threads) {
  constexpr int64_t kTile = 32;
  const int64_t tiles = (rows + kTile - 1) / kTile;
  Run(threads, batch * tiles, kTile * cols, [&](int64_t u) {
    const int64_t n = u / tiles, r0 = (u % tiles) * kTile, r1 = std::min(r0 + kTile, rows);
    const T* s = src + n * rows * cols;
    T* d = dst + n * rows * cols;
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t j1 = std::min(j0 + kTile, cols);
      for (int64_t i = r0; i < r1; ++i) {
        for (int64_t j = j0; j < j1; ++j) d[j * rows + i] = s[i * cols + j];
      }
    }
  });
}

template <typename T>
void Convert(const T* src, ActivationLayout from, ActivationLayout to, int64_t batch, int64_t channels,
             int64_t spatial, T* dst, int threads) {
  using L = ActivationLayout;
  if (from == to) {
    std::memcpy(dst, src, static_cast<size_t>(batch * channels * spatial) * sizeof(T));
  } else if (from == L::kNchw && to == L::kNchw8c) {
    NchwToBlocked(src, batch, channels, spatial, dst, threads);
  } else if (from == L::kNchw8c && to == L::kNchw) {
    BlockedToNchw(src, batch, channels, spatial, dst, threads);
  } else if (from == L::kNhwc && to == L::kNchw8c) {
    NhwcBlocked(src, /*to_blocked=*/true, batch, channels, spatial, dst, threads);
  } else if (from == L::kNchw8c && to == L::kNhwc) {
    NhwcBlocked(src, /*to_blocked=*/false, batch, channels, spatial, dst, threads);
  } else if (from == L::kNchw) {  // -> NHWC
    Transpose(src, batch, channels, spatial, dst, threads);
  } else {  // NHWC -> NCHW
    Transpose(src, batch, spatial, channels, dst, threads);
  }
}

class ReorderLayoutKernel : public OpKernel {
 public:
  ReorderLayoutKernel(ActivationLayout from, ActivationLayout to) : from_(from), to_(to) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return absl::InvalidArgumentError("ReorderLayout: input X is required");
    const size_t element_size = DataTypeSize(x->dtype());
    if (element_size != 1 && element_size != 2 && element_size != 4 && element_size != 8) {
      return absl::UnimplementedError(
          absl::StrCat("ReorderLayout: element type ", DataTypeName(x->dtype()), " is not supported"));
    }
    const bool blocked_in = from_ == ActivationLayout::kNchw8c;
    const int expected_rank = blocked_in ? 5 : 4;
    if (x->rank() != expected_rank || (blocked_in && x->dim(4) != kChannelBlock)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ReorderLayout: input in layout ", ActivationLayoutName(from_), " must have shape ",
          blocked_in ? "[N, C/8, H, W, 8]" : (from_ == ActivationLayout::kNchw ? "[N, C, H, W]" : "[N, H, W, C]"),
          ", got ", ShapeToString(x->shape())));
    }
    int64_t n = x->dim(0), c = 0, h = 0, w = 0;
    switch (from_) {
      case ActivationLayout::kNchw: c = x->dim(1), h = x->dim(2), w = x->dim(3); break;
      case ActivationLayout::kNhwc: h = x->dim(1), w = x->dim(2), c = x->dim(3); break;
      case ActivationLayout::kNchw8c: c = x->dim(1) * kChannelBlock, h = x->dim(2), w = x->dim(3); break;
    }
    if (to_ == ActivationLayout::kNchw8c && c % kChannelBlock != 0) {
      return absl::InvalidArgumentError(absl::StrCat("ReorderLayout: layout NCHW8c needs a channel count that is a "
                                                     "multiple of 8, got ", c, " channels (input shape ",
                                                     ShapeToString(x->shape()), ")"));
    }
    Shape out_shape;
    switch (to_) {
      case ActivationLayout::kNchw: out_shape = {n, c, h, w}; break;
      case ActivationLayout::kNhwc: out_shape = {n, h, w, c}; break;
      case ActivationLayout::kNchw8c: out_shape = {n, c / kChannelBlock, h, w, kChannelBlock}; break;
    }
    Tensor* y = ctx.AllocateOutput(0, x->dtype(), out_shape);
    if (y->num_elements() == 0) return absl::OkStatus();
    ConvertActivationLayout(x->raw_data(), from_, to_, n, c, h * w, element_size, y->raw_data(),
                            x->num_elements() < kGrainElements ? 1 : ctx.num_threads());
    return absl::OkStatus();
  }

 private:
  ActivationLayout from_, to_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> CreateReorderLayoutKernel(const KernelInit& init) {
  ActivationLayout layouts[2];
  const char* names[2] = {"from", "to"};
  for (int i = 0; i < 2; ++i) {
    if (!init.attrs.Has(names[i])) {
      return absl::InvalidArgumentError(absl::StrCat("ReorderLayout: string attribute ", names[i], " is required"));
    }
    const std::string value = init.attrs.GetString(names[i], "");
    std::optional<ActivationLayout> layout = ParseActivationLayout(value);
    if (!layout) {
      return absl::InvalidArgumentError(absl::StrCat("ReorderLayout: attribute ", names[i],
                                                     " must be \"NCHW\", \"NHWC\" or \"NCHW8c\", got \"", value,
                                                     "\""));
    }
    layouts[i] = *layout;
  }
  return std::make_unique<ReorderLayoutKernel>(layouts[0], layouts[1]);
}

}  // namespace

std::optional<ActivationLayout> ParseActivationLayout(absl::string_view name) {
  if (name == "NCHW") return ActivationLayout::kNchw;
  if (name == "NHWC") return ActivationLayout::kNhwc;
  if (name == "NCHW8c") return ActivationLayout::kNchw8c;
  return std::nullopt;
}

const char* ActivationLayoutName(ActivationLayout layout) {
  switch (layout) {
    case ActivationLayout::kNchw: return "NCHW";
    case ActivationLayout::kNhwc: return "NHWC";
    case ActivationLayout::kNchw8c: return "NCHW8c";
  }
  return "?";
}

void ConvertActivationLayout(const void* src, ActivationLayout from, ActivationLayout to, int64_t batch,
                             int64_t channels, int64_t spatial, size_t element_size, void* dst, int threads) {
  switch (element_size) {
    case 1:
      Convert(static_cast<const uint8_t*>(src), from, to, batch, channels, spatial, static_cast<uint8_t*>(dst),
              threads);
      break;
    case 2:
      Convert(static_cast<const uint16_t*>(src), from, to, batch, channels, spatial, static_cast<uint16_t*>(dst),
              threads);
      break;
    case 4:
      Convert(static_cast<const uint32_t*>(src), from, to, batch, channels, spatial, static_cast<uint32_t*>(dst),
              threads);
      break;
    default:
      Convert(static_cast<const uint64_t*>(src), from, to, batch, channels, spatial, static_cast<uint64_t*>(dst),
              threads);
      break;
  }
}

void RegisterReorderLayoutKernel(KernelRegistry& registry) {
  KernelDef def;
  def.domain = std::string(kTesseraDomain);
  def.op_type = "ReorderLayout";
  def.factory = CreateReorderLayoutKernel;
  registry.Register(std::move(def));
}

}  // namespace tessera::engine
