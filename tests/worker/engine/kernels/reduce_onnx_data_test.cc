// Runs the reduction-group kernels on the official ONNX backend node tests
// (/usr/share/libonnx-testdata/data/node/test_{reduce,softmax,logsoftmax,
// argmax,argmin,top_k,cumsum,einsum}_*): each model's single node with its
// attributes and opset, its inputs from test_data_set_*/input_*.pb, and the
// results compared with output_*.pb.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"
#include "tests/worker/engine/kernels/kernel_test_util.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {
namespace {

namespace fs = std::filesystem;
using testing::KernelTestCase;
using testing::RunKernel;
using testing::TensorsNear;

constexpr char kDataDir[] = "/usr/share/libonnx-testdata/data/node";

template <typename Proto>
bool ReadProto(const fs::path& path, Proto* proto) {
  std::ifstream in(path, std::ios::binary);
  return in && proto->ParseFromIstream(&in);
}

std::vector<fs::path> CaseDirs() {
  std::vector<fs::path> dirs;
  if (!fs::exists(kDataDir)) return dirs;
  const std::regex pattern(
      "test_(reduce_(l1|l2|log_sum|log_sum_exp|max|mean|min|prod|sum|sum_square)_.*|reduce_log_sum|"
      "softmax_.*|logsoftmax_.*|argmax_.*|argmin_.*|top_k.*|cumsum_.*|einsum_.*)");
  for (const auto& entry : fs::directory_iterator(kDataDir)) {
    const std::string name = entry.path().filename().string();
    if (name.find("_expanded") != std::string::npos) continue;
    if (std::regex_match(name, pattern)) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(ReductionOnnxData, AllCasesMatch) {
  const std::vector<fs::path> dirs = CaseDirs();
  if (dirs.empty()) GTEST_SKIP() << "ONNX test data not installed at " << kDataDir;
  int cases = 0;
  for (const fs::path& dir : dirs) {
    SCOPED_TRACE(dir.filename().string());
    onnx::ModelProto model;
    ASSERT_TRUE(ReadProto(dir / "model.onnx", &model));
    ASSERT_EQ(model.graph().node_size(), 1);
    const onnx::NodeProto& node = model.graph().node(0);
    KernelTestCase tc;
    tc.op_type = node.op_type();
    for (const auto& opset : model.opset_import()) {
      if (opset.domain().empty() || opset.domain() == "ai.onnx") tc.opset = static_cast<int>(opset.version());
    }
    for (const auto& a : node.attribute()) tc.attrs.push_back(a);
    tc.num_outputs = node.output_size();
    for (const auto& set : fs::directory_iterator(dir)) {
      if (!set.is_directory()) continue;
      tc.inputs.clear();
      for (int i = 0; i < node.input_size(); ++i) {
        if (node.input(i).empty()) {
          tc.inputs.push_back(std::nullopt);
          continue;
        }
        onnx::TensorProto proto;
        ASSERT_TRUE(ReadProto(set.path() / ("input_" + std::to_string(i) + ".pb"), &proto));
        auto tensor = TensorFromProto(proto);
        ASSERT_TRUE(tensor.ok()) << tensor.status();
        tc.inputs.push_back(*tensor);
      }
      auto outputs = RunKernel(tc);
      ASSERT_TRUE(outputs.ok()) << outputs.status();
      for (int i = 0; i < node.output_size(); ++i) {
        onnx::TensorProto proto;
        ASSERT_TRUE(ReadProto(set.path() / ("output_" + std::to_string(i) + ".pb"), &proto));
        auto expected = TensorFromProto(proto);
        ASSERT_TRUE(expected.ok()) << expected.status();
        EXPECT_TRUE(TensorsNear((*outputs)[i], *expected, 1e-4, 1e-5)) << "output " << i;
      }
      ++cases;
    }
  }
  EXPECT_GT(cases, 100);
}

}  // namespace
}  // namespace tessera::engine
