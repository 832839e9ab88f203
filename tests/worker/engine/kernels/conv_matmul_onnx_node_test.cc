// Runs the official ONNX backend node tests for Conv, ConvTranspose, MatMul
// and Gemm (from /usr/share/libonnx-testdata) through the kernels, with the
// inputs both as runtime values and as load-time constants (packed weights).
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kNodeTestDir[] = "/usr/share/libonnx-testdata/data/node";

template <typename Proto>
bool ParseFile(const fs::path& path, Proto& proto) {
  std::ifstream in(path, std::ios::binary);
  return in && proto.ParseFromIstream(&in);
}

std::vector<std::string> NodeTests() {
  std::vector<std::string> names;
  if (!fs::exists(kNodeTestDir)) return names;
  const std::regex wanted("test_(basic_conv|conv|convtranspose|matmul|gemm)(_.*)?");
  const std::regex excluded(".*integer.*");
  for (const auto& entry : fs::directory_iterator(kNodeTestDir)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, wanted) && !std::regex_match(name, excluded)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, MatchesReferenceOutput) {
  const fs::path dir = fs::path(kNodeTestDir) / GetParam();
  onnx::ModelProto model;
  ASSERT_TRUE(ParseFile(dir / "model.onnx", model));
  ASSERT_EQ(model.graph().node_size(), 1);
  const onnx::NodeProto& node = model.graph().node(0);
  int opset = 0;
  for (const auto& imp : model.opset_import()) {
    if (imp.domain().empty() || imp.domain() == "ai.onnx") opset = static_cast<int>(imp.version());
  }
  for (bool constant : {false, true}) {
    KernelTestCase tc;
    tc.op_type = node.op_type();
    tc.opset = opset;
    tc.inputs_constant = constant;
    tc.attrs.assign(node.attribute().begin(), node.attribute().end());
    int file_index = 0;
    for (int i = 0; i < node.input_size(); ++i) {
      if (node.input(i).empty()) {
        tc.inputs.push_back(std::nullopt);
        continue;
      }
      onnx::TensorProto proto;
      ASSERT_TRUE(ParseFile(dir / "test_data_set_0" / ("input_" + std::to_string(file_index++) + ".pb"), proto));
      auto t = TensorFromProto(proto);
      ASSERT_TRUE(t.ok()) << t.status();
      tc.inputs.push_back(*t);
    }
    onnx::TensorProto expected_proto;
    ASSERT_TRUE(ParseFile(dir / "test_data_set_0" / "output_0.pb", expected_proto));
    auto expected = TensorFromProto(expected_proto);
    ASSERT_TRUE(expected.ok());
    auto out = RunKernel(tc);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(TensorsNear((*out)[0], *expected, 1e-4, 1e-5)) << GetParam() << (constant ? " (constant)" : "");
  }
}

INSTANTIATE_TEST_SUITE_P(Node, OnnxNodeTest, ::testing::ValuesIn(NodeTests()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OnnxNodeTest);

}  // namespace
}  // namespace tessera::engine::testing
