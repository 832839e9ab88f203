#include "worker/engine/node_context.h"

namespace tessera::engine {

Tensor* NodeContext::AllocateOutput(int i, DataType type, const Shape& shape) {
  Tensor* slot = output_requested(i) ? outputs_[i] : nullptr;
  if (slot == nullptr) {
    // Kernels may write outputs nobody asked for; give them private storage.
    scratch_.push_back(Tensor::Allocate(type, shape));
    return &scratch_.back();
  }
  if (allocator_ != nullptr) {
    Tensor t = allocator_->Allocate(i, type, shape);
    if (t.defined()) {
      *slot = std::move(t);
      return slot;
    }
  }
  *slot = Tensor::Allocate(type, shape);
  return slot;
}

void NodeContext::SetOutput(int i, Tensor tensor) {
  if (output_requested(i)) *outputs_[i] = std::move(tensor);
}

}  // namespace tessera::engine
