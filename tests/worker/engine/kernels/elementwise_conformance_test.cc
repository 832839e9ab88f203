// Runs every single-node ONNX backend test case (libonnx-testdata) whose
// operator belongs to the element-wise group through its kernel and
// compares against the reference outputs. Cases whose inputs use element
// types Tessera does not support are skipped; cases whose only unsupported
// tensor is the output (Cast to FLOAT16, ...) must fail with Unimplemented.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {
namespace {

namespace fs = std::filesystem;
using testing::KernelTestCase;
using testing::RunKernel;
using testing::TensorsNear;

const char kNodeTestDir[] = "/usr/share/libonnx-testdata/data/node";

const std::set<std::string>& ElementwiseOps() {
  static const auto* ops = new std::set<std::string>{
      "Abs", "Acos", "Asin", "Atan", "Ceil", "Cos", "Erf", "Exp", "Floor", "Log", "Neg", "Reciprocal", "Round",
      "Sign", "Sin", "Sqrt", "Tan", "Tanh", "Sigmoid", "Relu", "Elu", "Selu", "LeakyRelu", "HardSigmoid",
      "HardSwish", "Softplus", "Softsign", "ThresholdedRelu", "Not", "Add", "Sub", "Mul", "Div", "Pow", "Mod",
      "And", "Or", "Xor", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "PRelu", "Where", "Cast",
      "CastLike", "Clip", "Sum", "Mean", "Max", "Min"};
  return *ops;
}

template <typename Proto>
bool ParseFile(const fs::path& path, Proto* proto) {
  std::ifstream in(path, std::ios::binary);
  return in && proto->ParseFromIstream(&in);
}

struct CaseResult {
  enum Kind { kRan, kSkipped, kNotElementwise } kind = kNotElementwise;
};

CaseResult RunCase(const fs::path& dir) {
  onnx::ModelProto model;
  if (!ParseFile(dir / "model.onnx", &model) || model.graph().node_size() != 1) return {};
  const onnx::NodeProto& node = model.graph().node(0);
  if (!node.domain().empty() && node.domain() != "ai.onnx") return {};
  if (ElementwiseOps().count(node.op_type()) == 0) return {};
  const std::string name = dir.filename().string();

  KernelTestCase tc;
  tc.op_type = node.op_type();
  tc.opset = 0;
  for (const auto& imp : model.opset_import()) {
    if (imp.domain().empty() || imp.domain() == "ai.onnx") tc.opset = static_cast<int>(imp.version());
  }
  for (const auto& a : node.attribute()) tc.attrs.push_back(a);
  const fs::path data = dir / "test_data_set_0";
  std::map<std::string, Tensor> graph_inputs;
  for (int i = 0; i < model.graph().input_size(); ++i) {
    onnx::TensorProto proto;
    if (!ParseFile(data / ("input_" + std::to_string(i) + ".pb"), &proto)) {
      ADD_FAILURE() << name << ": cannot read input " << i;
      return {CaseResult::kRan};
    }
    auto t = TensorFromProto(proto);
    if (!t.ok()) return {CaseResult::kSkipped};  // unsupported input type
    graph_inputs[model.graph().input(i).name()] = *t;
  }
  for (const auto& in : node.input()) {
    if (in.empty()) {
      tc.inputs.push_back(std::nullopt);
    } else {
      tc.inputs.push_back(graph_inputs.at(in));
    }
  }
  tc.num_outputs = node.output_size();
  std::vector<absl::StatusOr<Tensor>> expected;
  bool output_unsupported = false;
  for (int i = 0; i < model.graph().output_size(); ++i) {
    onnx::TensorProto proto;
    if (!ParseFile(data / ("output_" + std::to_string(i) + ".pb"), &proto)) {
      ADD_FAILURE() << name << ": cannot read output " << i;
      return {CaseResult::kRan};
    }
    expected.push_back(TensorFromProto(proto));
    if (!expected.back().ok()) output_unsupported = true;
  }
  auto actual = RunKernel(tc);
  if (output_unsupported) {
    EXPECT_EQ(actual.status().code(), absl::StatusCode::kUnimplemented) << name << ": " << actual.status();
    return {CaseResult::kRan};
  }
  if (!actual.ok()) {
    ADD_FAILURE() << name << ": " << actual.status();
    return {CaseResult::kRan};
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(TensorsNear((*actual)[i], *expected[i], 1e-5, 1e-6)) << name << " output " << i;
  }
  return {CaseResult::kRan};
}

TEST(ElementwiseConformanceTest, OnnxNodeTestData) {
  if (!fs::exists(kNodeTestDir)) GTEST_SKIP() << "ONNX test data not installed at " << kNodeTestDir;
  int ran = 0, skipped = 0;
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(kNodeTestDir)) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    const CaseResult r = RunCase(dir);
    ran += r.kind == CaseResult::kRan;
    skipped += r.kind == CaseResult::kSkipped;
  }
  std::cout << "ran " << ran << " element-wise cases, skipped " << skipped << " (unsupported types)\n";
  EXPECT_GE(ran, 170);
}

}  // namespace
}  // namespace tessera::engine
