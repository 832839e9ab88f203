// Runs the official ONNX backend node tests of the pool / normalization /
// resize kernels (from /usr/share/libonnx-testdata) through RunKernel: each
// case's model.onnx gives the node (op, attributes, opset) and
// test_data_set_0 the inputs and expected outputs. Cases are skipped when the
// test data is not installed.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kNodeTestDir = "/usr/share/libonnx-testdata/data/node";

std::vector<std::string> CaseNames() {
  static const char* kPrefixes[] = {"test_averagepool_", "test_maxpool_",     "test_globalaveragepool",
                                    "test_globalmaxpool", "test_batchnorm_",  "test_instancenorm_",
                                    "test_layer_normalization_", "test_lrn", "test_resize_"};
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(kNodeTestDir, ec)) return names;
  for (const auto& entry : fs::directory_iterator(kNodeTestDir, ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::EndsWith(name, "_expanded")) continue;
    for (const char* prefix : kPrefixes) {
      if (absl::StartsWith(name, prefix)) {
        names.push_back(name);
        break;
      }
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

template <typename Proto>
bool ReadProto(const fs::path& path, Proto* proto) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  std::stringstream buffer;
  buffer << file.rdbuf();
  return proto->ParseFromString(buffer.str());
}

absl::StatusOr<Tensor> ReadTensor(const fs::path& path) {
  onnx::TensorProto proto;
  if (!ReadProto(path, &proto)) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  return TensorFromProto(proto);
}

class OnnxNodeDataTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeDataTest, MatchesExpectedOutputs) {
  const fs::path dir = fs::path(kNodeTestDir) / GetParam();
  onnx::ModelProto model;
  ASSERT_TRUE(ReadProto(dir / "model.onnx", &model));
  int opset = 0;
  for (const auto& import : model.opset_import()) {
    if (import.domain().empty() || import.domain() == "ai.onnx") opset = static_cast<int>(import.version());
  }
  const fs::path data = dir / "test_data_set_0";
  std::map<std::string, Tensor> values;
  for (int i = 0; i < model.graph().input_size(); ++i) {
    auto t = ReadTensor(data / absl::StrCat("input_", i, ".pb"));
    ASSERT_TRUE(t.ok()) << t.status();
    values[model.graph().input(i).name()] = *t;
  }
  const onnx::NodeProto* node = nullptr;
  for (const auto& n : model.graph().node()) {
    if (n.op_type() == "Constant") {
      NodeAttributes attrs(n);
      auto t = attrs.GetTensor("value");
      ASSERT_TRUE(t.ok()) << t.status();
      values[n.output(0)] = *t;
    } else {
      ASSERT_EQ(node, nullptr) << "more than one computing node";
      node = &n;
    }
  }
  ASSERT_NE(node, nullptr);
  KernelTestCase tc;
  tc.op_type = node->op_type();
  tc.opset = opset;
  for (const auto& a : node->attribute()) tc.attrs.push_back(a);
  for (const auto& name : node->input()) {
    if (name.empty()) {
      tc.inputs.push_back(std::nullopt);
    } else {
      ASSERT_TRUE(values.count(name)) << name;
      tc.inputs.push_back(values[name]);
    }
  }
  tc.num_outputs = node->output_size();
  auto outputs = RunKernel(tc);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  for (int i = 0; i < model.graph().output_size(); ++i) {
    const std::string& name = model.graph().output(i).name();
    auto expected = ReadTensor(data / absl::StrCat("output_", i, ".pb"));
    ASSERT_TRUE(expected.ok()) << expected.status();
    for (int k = 0; k < node->output_size(); ++k) {
      if (node->output(k) == name) {
        EXPECT_TRUE(TensorsNear((*outputs)[k], *expected, 1e-4, 1e-5)) << "output " << name;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(PoolNormResize, OnnxNodeDataTest, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OnnxNodeDataTest);

}  // namespace
}  // namespace tessera::engine::testing
