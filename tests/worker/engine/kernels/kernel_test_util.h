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
