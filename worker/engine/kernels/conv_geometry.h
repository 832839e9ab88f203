// Conv / ConvTranspose attributes (auto_pad, dilations, group, kernel_shape,
// pads, strides, and ConvTranspose's output_padding / output_shape) and their
// resolution against concrete input shapes into explicit per-axis geometry.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct ConvAttributes {
  std::string op;  // for messages: "Conv", "ConvTranspose", "FusedConv"
  AutoPad auto_pad = AutoPad::kNotSet;
  int64_t group = 1;
  std::vector<int64_t> kernel_shape;    // empty: from W
  std::vector<int64_t> strides;         // empty: all 1
  std::vector<int64_t> dilations;       // empty: all 1
  std::vector<int64_t> pads;            // empty: all 0; [begin..., end...]
  std::vector<int64_t> output_padding;  // ConvTranspose only
  std::vector<int64_t> output_shape;    // ConvTranspose only

  // Parses and range-checks (group >= 1, strides/dilations >= 1, pads >= 0).
  static absl::StatusOr<ConvAttributes> Parse(const NodeAttributes& attrs, absl::string_view op);
};

// Everything a convolution needs, resolved for one input shape. For
// ConvTranspose, "in" is the (small) input X and "out" the (large) output Y.
struct ConvGeometry {
  int spatial_rank = 0;
  int64_t batch = 0;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t group = 1;
  std::vector<int64_t> in_spatial;
  std::vector<int64_t> out_spatial;
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads_begin;
  std::vector<int64_t> pads_end;  // may be negative for ConvTranspose with output_padding

  Shape OutputShape() const;
  int64_t KernelSize() const;      // product of kernel
  int64_t InSpatialSize() const;   // product of in_spatial
  int64_t OutSpatialSize() const;  // product of out_spatial
};

// Conv: X [N, C, D...], W [M, C/group, k...]. Checks ranks, channel counts,
// kernel_shape, attribute lengths and that the output is non-empty.
absl::StatusOr<ConvGeometry> ResolveConvGeometry(const ConvAttributes& attrs, const Shape& x, const Shape& w);

// ConvTranspose: X [N, C, D...], W [C, M/group, k...].
absl::StatusOr<ConvGeometry> ResolveConvTransposeGeometry(const ConvAttributes& attrs, const Shape& x,
                                                          const Shape& w);

}  // namespace tessera::engine
