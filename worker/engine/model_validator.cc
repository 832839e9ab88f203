#include "worker/engine/model_validator.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/data_type.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "onnx/checker.h"
#include "onnx/shape_inference/implementation.h"
#include "onnx/version_converter/convert.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/tessera_schemas.h"

namespace tessera::engine {
namespace {

std::string NodeLabel(const onnx::NodeProto& node, int index) {
  return absl::StrCat("node '", node.name().empty() ? absl::StrCat("#", index) : node.name(), "' (",
                      node.op_type(), ")");
}

bool IsOnnxDomain(absl::string_view d) { return d.empty() || d == "ai.onnx"; }

std::string TrimMessage(const std::string& m) {
  constexpr size_t kMax = 600;
  std::string s = m;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.size() > kMax ? s.substr(0, kMax) + "..." : s;
}

// Before opset 7, PRelu's 1-D slope of size C applied per channel (axis 1);
// from opset 7 it broadcasts from the right. The version converter leaves
// the slope alone, so reshape constant slopes to [C, 1, ..., 1].
void AdaptOpset6PRelu(onnx::ModelProto* model) {
  auto* graph = model->mutable_graph();
  absl::flat_hash_map<std::string, int> rank;
  auto note = [&](const onnx::ValueInfoProto& v) {
    if (v.type().tensor_type().has_shape()) rank[v.name()] = v.type().tensor_type().shape().dim_size();
  };
  for (const auto& v : graph->input()) note(v);
  for (const auto& v : graph->value_info()) note(v);
  for (const auto& node : graph->node()) {
    if (node.op_type() != "PRelu" || node.input_size() != 2 || !rank.contains(node.input(0))) continue;
    const int r = rank[node.input(0)];
    for (auto& init : *graph->mutable_initializer()) {
      if (init.name() != node.input(1) || init.dims_size() != 1 || init.dims(0) <= 1 || r < 3) continue;
      for (int k = 0; k < r - 2; ++k) init.add_dims(1);
      for (auto& in : *graph->mutable_input()) {  // old models list initializers as inputs
        if (in.name() != init.name() || !in.type().tensor_type().has_shape()) continue;
        auto* shape = in.mutable_type()->mutable_tensor_type()->mutable_shape();
        for (int k = 0; k < r - 2; ++k) shape->add_dim()->set_dim_value(1);
      }
    }
  }
}

// ONNX's shape inference for Conv and the pooling operators (this ONNX
// version's) trusts their attributes: it indexes pads, strides and
// dilations by the kernel's spatial rank without checking their lengths,
// and divides by the strides, crashing on a mismatch or a zero. They are
// checked here first: every stride, dilation and kernel size >= 1, pads >=
// 0, and lengths agreeing with the kernel's rank (kernel_shape's length,
// or for Conv the weight's rank - 2 when it is an initializer or a graph
// input with a shape, or the data input's rank - 2 when that is known).
absl::Status CheckConvPoolAttributes(const onnx::GraphProto& graph) {
  absl::flat_hash_map<std::string, int> ranks;
  for (const auto& init : graph.initializer()) ranks[init.name()] = init.dims_size();
  for (const auto& in : graph.input()) {
    if (in.type().tensor_type().has_shape()) ranks[in.name()] = in.type().tensor_type().shape().dim_size();
  }
  const absl::flat_hash_set<std::string> conv_pool = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"};
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& node = graph.node(i);
    if (!IsOnnxDomain(node.domain()) || !conv_pool.contains(node.op_type())) continue;
    int spatial = -1;
    if (node.input_size() >= 2 && ranks.contains(node.input(1))) spatial = ranks[node.input(1)] - 2;
    for (const auto& attr : node.attribute()) {
      if (attr.name() == "kernel_shape") spatial = attr.ints_size();
    }
    if (node.input_size() >= 1 && ranks.contains(node.input(0))) {
      const int data_spatial = ranks[node.input(0)] - 2;
      if (data_spatial < 0 || (spatial >= 0 && spatial != data_spatial)) {
        return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node, i), ": input '", node.input(0), "' has rank ",
                                                       ranks[node.input(0)], ", the kernel ", spatial,
                                                       " spatial dimensions"));
      }
      spatial = data_spatial;
    }
    for (const auto& attr : node.attribute()) {
      const bool is_pads = attr.name() == "pads";
      if (!is_pads && attr.name() != "strides" && attr.name() != "dilations" && attr.name() != "kernel_shape") continue;
      for (int64_t v : attr.ints()) {
        if (v < (is_pads ? 0 : 1)) {
          return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node, i), ": attribute '", attr.name(),
                                                         "' has the value ", v, ", must be >= ", is_pads ? 0 : 1));
        }
      }
    }
    if (spatial < 0) continue;
    for (const auto& attr : node.attribute()) {
      const int expected = attr.name() == "pads" ? 2 * spatial
                           : (attr.name() == "strides" || attr.name() == "dilations") ? spatial
                                                                                        : -1;
      if (expected >= 0 && attr.ints_size() != expected) {
        return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node, i), ": attribute '", attr.name(), "' has ",
                                                       attr.ints_size(), " values, ", expected, " expected"));
      }
    }
  }
  return absl::OkStatus();
}

// Models older than kMinOpset are upgraded with ONNX's own version
// converter (it rewrites e.g. the opset-6 `broadcast` attributes); newer
// ones are refused.
absl::Status UpgradeOldOpset(onnx::ModelProto* model) {
  const int opset = OpsetFor(*model, "");
  if (opset <= 0 || opset >= kMinOpset) return absl::OkStatus();
  try {
    // The converter's broadcast adapters need input shapes.
    onnx::shape_inference::InferShapes(*model);
    *model = onnx::version_conversion::ConvertVersion(*model, kMinOpset);
    AdaptOpset6PRelu(model);
  } catch (const std::exception& e) {
    return absl::UnimplementedError(absl::StrCat("model imports ai.onnx opset ", opset,
                                                 " and cannot be upgraded to opset ", kMinOpset, ": ",
                                                 TrimMessage(e.what())));
  }
  return absl::OkStatus();
}

absl::Status CheckOpsets(const onnx::ModelProto& model) {
  bool has_onnx = false;
  for (const auto& imp : model.opset_import()) {
    if (IsOnnxDomain(imp.domain())) {
      has_onnx = true;
      if (imp.version() < kMinOpset || imp.version() > kMaxOpset) {
        return absl::UnimplementedError(absl::StrCat("model imports ai.onnx opset ", imp.version(),
                                                     "; Tessera supports opsets ", kMinOpset, " to ", kMaxOpset));
      }
    }
    if (imp.domain() == kTesseraSimDomain && imp.version() != kTesseraSimOpset) {
      return absl::UnimplementedError(absl::StrCat("model imports ", kTesseraSimDomain, " opset ", imp.version(),
                                                   "; Tessera defines only opset ", kTesseraSimOpset));
    }
  }
  if (!has_onnx && model.graph().node_size() > 0) {
    bool uses_onnx = false;
    for (const auto& n : model.graph().node()) uses_onnx |= IsOnnxDomain(n.domain());
    if (uses_onnx) return absl::InvalidArgumentError("model does not import the ai.onnx opset");
  }
  return absl::OkStatus();
}

absl::Status CheckValueType(const onnx::ValueInfoProto& v, absl::string_view what) {
  if (!v.has_type()) return absl::OkStatus();
  if (!v.type().has_tensor_type()) {
    return absl::UnimplementedError(
        absl::StrCat(what, " '", v.name(), "' is not a tensor (sequences, maps and optionals are not supported)"));
  }
  const int32_t t = v.type().tensor_type().elem_type();
  if (t != 0 && !IsSupportedDataType(t)) {
    return absl::UnimplementedError(
        absl::StrCat(what, " '", v.name(), "' has unsupported element type ", OnnxTypeName(t)));
  }
  return absl::OkStatus();
}

// Checks operators and references, then sorts nodes topologically (Kahn).
absl::Status CheckAndSortNodes(onnx::GraphProto* graph) {
  const KernelRegistry& registry = KernelRegistry::Global();
  absl::flat_hash_set<std::string> available;  // graph inputs and initializers
  for (const auto& in : graph->input()) available.insert(in.name());
  for (const auto& init : graph->initializer()) available.insert(init.name());

  const int n = graph->node_size();
  absl::flat_hash_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    const auto& node = graph->node(i);
    if (node.op_type().empty()) return absl::InvalidArgumentError(absl::StrCat("node #", i, " has no op_type"));
    if (registry.Find(node.domain(), node.op_type()) == nullptr) {
      return absl::UnimplementedError(
          absl::StrCat("unsupported operator '", node.op_type(), "'",
                       IsOnnxDomain(node.domain()) ? "" : absl::StrCat(" in domain '", node.domain(), "'"), " in ",
                       NodeLabel(node, i)));
    }
    for (const auto& out : node.output()) {
      if (out.empty()) continue;
      if (available.contains(out) || !producer.emplace(out, i).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", out, "' is defined more than once (again by ", NodeLabel(node, i), ")"));
      }
    }
  }
  // Edges and in-degrees.
  std::vector<std::vector<int>> consumers(n);
  std::vector<int> indegree(n, 0);
  for (int i = 0; i < n; ++i) {
    const auto& node = graph->node(i);
    absl::flat_hash_set<int> deps;
    for (const auto& in : node.input()) {
      if (in.empty() || available.contains(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end()) {
        return absl::InvalidArgumentError(absl::StrCat("input '", in, "' of ", NodeLabel(node, i),
                                                       " is not a graph input, an initializer or "
                                                       "the output of any node"));
      }
      if (deps.insert(it->second).second) {
        consumers[it->second].push_back(i);
        ++indegree[i];
      }
    }
    for (const auto& attr : node.attribute()) {
      if (attr.has_g() || attr.graphs_size() > 0) {
        return absl::UnimplementedError(
            absl::StrCat(NodeLabel(node, i), " has a subgraph attribute '", attr.name(),
                         "'; control flow is not supported"));
      }
    }
  }
  std::vector<int> order;
  order.reserve(n);
  std::vector<int> ready;
  for (int i = n - 1; i >= 0; --i) {
    if (indegree[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    // Take the lowest index first so an already sorted graph keeps its order.
    int best = 0;
    for (size_t k = 1; k < ready.size(); ++k) {
      if (ready[k] < ready[best]) best = static_cast<int>(k);
    }
    const int i = ready[best];
    ready.erase(ready.begin() + best);
    order.push_back(i);
    for (int c : consumers[i]) {
      if (--indegree[c] == 0) ready.push_back(c);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i) {
      if (indegree[i] > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("the graph has a cycle through ", NodeLabel(graph->node(i), i)));
      }
    }
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> sorted;
  sorted.Reserve(n);
  for (int i : order) *sorted.Add() = std::move(*graph->mutable_node(i));
  graph->mutable_node()->Swap(&sorted);

  for (const auto& out : graph->output()) {
    if (!available.contains(out.name()) && !producer.contains(out.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph output '", out.name(), "' is not produced by any node, input or initializer"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTypes(const onnx::GraphProto& graph) {
  for (const auto& v : graph.input()) TESSERA_RETURN_IF_ERROR(CheckValueType(v, "graph input"));
  for (const auto& v : graph.output()) TESSERA_RETURN_IF_ERROR(CheckValueType(v, "graph output"));
  for (const auto& v : graph.value_info()) TESSERA_RETURN_IF_ERROR(CheckValueType(v, "tensor"));
  for (const auto& t : graph.initializer()) {
    if (!IsSupportedDataType(t.data_type())) {
      return absl::UnimplementedError(absl::StrCat("initializer '", t.name(), "' has unsupported element type ",
                                                   OnnxTypeName(t.data_type())));
    }
  }
  for (const auto& s : graph.sparse_initializer()) {
    return absl::UnimplementedError(absl::StrCat("sparse initializer '", s.values().name(), "' is not supported"));
  }
  return absl::OkStatus();
}

// Declared dims of `what`: each >= 0 and their byte size (elements times
// `element_size`) within int64. Unknown dims (dim_param, or no value) are
// skipped.
absl::Status CheckDims(absl::string_view what, const std::vector<int64_t>& dims, int64_t element_size,
                       int64_t* elements) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat(what, " declares negative dimension ", d));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / std::max<int64_t>(element_size, 1) / d) {
      return absl::InvalidArgumentError(absl::StrCat(what, " declares dims whose byte size overflows int64"));
    }
    n *= d;
  }
  *elements = n;
  return absl::OkStatus();
}

// A tensor stored in the model (initializer or Constant value): sane dims,
// no external data, and exactly as much data as its dims declare -- checked
// before the engine allocates anything for it, so that a few bytes declaring
// 2^40 elements are refused instead of allocated.
absl::Status CheckStoredTensor(const onnx::TensorProto& t, absl::string_view what) {
  const std::string name = absl::StrCat(what, " '", t.name(), "'");
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0) {
    return absl::UnimplementedError(absl::StrCat(name, " uses external data, which is not supported"));
  }
  absl::StatusOr<DataType> dtype = DataTypeFromOnnx(t.data_type());
  if (!dtype.ok()) return absl::OkStatus();  // CheckTypes names it
  const int64_t element_size = static_cast<int64_t>(DataTypeSize(*dtype));
  int64_t elements = 0;
  TESSERA_RETURN_IF_ERROR(CheckDims(name, std::vector<int64_t>(t.dims().begin(), t.dims().end()), element_size,
                                    &elements));
  if (t.has_raw_data()) {
    if (static_cast<int64_t>(t.raw_data().size()) != elements * element_size) {
      return absl::InvalidArgumentError(absl::StrCat(name, " declares ", elements, " elements (",
                                                     elements * element_size, " bytes) but holds ",
                                                     t.raw_data().size(), " bytes of raw data"));
    }
    return absl::OkStatus();
  }
  const int64_t values = static_cast<int64_t>(t.float_data_size()) + t.double_data_size() + t.int32_data_size() +
                         t.int64_data_size() + t.uint64_data_size() + t.string_data_size();
  if (values != elements) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " declares ", elements, " elements but holds ", values, " values"));
  }
  return absl::OkStatus();
}

absl::Status CheckValueDims(const onnx::ValueInfoProto& v, absl::string_view what) {
  if (!v.has_type() || !v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return absl::OkStatus();
  std::vector<int64_t> dims;
  for (const auto& d : v.type().tensor_type().shape().dim()) {
    if (d.has_dim_value()) dims.push_back(d.dim_value());
  }
  absl::StatusOr<DataType> dtype = DataTypeFromOnnx(v.type().tensor_type().elem_type());
  const int64_t element_size = dtype.ok() ? static_cast<int64_t>(DataTypeSize(*dtype)) : 8;
  int64_t elements = 0;
  return CheckDims(absl::StrCat(what, " '", v.name(), "'"), dims, element_size, &elements);
}

absl::Status CheckSizes(const onnx::GraphProto& graph) {
  for (const auto& t : graph.initializer()) TESSERA_RETURN_IF_ERROR(CheckStoredTensor(t, "initializer"));
  for (const auto& node : graph.node()) {
    for (const auto& a : node.attribute()) {
      if (!a.has_t()) continue;
      TESSERA_RETURN_IF_ERROR(
          CheckStoredTensor(a.t(), absl::StrCat("node '", node.name(), "' attribute '", a.name(), "' tensor")));
    }
  }
  for (const auto& v : graph.input()) TESSERA_RETURN_IF_ERROR(CheckValueDims(v, "graph input"));
  for (const auto& v : graph.output()) TESSERA_RETURN_IF_ERROR(CheckValueDims(v, "graph output"));
  for (const auto& v : graph.value_info()) TESSERA_RETURN_IF_ERROR(CheckValueDims(v, "tensor"));
  return absl::OkStatus();
}

}  // namespace

int OpsetFor(const onnx::ModelProto& model, absl::string_view domain) {
  for (const auto& imp : model.opset_import()) {
    if (imp.domain() == domain || (IsOnnxDomain(domain) && IsOnnxDomain(imp.domain()))) {
      return static_cast<int>(imp.version());
    }
  }
  return 0;
}

absl::StatusOr<onnx::ModelProto> ParseAndValidateModel(absl::string_view bytes) {
  // Tessera's own schemas (ai.tessera.sim) before the checker and shape inference.
  RegisterTesseraSchemas();
  if (bytes.empty()) return absl::InvalidArgumentError("model is empty (0 bytes)");
  if (static_cast<int64_t>(bytes.size()) > kMaxModelBytes) {
    return absl::InvalidArgumentError(absl::StrCat("model is ", bytes.size(), " bytes, over the 2 GiB limit"));
  }
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream stream(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                static_cast<int>(bytes.size()));
  stream.SetRecursionLimit(64);
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model bytes (", bytes.size(), ") are not a valid ONNX protobuf (corrupt or truncated)"));
  }
  if (!model.has_graph()) return absl::InvalidArgumentError("model has no graph");
  if (model.ir_version() <= 0) return absl::InvalidArgumentError("model has no ir_version");
  // ONNX's version converter dereferences the producer of every node input
  // and graph output (a dangling name crashes it), and the old Conv / pool
  // shape inference trusts attribute lengths: check these first.
  const int onnx_opset = OpsetFor(model, "");
  if (onnx_opset > 0 && onnx_opset < kMinOpset) {
    TESSERA_RETURN_IF_ERROR(CheckAndSortNodes(model.mutable_graph()));
    TESSERA_RETURN_IF_ERROR(CheckConvPoolAttributes(model.graph()));
  }
  TESSERA_RETURN_IF_ERROR(UpgradeOldOpset(&model));
  TESSERA_RETURN_IF_ERROR(CheckOpsets(model));
  TESSERA_RETURN_IF_ERROR(CheckAndSortNodes(model.mutable_graph()));
  TESSERA_RETURN_IF_ERROR(CheckConvPoolAttributes(model.graph()));
  TESSERA_RETURN_IF_ERROR(CheckTypes(model.graph()));
  TESSERA_RETURN_IF_ERROR(CheckSizes(model.graph()));
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX checker: ", TrimMessage(e.what())));
  }
  try {
    onnx::ShapeInferenceOptions options(/*check_type=*/false, /*error_mode=*/0, /*data_prop=*/true);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("shape inference: ", TrimMessage(e.what())));
  }
  TESSERA_RETURN_IF_ERROR(CheckTypes(model.graph()));
  return model;
}

}  // namespace tessera::engine
