// Activation layouts of 2-D convolution data and conversions between them:
//  - kNchw:   [N, C, H, W] row-major (ONNX's layout)
//  - kNhwc:   [N, H, W, C] row-major (channels-last)
//  - kNchw8c: [N, C/8, H, W, 8] row-major, oneDNN's nChw8c (aBcd8b) blocked
//             layout; C must be a multiple of kChannelBlock.
// Used by FusedConv (attribute layout) and the ai.tessera.ReorderLayout
// kernel (string attributes `from` and `to`, each "NCHW", "NHWC" or
// "NCHW8c"), which converts any tensor of a fixed-size element type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace tessera::engine {

enum class ActivationLayout { kNchw, kNhwc, kNchw8c };

inline constexpr int64_t kChannelBlock = 8;

// "NCHW" / "NHWC" / "NCHW8c"; nullopt for anything else.
std::optional<ActivationLayout> ParseActivationLayout(absl::string_view name);
const char* ActivationLayoutName(ActivationLayout layout);

// Copies `batch` images of `channels` x `spatial` elements of `element_size`
// bytes (1, 2, 4 or 8) from layout `from` at src to layout `to` at dst
// (src and dst must not overlap). Blocked layouts need channels % 8 == 0.
// Parallel over (image, channel block) with up to `threads` threads.
void ConvertActivationLayout(const void* src, ActivationLayout from, ActivationLayout to, int64_t batch,
                             int64_t channels, int64_t spatial, size_t element_size, void* dst, int threads);

class KernelRegistry;
// Registers ai.tessera.ReorderLayout (called by RegisterConvMatMulKernels).
void RegisterReorderLayoutKernel(KernelRegistry& registry);

}  // namespace tessera::engine
