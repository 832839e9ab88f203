// Window geometry shared by AveragePool and MaxPool.
//
// PoolAttributes parses the ONNX pooling attributes once at load time
// (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode);
// ComputePoolWindow resolves them against an input shape into a
// PoolWindow3D: 1-D and 2-D pools are described as 3-D pools with leading
// spatial dims of size 1 (kernel 1, stride 1, no padding), so one loop nest
// serves every rank.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

// Parses ONNX's auto_pad string ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID").
absl::StatusOr<AutoPad> ParseAutoPad(const std::string& value, absl::string_view op_name);

struct PoolAttributes {
  std::vector<int64_t> kernel_shape;
  std::vector<int64_t> strides;    // one per spatial axis
  std::vector<int64_t> dilations;  // one per spatial axis
  std::vector<int64_t> pads;       // begins then ends, 2 per spatial axis
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;

  // Validates counts and signs; `op_name` is used in messages.
  static absl::StatusOr<PoolAttributes> Parse(const NodeAttributes& attrs, absl::string_view op_name);
};

struct PoolWindow3D {
  int64_t planes = 0;  // N * C: independent (n, c) planes
  std::array<int64_t, 3> in{}, out{}, kernel{}, stride{}, dilation{}, pad_begin{}, pad_end{};

  int64_t in_plane_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane_size() const { return out[0] * out[1] * out[2]; }
};

// Resolves `attrs` for an input of shape [N, C, spatial...] (1 to 3 spatial
// dims). InvalidArgument when the rank does not match kernel_shape, a pad is
// not smaller than its (dilated) kernel, or the output would be empty.
absl::StatusOr<PoolWindow3D> ComputePoolWindow(const PoolAttributes& attrs, const Shape& input,
                                               absl::string_view op_name);

// The output shape [N, C, out...] for `input` under `window`.
Shape PoolOutputShape(const Shape& input, const PoolWindow3D& window);

// For one spatial axis of `window`: for each output index o, the half-open
// range of kernel taps [first[o], last[o]) whose input position lies in
// [lo, hi) (lo/hi relative to the unpadded input; use [0, in) for real
// data, [-pad_begin, in + pad_end) for count_include_pad).
struct TapRanges {
  std::vector<int64_t> first, last;
};
TapRanges ComputeTapRanges(const PoolWindow3D& window, int axis, int64_t lo, int64_t hi);

}  // namespace tessera::engine
