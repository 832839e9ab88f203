#include "worker/engine/kernels/resize_axis_map.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera::engine {

absl::StatusOr<ResizeMode> ParseResizeMode(const std::string& value) {
  if (value == "nearest") return ResizeMode::kNearest;
  if (value == "linear") return ResizeMode::kLinear;
  if (value == "cubic") return ResizeMode::kCubic;
  return absl::InvalidArgumentError(
      absl::StrCat("Resize: unknown mode '", value, "' (expected nearest, linear or cubic)"));
}

absl::StatusOr<CoordinateTransform> ParseCoordinateTransform(const std::string& value) {
  if (value == "half_pixel") return CoordinateTransform::kHalfPixel;
  if (value == "half_pixel_symmetric") return CoordinateTransform::kHalfPixelSymmetric;
  if (value == "pytorch_half_pixel") return CoordinateTransform::kPytorchHalfPixel;
  if (value == "align_corners") return CoordinateTransform::kAlignCorners;
  if (value == "asymmetric") return CoordinateTransform::kAsymmetric;
  if (value == "tf_half_pixel_for_nn") return CoordinateTransform::kTfHalfPixelForNn;
  if (value == "tf_crop_and_resize") return CoordinateTransform::kTfCropAndResize;
  return absl::InvalidArgumentError(absl::StrCat("Resize: unknown coordinate_transformation_mode '", value, "'"));
}

absl::StatusOr<NearestRounding> ParseNearestRounding(const std::string& value) {
  if (value == "round_prefer_floor") return NearestRounding::kRoundPreferFloor;
  if (value == "round_prefer_ceil") return NearestRounding::kRoundPreferCeil;
  if (value == "floor") return NearestRounding::kFloor;
  if (value == "ceil") return NearestRounding::kCeil;
  return absl::InvalidArgumentError(absl::StrCat("Resize: unknown nearest_mode '", value, "'"));
}

namespace {

double OriginalCoordinate(CoordinateTransform transform, double x, double scale, double in, double out,
                          double roi_start, double roi_end) {
  // ONNX's reference defines the resized length as in * scale (which is the
  // output size when sizes are given).
  const double length_resized = in * scale;
  switch (transform) {
    case CoordinateTransform::kHalfPixel:
      return (x + 0.5) / scale - 0.5;
    case CoordinateTransform::kHalfPixelSymmetric: {
      const double adjustment = out / length_resized;
      const double center = in / 2;
      const double offset = center * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case CoordinateTransform::kPytorchHalfPixel:
      return length_resized > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case CoordinateTransform::kAlignCorners:
      return length_resized == 1 ? 0.0 : x * (in - 1) / (length_resized - 1);
    case CoordinateTransform::kAsymmetric:
      return x / scale;
    case CoordinateTransform::kTfHalfPixelForNn:
      return (x + 0.5) / scale;
    case CoordinateTransform::kTfCropAndResize:
      return length_resized > 1 ? roi_start * (in - 1) + x * (roi_end - roi_start) * (in - 1) / (length_resized - 1)
                                : 0.5 * (roi_start + roi_end) * (in - 1);
  }
  return 0.0;
}

int64_t NearestIndex(NearestRounding rounding, double x, double scale) {
  const double f = std::floor(x);
  const double r = x - f;
  switch (rounding) {
    case NearestRounding::kRoundPreferFloor:
      return static_cast<int64_t>(r <= 0.5 ? f : f + 1);
    case NearestRounding::kRoundPreferCeil:
      return static_cast<int64_t>(r < 0.5 ? f : f + 1);
    case NearestRounding::kFloor:
      return static_cast<int64_t>(f);
    case NearestRounding::kCeil:
      return static_cast<int64_t>(std::ceil(x));
    case NearestRounding::kOpset10:
      return static_cast<int64_t>(scale < 1 ? std::ceil(x) : f);
  }
  return 0;
}

void CubicCoefficients(double r, double a, double c[4]) {
  const double r1 = r + 1, q = 1 - r, q1 = q + 1;
  c[0] = ((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a;
  c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
  c[2] = ((a + 2) * q - (a + 3)) * q * q + 1;
  c[3] = ((a * q1 - 5 * a) * q1 + 8 * a) * q1 - 4 * a;
}

}  // namespace

ResizeAxisMap BuildResizeAxisMap(const ResizeAxisOptions& options, int64_t in, int64_t out, double scale,
                                 double roi_start, double roi_end) {
  ResizeAxisMap map;
  map.taps = options.mode == ResizeMode::kNearest ? 1 : options.mode == ResizeMode::kLinear ? 2 : 4;
  const int taps = map.taps;
  map.index.resize(out * taps);
  map.weight.resize(out * taps);
  map.outside.assign(out, 0);
  const int64_t last = in - 1;
  auto clamp = [&](int64_t i) { return std::clamp<int64_t>(i, 0, last); };
  bool identity = in == out;
  for (int64_t o = 0; o < out; ++o) {
    const double x = OriginalCoordinate(options.transform, static_cast<double>(o), scale, static_cast<double>(in),
                                        static_cast<double>(out), roi_start, roi_end);
    if (options.transform == CoordinateTransform::kTfCropAndResize && (x < 0 || x > static_cast<double>(last))) {
      map.outside[o] = 1;
      map.any_outside = true;
    }
    int64_t* idx = &map.index[o * taps];
    double* w = &map.weight[o * taps];
    if (options.mode == ResizeMode::kNearest) {
      idx[0] = clamp(NearestIndex(options.rounding, x, scale));
      w[0] = 1;
    } else {
      const double f = std::floor(x);
      const double r = x - f;
      const int64_t base = static_cast<int64_t>(f);
      if (options.mode == ResizeMode::kLinear) {
        idx[0] = base;
        idx[1] = base + 1;
        w[0] = 1 - r;
        w[1] = r;
      } else {
        for (int t = 0; t < 4; ++t) idx[t] = base - 1 + t;
        CubicCoefficients(r, options.cubic_coeff_a, w);
      }
      if (options.exclude_outside) {
        double sum = 0;
        for (int t = 0; t < taps; ++t) {
          if (idx[t] < 0 || idx[t] > last) w[t] = 0;
          sum += w[t];
        }
        if (sum != 0) {
          for (int t = 0; t < taps; ++t) w[t] /= sum;
        }
      }
      for (int t = 0; t < taps; ++t) idx[t] = clamp(idx[t]);
    }
    if (identity) {
      double on = 0, off = 0;
      for (int t = 0; t < taps; ++t) (idx[t] == o ? on : off) += std::fabs(w[t]);
      identity = !map.outside[o] && on == 1.0 && off == 0.0;
    }
  }
  map.identity = identity;
  return map;
}

}  // namespace tessera::engine
