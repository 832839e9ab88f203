#include "worker/engine/kernels/conv_geometry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera::engine {
namespace {

absl::Status CheckLength(const ConvAttributes& a, absl::string_view name, const std::vector<int64_t>& v,
                         size_t want) {
  if (!v.empty() && v.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(a.op, ": attribute ", name, " has ", v.size(),
                                                   " values, expected ", want,
                                                   " (from the spatial rank of X)"));
  }
  return absl::OkStatus();
}

std::vector<int64_t> OrDefault(const std::vector<int64_t>& v, size_t n, int64_t fallback) {
  return v.empty() ? std::vector<int64_t>(n, fallback) : v;
}

// Common checks for X and W, fills spatial_rank/batch/kernel/strides/dilations.
absl::Status ResolveCommon(const ConvAttributes& a, const Shape& x, const Shape& w, ConvGeometry& g) {
  if (x.size() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(a.op, ": input X must have rank >= 3 ([N, C, D...]), got shape ", ShapeToString(x)));
  }
  if (w.size() != x.size()) {
    return absl::InvalidArgumentError(absl::StrCat(a.op, ": weight W ", ShapeToString(w),
                                                   " must have the same rank as input X ", ShapeToString(x)));
  }
  g.spatial_rank = static_cast<int>(x.size()) - 2;
  const size_t r = g.spatial_rank;
  g.batch = x[0];
  g.in_channels = x[1];
  g.group = a.group;
  g.in_spatial.assign(x.begin() + 2, x.end());
  g.kernel.assign(w.begin() + 2, w.end());
  if (!a.kernel_shape.empty() && a.kernel_shape != g.kernel) {
    return absl::InvalidArgumentError(absl::StrCat(a.op, ": kernel_shape [", absl::StrJoin(a.kernel_shape, ","),
                                                   "] does not match weight W shape ", ShapeToString(w)));
  }
  for (int64_t k : g.kernel) {
    if (k <= 0) return absl::InvalidArgumentError(absl::StrCat(a.op, ": empty kernel in W ", ShapeToString(w)));
  }
  for (int64_t d : x) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat(a.op, ": bad input shape ", ShapeToString(x)));
  }
  if (auto s = CheckLength(a, "strides", a.strides, r); !s.ok()) return s;
  if (auto s = CheckLength(a, "dilations", a.dilations, r); !s.ok()) return s;
  if (auto s = CheckLength(a, "pads", a.pads, 2 * r); !s.ok()) return s;
  if (auto s = CheckLength(a, "output_padding", a.output_padding, r); !s.ok()) return s;
  g.strides = OrDefault(a.strides, r, 1);
  g.dilations = OrDefault(a.dilations, r, 1);
  g.pads_begin.assign(r, 0);
  g.pads_end.assign(r, 0);
  if (a.auto_pad == AutoPad::kNotSet && !a.pads.empty()) {
    for (size_t i = 0; i < r; ++i) {
      g.pads_begin[i] = a.pads[i];
      g.pads_end[i] = a.pads[i + r];
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ConvAttributes> ConvAttributes::Parse(const NodeAttributes& attrs, absl::string_view op) {
  ConvAttributes a;
  a.op = std::string(op);
  const std::string auto_pad = attrs.GetString("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET" || auto_pad.empty()) {
    a.auto_pad = AutoPad::kNotSet;
  } else if (auto_pad == "SAME_UPPER") {
    a.auto_pad = AutoPad::kSameUpper;
  } else if (auto_pad == "SAME_LOWER") {
    a.auto_pad = AutoPad::kSameLower;
  } else if (auto_pad == "VALID") {
    a.auto_pad = AutoPad::kValid;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(op, ": unknown auto_pad \"", auto_pad, "\""));
  }
  a.group = attrs.GetInt("group", 1);
  if (a.group < 1) return absl::InvalidArgumentError(absl::StrCat(op, ": group must be >= 1, got ", a.group));
  a.kernel_shape = attrs.GetInts("kernel_shape");
  a.strides = attrs.GetInts("strides");
  a.dilations = attrs.GetInts("dilations");
  a.pads = attrs.GetInts("pads");
  a.output_padding = attrs.GetInts("output_padding");
  a.output_shape = attrs.GetInts("output_shape");
  for (int64_t s : a.strides) {
    if (s < 1) return absl::InvalidArgumentError(absl::StrCat(op, ": strides must be >= 1, got ", s));
  }
  for (int64_t d : a.dilations) {
    if (d < 1) return absl::InvalidArgumentError(absl::StrCat(op, ": dilations must be >= 1, got ", d));
  }
  for (int64_t p : a.pads) {
    if (p < 0) return absl::InvalidArgumentError(absl::StrCat(op, ": pads must be >= 0, got ", p));
  }
  for (int64_t p : a.output_padding) {
    if (p < 0) return absl::InvalidArgumentError(absl::StrCat(op, ": output_padding must be >= 0, got ", p));
  }
  if (a.pads.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": pads must have an even number of values"));
  }
  return a;
}

Shape ConvGeometry::OutputShape() const {
  Shape s = {batch, out_channels};
  s.insert(s.end(), out_spatial.begin(), out_spatial.end());
  return s;
}

int64_t ConvGeometry::KernelSize() const { return NumElements(kernel); }
int64_t ConvGeometry::InSpatialSize() const { return NumElements(in_spatial); }
int64_t ConvGeometry::OutSpatialSize() const { return NumElements(out_spatial); }

absl::StatusOr<ConvGeometry> ResolveConvGeometry(const ConvAttributes& a, const Shape& x, const Shape& w) {
  ConvGeometry g;
  if (auto s = ResolveCommon(a, x, w, g); !s.ok()) return s;
  if (w[0] % a.group != 0 || w[0] == 0) {
    return absl::InvalidArgumentError(absl::StrCat(a.op, ": output channels of W ", ShapeToString(w),
                                                   " must be a positive multiple of group ", a.group));
  }
  if (x[1] != w[1] * a.group) {
    return absl::InvalidArgumentError(absl::StrCat(a.op, ": channel mismatch: X ", ShapeToString(x), " has ", x[1],
                                                   " channels but W ", ShapeToString(w), " with group ", a.group,
                                                   " expects ", w[1] * a.group));
  }
  g.out_channels = w[0];
  const int r = g.spatial_rank;
  g.out_spatial.assign(r, 0);
  for (int i = 0; i < r; ++i) {
    const int64_t in = g.in_spatial[i], s = g.strides[i];
    const int64_t dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower) {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
      const int64_t small = total / 2;
      g.pads_begin[i] = a.auto_pad == AutoPad::kSameUpper ? small : total - small;
      g.pads_end[i] = total - g.pads_begin[i];
    }
    const int64_t padded = in + g.pads_begin[i] + g.pads_end[i];
    if (padded < dk) {
      return absl::InvalidArgumentError(absl::StrCat(a.op, ": kernel (dilated size ", dk,
                                                     ") is larger than the padded input (", padded,
                                                     ") on spatial axis ", i, " of X ", ShapeToString(x)));
    }
    g.out_spatial[i] = (padded - dk) / s + 1;
  }
  return g;
}

absl::StatusOr<ConvGeometry> ResolveConvTransposeGeometry(const ConvAttributes& a, const Shape& x,
                                                          const Shape& w) {
  ConvGeometry g;
  if (auto s = ResolveCommon(a, x, w, g); !s.ok()) return s;
  if (x[1] != w[0] || w[0] % a.group != 0) {
    return absl::InvalidArgumentError(absl::StrCat(a.op, ": channel mismatch: X ", ShapeToString(x), " has ", x[1],
                                                   " channels but W ", ShapeToString(w),
                                                   " has ", w[0], " input channels (must match and be a multiple of group ",
                                                   a.group, ")"));
  }
  g.out_channels = w[1] * a.group;
  const int r = g.spatial_rank;
  const std::vector<int64_t> output_padding = OrDefault(a.output_padding, r, 0);
  std::vector<int64_t> output_shape = a.output_shape;
  if (output_shape.size() == static_cast<size_t>(r) + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
  if (!output_shape.empty() && output_shape.size() != static_cast<size_t>(r)) {
    return absl::InvalidArgumentError(absl::StrCat(a.op, ": output_shape has ", a.output_shape.size(),
                                                   " values, expected ", r));
  }
  const bool same = a.auto_pad == AutoPad::kSameUpper || a.auto_pad == AutoPad::kSameLower;
  if (same && output_shape.empty()) {
    output_shape.resize(r);
    for (int i = 0; i < r; ++i) output_shape[i] = g.in_spatial[i] * g.strides[i];
  }
  g.out_spatial.assign(r, 0);
  for (int i = 0; i < r; ++i) {
    const int64_t dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const int64_t full = g.strides[i] * (g.in_spatial[i] - 1) + output_padding[i] + dk;
    if (!output_shape.empty()) {
      const int64_t total = full - output_shape[i];
      // ONNX (and its reference implementation, with Python's floor
      // division): SAME_UPPER puts the extra padding at the end, anything
      // else at the beginning. A negative total (output larger than the
      // natural size) gives negative pads: zeros at the end (or start).
      const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      if (a.auto_pad == AutoPad::kSameUpper) {
        g.pads_begin[i] = half;
        g.pads_end[i] = total - half;
      } else {
        g.pads_begin[i] = total - half;
        g.pads_end[i] = half;
      }
      g.out_spatial[i] = output_shape[i];
    } else {
      g.out_spatial[i] = full - g.pads_begin[i] - g.pads_end[i];
    }
    if (g.out_spatial[i] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(a.op, ": computed output size ", g.out_spatial[i],
                                                     " on spatial axis ", i, " is not positive"));
    }
  }
  return g;
}

}  // namespace tessera::engine
