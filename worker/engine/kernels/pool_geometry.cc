#include "worker/engine/kernels/pool_geometry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera::engine {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

absl::StatusOr<AutoPad> ParseAutoPad(const std::string& value, absl::string_view op_name) {
  if (value == "NOTSET" || value.empty()) return AutoPad::kNotSet;
  if (value == "SAME_UPPER") return AutoPad::kSameUpper;
  if (value == "SAME_LOWER") return AutoPad::kSameLower;
  if (value == "VALID") return AutoPad::kValid;
  return absl::InvalidArgumentError(absl::StrCat(op_name, ": unknown auto_pad '", value, "'"));
}

absl::StatusOr<PoolAttributes> PoolAttributes::Parse(const NodeAttributes& attrs, absl::string_view op_name) {
  PoolAttributes p;
  p.kernel_shape = attrs.GetInts("kernel_shape");
  const size_t k = p.kernel_shape.size();
  if (k == 0) return absl::InvalidArgumentError(absl::StrCat(op_name, ": attribute kernel_shape is required"));
  if (k > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(op_name, ": only 1 to 3 spatial dims are supported, kernel_shape has ", k));
  }
  for (int64_t v : p.kernel_shape) {
    if (v <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(op_name, ": kernel_shape values must be positive, got [", absl::StrJoin(p.kernel_shape, ","), "]"));
    }
  }
  p.strides = attrs.GetInts("strides");
  if (p.strides.empty()) p.strides.assign(k, 1);
  p.dilations = attrs.GetInts("dilations");
  if (p.dilations.empty()) p.dilations.assign(k, 1);
  p.pads = attrs.GetInts("pads");
  if (p.pads.empty()) p.pads.assign(2 * k, 0);
  if (p.strides.size() != k || p.dilations.size() != k || p.pads.size() != 2 * k) {
    return absl::InvalidArgumentError(absl::StrCat(
        op_name, ": strides and dilations need ", k, " values and pads ", 2 * k, " (kernel_shape has ", k,
        " dims); got strides ", p.strides.size(), ", dilations ", p.dilations.size(), ", pads ", p.pads.size()));
  }
  for (size_t i = 0; i < k; ++i) {
    if (p.strides[i] <= 0 || p.dilations[i] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(op_name, ": strides and dilations must be positive"));
    }
  }
  for (int64_t v : p.pads) {
    if (v < 0) return absl::InvalidArgumentError(absl::StrCat(op_name, ": pads must be >= 0"));
  }
  auto auto_pad = ParseAutoPad(attrs.GetString("auto_pad", "NOTSET"), op_name);
  if (!auto_pad.ok()) return auto_pad.status();
  p.auto_pad = *auto_pad;
  p.ceil_mode = attrs.GetInt("ceil_mode", 0) != 0;
  return p;
}

absl::StatusOr<PoolWindow3D> ComputePoolWindow(const PoolAttributes& attrs, const Shape& input,
                                               absl::string_view op_name) {
  const int k = static_cast<int>(attrs.kernel_shape.size());
  if (static_cast<int>(input.size()) != k + 2) {
    return absl::InvalidArgumentError(absl::StrCat(op_name, ": input of shape ", ShapeToString(input),
                                                   " must have rank ", k + 2, " (N, C and ", k,
                                                   " spatial dims from kernel_shape)"));
  }
  PoolWindow3D w;
  w.planes = input[0] * input[1];
  const int lead = 3 - k;
  for (int a = 0; a < lead; ++a) {
    w.in[a] = w.out[a] = w.kernel[a] = w.stride[a] = w.dilation[a] = 1;
    w.pad_begin[a] = w.pad_end[a] = 0;
  }
  for (int i = 0; i < k; ++i) {
    const int a = lead + i;
    const int64_t in = input[2 + i];
    const int64_t kernel = attrs.kernel_shape[i], stride = attrs.strides[i], dilation = attrs.dilations[i];
    const int64_t extent = (kernel - 1) * dilation + 1;
    int64_t pb = attrs.pads[i], pe = attrs.pads[k + i], out = 0;
    switch (attrs.auto_pad) {
      case AutoPad::kSameUpper:
      case AutoPad::kSameLower: {
        out = CeilDiv(in, stride);
        const int64_t total = std::max<int64_t>(0, (out - 1) * stride + extent - in);
        const int64_t half = total / 2;
        pb = attrs.auto_pad == AutoPad::kSameUpper ? half : total - half;
        pe = total - pb;
        break;
      }
      case AutoPad::kValid:
        pb = pe = 0;
        [[fallthrough]];
      case AutoPad::kNotSet: {
        if (pb >= extent || pe >= extent) {
          return absl::InvalidArgumentError(absl::StrCat(op_name, ": pads (", pb, ", ", pe, ") on spatial axis ", i,
                                                         " must be smaller than the kernel extent ", extent));
        }
        const int64_t span = in + pb + pe - extent;
        if (span < 0) {
          return absl::InvalidArgumentError(absl::StrCat(op_name, ": kernel extent ", extent, " on spatial axis ", i,
                                                         " exceeds the padded input size ", in + pb + pe,
                                                         " (input shape ", ShapeToString(input), ")"));
        }
        out = (attrs.ceil_mode ? CeilDiv(span, stride) : span / stride) + 1;
        // A window must start inside the input or its leading pad.
        if (attrs.ceil_mode && (out - 1) * stride >= in + pb) --out;
        break;
      }
    }
    w.in[a] = in;
    w.out[a] = out;
    w.kernel[a] = kernel;
    w.stride[a] = stride;
    w.dilation[a] = dilation;
    w.pad_begin[a] = pb;
    w.pad_end[a] = pe;
  }
  return w;
}

Shape PoolOutputShape(const Shape& input, const PoolWindow3D& window) {
  Shape out = {input[0], input[1]};
  const int k = static_cast<int>(input.size()) - 2;
  for (int i = 0; i < k; ++i) out.push_back(window.out[3 - k + i]);
  return out;
}

TapRanges ComputeTapRanges(const PoolWindow3D& window, int axis, int64_t lo, int64_t hi) {
  TapRanges r;
  const int64_t n = window.out[axis];
  r.first.resize(n);
  r.last.resize(n);
  const int64_t s = window.stride[axis], d = window.dilation[axis], kernel = window.kernel[axis];
  for (int64_t o = 0; o < n; ++o) {
    const int64_t start = o * s - window.pad_begin[axis];
    // taps t with lo <= start + t*d < hi
    int64_t first = std::max<int64_t>(0, CeilDiv(lo - start, d));
    int64_t last = std::min<int64_t>(kernel, FloorDiv(hi - 1 - start, d) + 1);
    if (last < first) last = first;
    r.first[o] = first;
    r.last[o] = last;
  }
  return r;
}

}  // namespace tessera::engine
