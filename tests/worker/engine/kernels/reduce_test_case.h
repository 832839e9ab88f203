// Builds a KernelTestCase without designated initializers (which trip
// -Wmissing-field-initializers, an error under -Werror) for the reduction
// group's tests.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/worker/engine/kernels/kernel_test_util.h"

namespace tessera::engine::testing {

inline KernelTestCase Case(std::string op_type, int opset, std::vector<onnx::AttributeProto> attrs,
                           std::vector<std::optional<Tensor>> inputs, int num_outputs = 1) {
  KernelTestCase tc;
  tc.op_type = std::move(op_type);
  tc.opset = opset;
  tc.attrs = std::move(attrs);
  tc.inputs = std::move(inputs);
  tc.num_outputs = num_outputs;
  return tc;
}

}  // namespace tessera::engine::testing
