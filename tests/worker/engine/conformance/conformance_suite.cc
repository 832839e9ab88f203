#include "tests/worker/engine/conformance/conformance_suite.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "onnx/onnx_pb.h"
#include "worker/engine/engine.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine::conformance {
namespace fs = std::filesystem;

const std::vector<std::string>& SuiteDirectories() {
  static const std::vector<std::string> dirs = {"node", "pytorch-converted", "pytorch-operator", "simple"};
  return dirs;
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPass: return "PASS";
    case Outcome::kFail: return "FAIL";
    case Outcome::kUnsupported: return "UNSUPPORTED";
    case Outcome::kExcluded: return "EXCLUDED";
  }
  return "?";
}

const std::vector<std::string>& CommittedOperators() {
  static const std::vector<std::string> ops = {
      "Abs", "Acos", "Add", "And", "ArgMax", "ArgMin", "Asin", "Atan", "AveragePool", "BatchNormalization", "Cast",
      "Ceil", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "CumSum",
      "DepthToSpace", "Div", "Dropout", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor",
      "Gather", "GatherElements", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual",
      "HardSigmoid", "HardSwish", "Identity", "InstanceNormalization", "LayerNormalization", "LeakyRelu", "Less",
      "LessOrEqual", "Log", "LogSoftmax", "LRN", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mod", "Mul", "Neg",
      "Not", "Or", "Pad", "Pow", "PRelu", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSumExp",
      "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape",
      "Resize", "Round", "Selu", "Shape", "Sigmoid", "Sign", "Sin", "Size", "Slice", "Softmax", "Softplus",
      "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tan", "Tanh", "ThresholdedRelu",
      "Tile", "TopK", "Transpose", "Trilu", "Unsqueeze", "Where", "Xor"};
  return ops;
}

std::vector<Exclusion> ParseExclusions(const std::string& text) {
  std::vector<Exclusion> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    Exclusion e;
    size_t hash = line.find('#');
    e.pattern = std::string(absl::StripAsciiWhitespace(line.substr(0, hash)));
    if (hash != absl::string_view::npos) e.reason = std::string(absl::StripAsciiWhitespace(line.substr(hash + 1)));
    out.push_back(std::move(e));
  }
  return out;
}

bool GlobMatch(const std::string& pattern, const std::string& text) {
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

bool ReadFile(const fs::path& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

std::string Compare(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.dtype() != expected.dtype()) {
    return absl::StrCat("dtype ", DataTypeName(actual.dtype()), " != expected ", DataTypeName(expected.dtype()));
  }
  if (actual.shape() != expected.shape()) {
    return absl::StrCat("shape ", ShapeToString(actual.shape()), " != expected ", ShapeToString(expected.shape()));
  }
  for (int64_t i = 0; i < actual.num_elements(); ++i) {
    const double a = actual.GetAsDouble(i), e = expected.GetAsDouble(i);
    if (std::isnan(e) && std::isnan(a)) continue;
    if (std::isinf(e) && a == e) continue;
    if (!(std::fabs(a - e) <= atol + rtol * std::fabs(e))) {
      return absl::StrCat("element ", i, ": ", a, " != expected ", e);
    }
  }
  return "";
}

}  // namespace

std::vector<std::string> ListCases(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& suite : SuiteDirectories()) {
    fs::path dir = fs::path(root) / suite;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (fs::exists(entry.path() / "model.onnx")) out.push_back(suite + "/" + entry.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

CaseResult RunCase(const std::string& dir, const std::string& name, const std::vector<Exclusion>& exclusions,
                   double rtol, double atol) {
  CaseResult result;
  result.name = name;
  for (const auto& e : exclusions) {
    if (GlobMatch(e.pattern, name)) {
      result.outcome = Outcome::kExcluded;
      result.detail = e.reason;
      return result;
    }
  }
  std::string bytes;
  if (!ReadFile(fs::path(dir) / "model.onnx", &bytes)) {
    result.detail = "cannot read model.onnx";
    return result;
  }
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) {
    result.detail = "model.onnx does not parse";
    return result;
  }
  static const std::set<std::string> committed(CommittedOperators().begin(), CommittedOperators().end());
  std::set<std::string> missing;
  for (const auto& node : model.graph().node()) {
    const bool onnx_domain = node.domain().empty() || node.domain() == "ai.onnx";
    if (!onnx_domain || !committed.contains(node.op_type())) {
      missing.insert(onnx_domain ? node.op_type() : node.domain() + ":" + node.op_type());
    }
  }
  if (!missing.empty()) {
    result.outcome = Outcome::kUnsupported;
    result.detail = absl::StrCat("operators outside the committed list: ", absl::StrJoin(missing, ", "));
    return result;
  }
  auto engine = Engine::LoadFromBytes(bytes);
  if (!engine.ok()) {
    result.detail = absl::StrCat("load: ", engine.status().ToString());
    return result;
  }
  std::vector<std::string> input_names;
  {
    std::set<std::string> inits;
    for (const auto& i : model.graph().initializer()) inits.insert(i.name());
    for (const auto& in : model.graph().input()) {
      if (!inits.contains(in.name())) input_names.push_back(in.name());
    }
  }
  int sets = 0;
  std::vector<fs::path> set_dirs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      set_dirs.push_back(entry.path());
    }
  }
  std::sort(set_dirs.begin(), set_dirs.end());
  for (const fs::path& set_dir : set_dirs) {
    std::vector<NamedTensor> inputs;
    for (size_t i = 0;; ++i) {
      std::string data;
      if (!ReadFile(set_dir / absl::StrCat("input_", i, ".pb"), &data)) break;
      onnx::TensorProto proto;
      if (!proto.ParseFromString(data)) {
        result.detail = absl::StrCat(set_dir.filename().string(), ": input_", i, ".pb does not parse");
        return result;
      }
      auto t = TensorFromProto(proto);
      if (!t.ok()) {
        result.detail = absl::StrCat("input ", i, ": ", t.status().ToString());
        return result;
      }
      std::string iname = proto.name().empty() && i < input_names.size() ? input_names[i] : proto.name();
      if (i < input_names.size() && std::find(input_names.begin(), input_names.end(), iname) == input_names.end()) {
        iname = input_names[i];
      }
      inputs.push_back({iname, *std::move(t)});
    }
    auto outputs = (*engine)->Run(inputs);
    if (!outputs.ok()) {
      result.detail = absl::StrCat(set_dir.filename().string(), ": run: ", outputs.status().ToString());
      return result;
    }
    for (size_t i = 0;; ++i) {
      std::string data;
      if (!ReadFile(set_dir / absl::StrCat("output_", i, ".pb"), &data)) break;
      onnx::TensorProto proto;
      if (!proto.ParseFromString(data)) {
        result.detail = absl::StrCat("output_", i, ".pb does not parse");
        return result;
      }
      auto expected = TensorFromProto(proto);
      if (!expected.ok()) {
        result.detail = absl::StrCat("expected output ", i, ": ", expected.status().ToString());
        return result;
      }
      if (i >= outputs->size()) {
        result.detail = absl::StrCat("engine produced ", outputs->size(), " outputs, expected more");
        return result;
      }
      std::string diff = Compare((*outputs)[i], *expected, rtol, atol);
      if (!diff.empty()) {
        result.detail = absl::StrCat(set_dir.filename().string(), " output ", i, " (", (*engine)->outputs()[i].name,
                                     "): ", diff);
        return result;
      }
    }
    ++sets;
  }
  if (sets == 0) {
    result.detail = "no test_data_set_* directories";
    return result;
  }
  result.outcome = Outcome::kPass;
  return result;
}

}  // namespace tessera::engine::conformance
