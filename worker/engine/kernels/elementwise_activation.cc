#include "worker/engine/kernels/elementwise_activation.h"

#include "worker/engine/kernels/elementwise_unary_ops.h"

namespace tessera::engine {
namespace {

template <typename Op>
void Apply(const Op& op, float* data, int64_t n) {
  for (int64_t i = 0; i < n; ++i) data[i] = op(data[i]);
}

}  // namespace

void ApplyActivation(Activation activation, const float* params, float* data, int64_t n) {
  using namespace elementwise;  // NOLINT: the functors
  switch (activation) {
    case Activation::kNone:
      return;
    case Activation::kRelu:
      return Apply(ReluOp{}, data, n);
    case Activation::kClip:
      return Apply(ClipOp<float>{params[0], params[1]}, data, n);
    case Activation::kLeakyRelu:
      return Apply(LeakyReluOp{params[0]}, data, n);
    case Activation::kSigmoid:
      return Apply(SigmoidOp{}, data, n);
    case Activation::kTanh:
      return Apply(TanhOp{}, data, n);
    case Activation::kHardSigmoid:
      return Apply(HardSigmoidOp{params[0], params[1]}, data, n);
    case Activation::kHardSwish:
      return Apply(HardSwishOp{}, data, n);
  }
}

}  // namespace tessera::engine
