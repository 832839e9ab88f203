// Runs the official ONNX backend tests of the tensor kernel group
// (/usr/share/libonnx-testdata/data/node/test_<op>_*, plus the simple/ and
// pytorch-*/ models made only of this group's operators) through RunKernel
// and compares every output with the expected one. Cases that need element
// types Tessera does not support, or operators of other groups, are skipped.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
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

constexpr const char* kDataDir = "/usr/share/libonnx-testdata/data";

// The operators of this kernel group.
const std::set<std::string>& GroupOps() {
  static const std::set<std::string> ops = {
      "Reshape",  "Flatten", "Squeeze",        "Unsqueeze",       "Concat", "Split",
      "Slice",    "Gather",  "GatherElements", "Transpose",       "Expand", "Tile",
      "Pad",      "Shape",   "Size",           "ConstantOfShape", "Range",  "Constant",
      "Identity", "Dropout", "DepthToSpace",   "SpaceToDepth",    "Trilu"};
  return ops;
}

template <typename Proto>
bool ReadProto(const std::filesystem::path& path, Proto* proto) {
  std::ifstream in(path, std::ios::binary);
  return in && proto->ParseFromIstream(&in);
}

// "node/test_x" cases: node tests named after this group's operators, plus
// any model elsewhere (simple/, pytorch-*) built only from this group's operators.
std::vector<std::string> CaseNames() {
  static constexpr const char* kNodeOps[] = {
      "reshape",      "flatten",   "squeeze", "unsqueeze",      "concat",       "split",    "slice",
      "gather",       "transpose", "expand",  "tile",           "constant_pad", "edge_pad", "reflect_pad",
      "constant",     "shape",     "size",    "range",          "identity",     "dropout",  "depthtospace",
      "spacetodepth", "tril",      "triu",    "constantofshape"};
  auto is_group_node_test = [](const std::string& name) {
    if (name.rfind("test_gathernd", 0) == 0) return false;
    for (const char* op : kNodeOps) {
      const std::string prefix = absl::StrCat("test_", op);
      if (name == prefix || name.rfind(prefix + "_", 0) == 0) return true;
    }
    return false;
  };
  std::vector<std::string> names;
  std::error_code ec;
  for (const char* root : {"node", "simple", "pytorch-operator", "pytorch-converted"}) {
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(kDataDir) / root, ec)) {
      const std::string name = entry.path().filename().string();
      if (std::string(root) == "node") {
        if (is_group_node_test(name)) {
          names.push_back(absl::StrCat(root, "/", name));
        }
        continue;
      }
      onnx::ModelProto model;
      if (!ReadProto(entry.path() / "model.onnx", &model)) continue;
      bool ours = model.graph().node_size() > 0;
      for (const auto& n : model.graph().node()) ours = ours && GroupOps().count(n.op_type()) > 0;
      if (ours) names.push_back(absl::StrCat(root, "/", name));
    }
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) names.push_back("no_onnx_test_data");
  return names;
}

bool IsTensorValue(const onnx::ValueInfoProto& v) { return v.type().has_tensor_type(); }

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

// Runs the model's nodes in order (ONNX graphs are topologically sorted),
// each through RunKernel, and compares the graph outputs.
TEST_P(OnnxNodeTest, MatchesExpectedOutputs) {
  const std::filesystem::path dir = std::filesystem::path(kDataDir) / GetParam();
  if (!std::filesystem::exists(dir / "model.onnx")) GTEST_SKIP() << "ONNX test data not installed";
  onnx::ModelProto model;
  ASSERT_TRUE(ReadProto(dir / "model.onnx", &model));
  const onnx::GraphProto& graph = model.graph();
  for (const auto& n : graph.node()) {
    if (!GroupOps().count(n.op_type())) GTEST_SKIP() << "uses " << n.op_type() << " from another kernel group";
  }
  for (const auto& v : graph.input()) {
    if (!IsTensorValue(v)) GTEST_SKIP() << "non-tensor input " << v.name();
  }
  for (const auto& v : graph.output()) {
    if (!IsTensorValue(v)) GTEST_SKIP() << "non-tensor output " << v.name();
  }
  int opset = 0;
  for (const auto& op : model.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") opset = static_cast<int>(op.version());
  }
  const std::filesystem::path data_dir = dir / "test_data_set_0";

  std::map<std::string, Tensor> values;
  for (const auto& init : graph.initializer()) {
    auto t = TensorFromProto(init);
    if (absl::IsUnimplemented(t.status())) GTEST_SKIP() << t.status();
    ASSERT_TRUE(t.ok()) << t.status();
    values[init.name()] = *t;
  }
  // Graph inputs that are not initializers map to input_<k>.pb in order.
  int k = 0;
  for (const auto& in : graph.input()) {
    if (values.count(in.name())) continue;
    onnx::TensorProto proto;
    ASSERT_TRUE(ReadProto(data_dir / absl::StrCat("input_", k++, ".pb"), &proto));
    auto t = TensorFromProto(proto);
    if (absl::IsUnimplemented(t.status())) GTEST_SKIP() << t.status();
    ASSERT_TRUE(t.ok()) << t.status();
    values[in.name()] = *t;
  }
  for (const auto& node : graph.node()) {
    KernelTestCase tc;
    tc.op_type = node.op_type();
    tc.domain = node.domain();
    tc.opset = opset;
    tc.attrs.assign(node.attribute().begin(), node.attribute().end());
    for (const auto& name : node.input()) {
      if (name.empty()) {
        tc.inputs.push_back(std::nullopt);
      } else {
        ASSERT_TRUE(values.count(name)) << "input " << name;
        tc.inputs.push_back(values[name]);
      }
    }
    tc.num_outputs = node.output_size();
    auto outputs = RunKernel(tc);
    ASSERT_TRUE(outputs.ok()) << node.op_type() << ": " << outputs.status();
    for (int j = 0; j < node.output_size(); ++j) values[node.output(j)] = (*outputs)[j];
  }
  for (int o = 0; o < graph.output_size(); ++o) {
    onnx::TensorProto proto;
    ASSERT_TRUE(ReadProto(data_dir / absl::StrCat("output_", o, ".pb"), &proto));
    auto expected = TensorFromProto(proto);
    if (absl::IsUnimplemented(expected.status())) GTEST_SKIP() << expected.status();
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(values.count(graph.output(o).name()));
    EXPECT_TRUE(TensorsNear(values[graph.output(o).name()], *expected, 1e-6, 1e-7)) << "output " << o;
  }
}

INSTANTIATE_TEST_SUITE_P(Node, OnnxNodeTest, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace tessera::engine
