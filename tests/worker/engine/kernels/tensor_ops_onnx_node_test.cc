// Runs the official ONNX backend node tests of the tensor kernel group
// (/usr/share/libonnx-testdata/data/node/test_<op>_*) through RunKernel and
// compares every output with the expected one. Cases that need element types
// Tessera does not support, or graphs of more than one node, are skipped.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {
namespace {

using testing::KernelTestCase;
using testing::RunKernel;
using testing::TensorsNear;

constexpr const char* kNodeTestDir = "/usr/share/libonnx-testdata/data/node";

// The test directories of the operators this kernel group implements.
std::vector<std::string> CaseNames() {
  static const std::regex kOps(
      "test_(reshape|flatten|squeeze|unsqueeze|concat|split|slice|gather|gather_elements|transpose|expand|tile|"
      "constant_pad|edge_pad|reflect_pad|constant|constantofshape|shape|size|range|identity|dropout|depthtospace|"
      "spacetodepth|tril|triu)(_.*)?");
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kNodeTestDir, ec)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, kOps) && name.find("gathernd") == std::string::npos) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) names.push_back("no_onnx_test_data");
  return names;
}

template <typename Proto>
bool ReadProto(const std::filesystem::path& path, Proto* proto) {
  std::ifstream in(path, std::ios::binary);
  return in && proto->ParseFromIstream(&in);
}

bool IsTensorValue(const onnx::ValueInfoProto& v) { return v.type().has_tensor_type(); }

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, MatchesExpectedOutputs) {
  const std::filesystem::path dir = std::filesystem::path(kNodeTestDir) / GetParam();
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "ONNX test data not installed";
  onnx::ModelProto model;
  ASSERT_TRUE(ReadProto(dir / "model.onnx", &model));
  const onnx::GraphProto& graph = model.graph();
  if (graph.node_size() != 1) GTEST_SKIP() << "multi-node graph";
  for (const auto& v : graph.input()) {
    if (!IsTensorValue(v)) GTEST_SKIP() << "non-tensor input " << v.name();
  }
  for (const auto& v : graph.output()) {
    if (!IsTensorValue(v)) GTEST_SKIP() << "non-tensor output " << v.name();
  }
  const onnx::NodeProto& node = graph.node(0);
  KernelTestCase tc;
  tc.op_type = node.op_type();
  tc.domain = node.domain();
  for (const auto& op : model.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") tc.opset = static_cast<int>(op.version());
  }
  tc.attrs.assign(node.attribute().begin(), node.attribute().end());
  const std::filesystem::path data_dir = dir / "test_data_set_0";

  // Graph inputs map to input_<k>.pb in order.
  std::map<std::string, Tensor> values;
  for (int k = 0; k < graph.input_size(); ++k) {
    onnx::TensorProto proto;
    ASSERT_TRUE(ReadProto(data_dir / absl::StrCat("input_", k, ".pb"), &proto));
    auto t = TensorFromProto(proto);
    if (absl::IsUnimplemented(t.status())) GTEST_SKIP() << t.status();
    ASSERT_TRUE(t.ok()) << t.status();
    values[graph.input(k).name()] = *t;
  }
  for (const auto& init : graph.initializer()) {
    auto t = TensorFromProto(init);
    ASSERT_TRUE(t.ok()) << t.status();
    values[init.name()] = *t;
  }
  for (const auto& name : node.input()) {
    if (name.empty()) {
      tc.inputs.push_back(std::nullopt);
    } else {
      ASSERT_TRUE(values.count(name)) << "input " << name;
      tc.inputs.push_back(values[name]);
    }
  }
  tc.num_outputs = node.output_size();
  std::vector<Tensor> expected;
  for (int k = 0; k < graph.output_size(); ++k) {
    onnx::TensorProto proto;
    ASSERT_TRUE(ReadProto(data_dir / absl::StrCat("output_", k, ".pb"), &proto));
    auto t = TensorFromProto(proto);
    if (absl::IsUnimplemented(t.status())) GTEST_SKIP() << t.status();
    ASSERT_TRUE(t.ok()) << t.status();
    expected.push_back(*t);
  }

  auto outputs = RunKernel(tc);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  for (int k = 0; k < graph.output_size(); ++k) {
    int node_index = -1;
    for (int j = 0; j < node.output_size(); ++j) {
      if (node.output(j) == graph.output(k).name()) node_index = j;
    }
    ASSERT_GE(node_index, 0);
    EXPECT_TRUE(TensorsNear((*outputs)[node_index], expected[k], 1e-6, 1e-7)) << "output " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Node, OnnxNodeTest, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace tessera::engine
