// NodeContext: the KernelContext the engine hands a kernel for one call.
// It borrows the input and output slots of the running graph; outputs are
// allocated through an optional OutputAllocator (the run's arena), else on
// the heap.
#pragma once

#include <deque>
#include <vector>

#include "worker/engine/kernel.h"

namespace tessera::engine {

class OutputAllocator {
 public:
  virtual ~OutputAllocator() = default;
  // Storage for output `index` of the current node, or an undefined Tensor
  // when the allocator has none suitable (the context then uses the heap).
  virtual Tensor Allocate(int index, DataType type, const Shape& shape) = 0;
};

class NodeContext final : public KernelContext {
 public:
  // `inputs[i]` may be nullptr (absent optional input). `outputs[i]` is
  // nullptr when the output is not requested. All pointers are borrowed.
  NodeContext(std::vector<const Tensor*> inputs, std::vector<Tensor*> outputs, int threads,
              OutputAllocator* allocator)
      : inputs_(std::move(inputs)), outputs_(std::move(outputs)), threads_(threads), allocator_(allocator) {}

  int num_inputs() const override { return static_cast<int>(inputs_.size()); }
  const Tensor* input(int i) const override {
    return i >= 0 && i < num_inputs() ? inputs_[i] : nullptr;
  }
  int num_outputs() const override { return static_cast<int>(outputs_.size()); }
  bool output_requested(int i) const override { return i >= 0 && i < num_outputs() && outputs_[i] != nullptr; }
  Tensor* AllocateOutput(int i, DataType type, const Shape& shape) override;
  void SetOutput(int i, Tensor tensor) override;
  int num_threads() const override { return threads_; }

 private:
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
  std::deque<Tensor> scratch_;    // outputs a kernel writes but nobody wants
  int threads_;
  OutputAllocator* allocator_;
};

}  // namespace tessera::engine
