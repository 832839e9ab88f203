// The activation a fused Conv / MatMul (domain ai.tessera) applies to its
// result, from the node's `activation` (string) and `activation_params`
// (floats) attributes:
//   Relu, Tanh, Sigmoid, HardSwish, Gelu (erf form): no parameters
//   Clip: [min, max] (defaults -inf, +inf)
//   LeakyRelu: [alpha] (default 0.01)
//   HardSigmoid: [alpha, beta] (defaults 0.2, 0.5)
// It can be appended to oneDNN post-ops or applied in place to a buffer.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {

class FusedActivation {
 public:
  enum class Kind { kNone, kRelu, kClip, kLeakyRelu, kSigmoid, kHardSigmoid, kHardSwish, kTanh, kGelu };

  FusedActivation() = default;
  FusedActivation(Kind kind, float alpha, float beta) : kind_(kind), alpha_(alpha), beta_(beta) {}

  // Reads `activation` / `activation_params`; kNone when `activation` is
  // absent or empty. InvalidArgument (naming `op`) for an unknown name or a
  // wrong parameter count.
  static absl::StatusOr<FusedActivation> FromAttributes(const NodeAttributes& attrs, absl::string_view op);

  Kind kind() const { return kind_; }
  bool is_none() const { return kind_ == Kind::kNone; }
  float alpha() const { return alpha_; }
  float beta() const { return beta_; }

  // Appends the equivalent eltwise post-op(s).
  void AppendTo(dnnl::post_ops& ops) const;
  // data[i] = act(data[i]) for i in [0, n).
  void Apply(float* data, int64_t n) const;

 private:
  Kind kind_ = Kind::kNone;
  float alpha_ = 0.0f;
  float beta_ = 0.0f;
};

}  // namespace tessera::engine
