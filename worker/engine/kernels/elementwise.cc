// The element-wise kernel group: registration and the broadcast plan.
#include <string>

#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/broadcast.h"
#include "worker/engine/kernels/elementwise_common.h"
#include "worker/engine/kernels/kernel_groups.h"

namespace tessera::engine {
namespace elementwise {
namespace {

std::string ShapesToString(const std::vector<Shape>& shapes) {
  std::string all;
  for (const auto& s : shapes) absl::StrAppend(&all, all.empty() ? "" : " and ", ShapeToString(s));
  return all;
}

}  // namespace

absl::StatusOr<BroadcastPlan> BroadcastPlan::Make(absl::string_view op, const std::vector<Shape>& inputs) {
  auto out = BroadcastShapes(inputs);
  if (!out.ok()) return absl::InvalidArgumentError(absl::StrCat(op, ": ", out.status().message()));
  return MakeTo(op, inputs, *out);
}

absl::StatusOr<BroadcastPlan> BroadcastPlan::MakeTo(absl::string_view op, const std::vector<Shape>& inputs,
                                                    const Shape& out) {
  if (inputs.empty() || static_cast<int>(inputs.size()) > kMaxInputs) {
    return absl::InternalError(absl::StrCat(op, ": broadcast plan needs 1..", kMaxInputs, " inputs"));
  }
  const size_t rank = out.size();
  for (const auto& s : inputs) {
    bool ok = s.size() <= rank;
    for (size_t i = 0; ok && i < s.size(); ++i) {
      const int64_t d = s[i], o = out[rank - s.size() + i];
      ok = d == o || d == 1;
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": input shape ", ShapesToString({s}),
                                                     " cannot be broadcast to ", ShapeToString(out)));
    }
  }
  BroadcastPlan plan;
  plan.num_inputs_ = static_cast<int>(inputs.size());
  plan.out_shape_ = out;
  plan.total_ = NumElements(out);
  // Collapse: drop size-1 output dims, merge neighbours with equal patterns.
  std::vector<int64_t> dims;
  std::vector<unsigned> patterns;  // bit k set: input k is full along the dim
  for (size_t i = 0; i < rank; ++i) {
    if (out[i] == 1) continue;
    unsigned pattern = 0;
    for (int k = 0; k < plan.num_inputs_; ++k) {
      const Shape& s = inputs[k];
      const size_t lead = rank - s.size();
      if (i >= lead && s[i - lead] != 1) pattern |= 1u << k;
    }
    if (!dims.empty() && patterns.back() == pattern) {
      dims.back() *= out[i];
    } else {
      dims.push_back(out[i]);
      patterns.push_back(pattern);
    }
  }
  if (dims.empty()) {  // all-ones output: one element
    dims.push_back(1);
    patterns.push_back((1u << plan.num_inputs_) - 1);
  }
  plan.strides_.assign(dims.size(), {});
  for (int k = 0; k < plan.num_inputs_; ++k) {
    int64_t running = 1;
    for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
      if (patterns[d] & (1u << k)) {
        plan.strides_[d][k] = running;
        running *= dims[d];
      }
    }
  }
  plan.inner_stride_ = plan.strides_.back();
  plan.dims_ = std::move(dims);
  return plan;
}

}  // namespace elementwise

void RegisterElementwiseKernels(KernelRegistry& registry) {
  elementwise::RegisterUnaryKernels(registry);
  elementwise::RegisterBinaryKernels(registry);
  elementwise::RegisterVariadicKernels(registry);
  elementwise::RegisterCastKernels(registry);
}

}  // namespace tessera::engine
