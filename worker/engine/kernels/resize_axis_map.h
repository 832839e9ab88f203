// How one axis of a Resize maps output positions to input positions.
//
// For each output index the map holds `taps` (input index, weight) pairs
// (1 for nearest, 2 for linear, 4 for cubic; indices already clamped into
// the input, weights already renormalized for exclude_outside) and whether
// the position lies outside the crop box of tf_crop_and_resize (then the
// output takes extrapolation_value). N-D resizing is the tensor product of
// the per-axis maps, which lets resize.cc apply one axis at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera::engine {

enum class ResizeMode { kNearest, kLinear, kCubic };

enum class CoordinateTransform {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize,
};

enum class NearestRounding {
  kRoundPreferFloor,
  kRoundPreferCeil,
  kFloor,
  kCeil,
  kOpset10,  // Resize-10: floor when upsampling, ceil when downsampling
};

absl::StatusOr<ResizeMode> ParseResizeMode(const std::string& value);
absl::StatusOr<CoordinateTransform> ParseCoordinateTransform(const std::string& value);
absl::StatusOr<NearestRounding> ParseNearestRounding(const std::string& value);

struct ResizeAxisOptions {
  ResizeMode mode = ResizeMode::kNearest;
  CoordinateTransform transform = CoordinateTransform::kHalfPixel;
  NearestRounding rounding = NearestRounding::kRoundPreferFloor;
  double cubic_coeff_a = -0.75;
  bool exclude_outside = false;
};

struct ResizeAxisMap {
  int taps = 1;
  std::vector<int64_t> index;   // out * taps
  std::vector<double> weight;   // out * taps
  std::vector<uint8_t> outside; // out: 1 when extrapolation_value applies
  bool any_outside = false;
  // True when output index o reads exactly input index o with weight 1.
  bool identity = false;
};

// Builds the map of an axis of length `in` resized to `out` with `scale`
// (given, or out / in when sizes were given); roi_start / roi_end are used by
// tf_crop_and_resize only.
ResizeAxisMap BuildResizeAxisMap(const ResizeAxisOptions& options, int64_t in, int64_t out, double scale,
                                 double roi_start, double roi_end);

}  // namespace tessera::engine
