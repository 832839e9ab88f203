// Runs one kernel outside any model, for kernel unit tests.
//
//   auto out = RunKernel({.op_type = "Relu", .inputs = {Tensor::FromVector<float>({2}, {-1, 2})}});
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "worker/engine/kernel.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine::testing {

struct KernelTestCase {
  std::string op_type;
  std::string domain;  // "" = ai.onnx
  int opset = 17;
  std::vector<onnx::AttributeProto> attrs;
  // std::nullopt = omitted optional input.
  std::vector<std::optional<Tensor>> inputs;
  int num_outputs = 1;
  // Pass the inputs to the factory as load-time constants too.
  bool inputs_constant = false;
  int threads = 2;
};

absl::StatusOr<std::vector<Tensor>> RunKernel(const KernelTestCase& test_case);

// A KernelContext over owned inputs (std::nullopt = omitted) whose outputs
// are heap tensors, for tests that build a kernel once and call Compute
// many times.
class TestKernelContext : public KernelContext {
 public:
  TestKernelContext(std::vector<std::optional<Tensor>> inputs, int threads, int num_outputs = 1)
      : inputs_(std::move(inputs)), outputs_(num_outputs), threads_(threads) {}
  int num_inputs() const override { return static_cast<int>(inputs_.size()); }
  const Tensor* input(int i) const override {
    return i >= 0 && i < num_inputs() && inputs_[i].has_value() ? &*inputs_[i] : nullptr;
  }
  int num_outputs() const override { return static_cast<int>(outputs_.size()); }
  bool output_requested(int i) const override { return i >= 0 && i < num_outputs(); }
  Tensor* AllocateOutput(int i, DataType type, const Shape& shape) override {
    outputs_[i] = Tensor::Allocate(type, shape);
    return &outputs_[i];
  }
  void SetOutput(int i, Tensor tensor) override { outputs_[i] = std::move(tensor); }
  int num_threads() const override { return threads_; }
  const Tensor& output(int i = 0) const { return outputs_[i]; }
  std::vector<Tensor>& outputs() { return outputs_; }

 private:
  std::vector<std::optional<Tensor>> inputs_;
  std::vector<Tensor> outputs_;
  int threads_;
};

// A node proto with `attrs` and a NodeAttributes view of it, for building a
// KernelInit by hand.
struct TestNode {
  explicit TestNode(const std::vector<onnx::AttributeProto>& attrs) {
    for (const auto& a : attrs) *proto.add_attribute() = a;
    attributes = std::make_unique<NodeAttributes>(proto);
  }
  onnx::NodeProto proto;
  std::unique_ptr<NodeAttributes> attributes;
};

// float32 values uniform in [lo, hi), reproducible from `seed`.
Tensor RandomTensor(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

onnx::AttributeProto Attr(const std::string& name, int64_t value);
onnx::AttributeProto Attr(const std::string& name, float value);
onnx::AttributeProto Attr(const std::string& name, const std::string& value);
onnx::AttributeProto Attr(const std::string& name, const std::vector<int64_t>& values);
onnx::AttributeProto Attr(const std::string& name, const std::vector<float>& values);
onnx::AttributeProto Attr(const std::string& name, const Tensor& value);

// Element-wise comparison with |a-b| <= atol + rtol*|b|; a message on mismatch.
::testing::AssertionResult TensorsNear(const Tensor& actual, const Tensor& expected, double rtol = 1e-5,
                                       double atol = 1e-6);

}  // namespace tessera::engine::testing
