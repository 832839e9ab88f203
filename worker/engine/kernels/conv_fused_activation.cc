#include "worker/engine/kernels/conv_fused_activation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/engine/kernels/elementwise_math.h"

namespace tessera::engine {

absl::StatusOr<FusedActivation> FusedActivation::FromAttributes(const NodeAttributes& attrs,
                                                                absl::string_view op) {
  const std::string name = attrs.GetString("activation", "");
  const std::vector<float> params = attrs.GetFloats("activation_params");
  auto expect_params = [&](size_t max_count) -> absl::Status {
    if (params.size() > max_count) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": activation ", name, " takes at most ", max_count,
                                                     " activation_params, got ", params.size()));
    }
    return absl::OkStatus();
  };
  auto param = [&](size_t i, float fallback) { return i < params.size() ? params[i] : fallback; };
  absl::Status st;
  if (name.empty()) return FusedActivation();
  if (name == "Relu") {
    st = expect_params(0);
    if (st.ok()) return FusedActivation(Kind::kRelu, 0, 0);
  } else if (name == "Tanh") {
    st = expect_params(0);
    if (st.ok()) return FusedActivation(Kind::kTanh, 0, 0);
  } else if (name == "Sigmoid") {
    st = expect_params(0);
    if (st.ok()) return FusedActivation(Kind::kSigmoid, 0, 0);
  } else if (name == "Gelu") {
    st = expect_params(0);
    if (st.ok()) return FusedActivation(Kind::kGelu, 0, 0);
  } else if (name == "HardSwish") {
    st = expect_params(0);
    if (st.ok()) return FusedActivation(Kind::kHardSwish, 0, 0);
  } else if (name == "Clip") {
    st = expect_params(2);
    if (st.ok()) {
      return FusedActivation(Kind::kClip, param(0, -std::numeric_limits<float>::infinity()),
                             param(1, std::numeric_limits<float>::infinity()));
    }
  } else if (name == "LeakyRelu") {
    st = expect_params(1);
    if (st.ok()) return FusedActivation(Kind::kLeakyRelu, param(0, 0.01f), 0);
  } else if (name == "HardSigmoid") {
    st = expect_params(2);
    if (st.ok()) return FusedActivation(Kind::kHardSigmoid, param(0, 0.2f), param(1, 0.5f));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(op, ": unknown fused activation \"", name, "\""));
  }
  return st;
}

void FusedActivation::AppendTo(dnnl::post_ops& ops) const {
  using dnnl::algorithm;
  switch (kind_) {
    case Kind::kNone:
      return;
    case Kind::kRelu:
      ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
      return;
    case Kind::kLeakyRelu:
      ops.append_eltwise(1.0f, algorithm::eltwise_relu, alpha_, 0.0f);
      return;
    case Kind::kClip:
      ops.append_eltwise(1.0f, algorithm::eltwise_clip, alpha_, beta_);
      return;
    case Kind::kSigmoid:
      ops.append_eltwise(1.0f, algorithm::eltwise_logistic, 0.0f, 0.0f);
      return;
    case Kind::kTanh:
      ops.append_eltwise(1.0f, algorithm::eltwise_tanh, 0.0f, 0.0f);
      return;
    case Kind::kHardSwish:  // oneDNN's hardswish is x * relu6(x + 3) / 6, as ONNX.
      ops.append_eltwise(1.0f, algorithm::eltwise_hardswish, 0.0f, 0.0f);
      return;
    case Kind::kGelu:
      ops.append_eltwise(1.0f, algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
      return;
    case Kind::kHardSigmoid:  // max(0, min(1, alpha * x + beta))
      ops.append_eltwise(1.0f, algorithm::eltwise_linear, alpha_, beta_);
      ops.append_eltwise(1.0f, algorithm::eltwise_clip, 0.0f, 1.0f);
      return;
  }
}

void FusedActivation::Apply(float* data, int64_t n) const {
  const float a = alpha_, b = beta_;
  switch (kind_) {
    case Kind::kNone:
      return;
    case Kind::kRelu:
      for (int64_t i = 0; i < n; ++i) data[i] = std::max(data[i], 0.0f);
      return;
    case Kind::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) data[i] = data[i] < 0.0f ? data[i] * a : data[i];
      return;
    case Kind::kClip:
      for (int64_t i = 0; i < n; ++i) data[i] = std::min(std::max(data[i], a), b);
      return;
    case Kind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) data[i] = 1.0f / (1.0f + std::exp(-data[i]));
      return;
    case Kind::kTanh:
      for (int64_t i = 0; i < n; ++i) data[i] = std::tanh(data[i]);
      return;
    case Kind::kHardSwish:
      for (int64_t i = 0; i < n; ++i) {
        data[i] = data[i] * std::min(std::max(data[i] * (1.0f / 6.0f) + 0.5f, 0.0f), 1.0f);
      }
      return;
    case Kind::kHardSigmoid:
      for (int64_t i = 0; i < n; ++i) data[i] = std::min(std::max(a * data[i] + b, 0.0f), 1.0f);
      return;
    case Kind::kGelu:
      for (int64_t i = 0; i < n; ++i) data[i] = 0.5f * data[i] * (1.0f + elementwise::VecErf(data[i] * 0.70710678118654752f));
      return;
  }
}

}  // namespace tessera::engine
