#include "tests/worker/engine/kernels/kernel_test_util.h"

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine::testing {
namespace {

}  // namespace

absl::StatusOr<std::vector<Tensor>> RunKernel(const KernelTestCase& tc) {
  const KernelDef* def = KernelRegistry::Global().Find(tc.domain, tc.op_type);
  if (def == nullptr) return absl::NotFoundError(absl::StrCat("no kernel for ", tc.domain, ":", tc.op_type));
  onnx::NodeProto node;
  node.set_op_type(tc.op_type);
  node.set_domain(tc.domain);
  node.set_name("test_node");
  for (size_t i = 0; i < tc.inputs.size(); ++i) node.add_input(tc.inputs[i].has_value() ? absl::StrCat("in", i) : "");
  for (int i = 0; i < tc.num_outputs; ++i) node.add_output(absl::StrCat("out", i));
  for (const auto& a : tc.attrs) *node.add_attribute() = a;
  NodeAttributes attrs(node);
  KernelInit init{node, attrs, 0, {}, {}, {}};
  init.opset = tc.opset;
  for (const auto& in : tc.inputs) {
    init.constant_inputs.push_back(tc.inputs_constant && in.has_value() ? &*in : nullptr);
    init.input_present.push_back(in.has_value());
    init.input_shapes.push_back(in.has_value() ? std::optional<Shape>(in->shape()) : std::nullopt);
  }
  auto kernel = def->factory(init);
  if (!kernel.ok()) return kernel.status();
  TestKernelContext ctx(tc.inputs, tc.threads, tc.num_outputs);
  absl::Status st = (*kernel)->Compute(ctx);
  if (!st.ok()) return st;
  return std::move(ctx.outputs());
}

Tensor RandomTensor(Shape shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::Allocate(DataType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

onnx::AttributeProto Attr(const std::string& name, int64_t value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(value);
  return a;
}
onnx::AttributeProto Attr(const std::string& name, float value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::FLOAT);
  a.set_f(value);
  return a;
}
onnx::AttributeProto Attr(const std::string& name, const std::string& value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::STRING);
  a.set_s(value);
  return a;
}
onnx::AttributeProto Attr(const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (auto v : values) a.add_ints(v);
  return a;
}
onnx::AttributeProto Attr(const std::string& name, const std::vector<float>& values) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::FLOATS);
  for (auto v : values) a.add_floats(v);
  return a;
}
onnx::AttributeProto Attr(const std::string& name, const Tensor& value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::TENSOR);
  *a.mutable_t() = TensorToProto(value, name);
  return a;
}

::testing::AssertionResult TensorsNear(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.dtype() != expected.dtype()) {
    return ::testing::AssertionFailure() << "dtype " << DataTypeName(actual.dtype()) << " != "
                                         << DataTypeName(expected.dtype());
  }
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << ShapeToString(actual.shape())
                                         << " != " << ShapeToString(expected.shape());
  }
  for (int64_t i = 0; i < actual.num_elements(); ++i) {
    const double a = actual.GetAsDouble(i), e = expected.GetAsDouble(i);
    if (std::isnan(a) && std::isnan(e)) continue;
    if (std::isinf(e) && a == e) continue;
    if (!(std::fabs(a - e) <= atol + rtol * std::fabs(e))) {
      return ::testing::AssertionFailure() << "element " << i << ": " << a << " != " << e;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace tessera::engine::testing
