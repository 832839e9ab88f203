#include "worker/engine/graph.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {
namespace {

ValueType TypeOf(const onnx::ValueInfoProto& v) {
  ValueType t;
  if (!v.has_type() || !v.type().has_tensor_type()) return t;
  const auto& tt = v.type().tensor_type();
  t.elem_type = tt.elem_type();
  if (tt.has_shape()) {
    std::vector<int64_t> dims;
    for (const auto& d : tt.shape().dim()) {
      dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
      t.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
    t.dims = std::move(dims);
  }
  return t;
}

}  // namespace

std::optional<Shape> ValueType::StaticShape() const {
  if (!dims.has_value()) return std::nullopt;
  for (int64_t d : *dims) {
    if (d < 0) return std::nullopt;
  }
  return Shape(dims->begin(), dims->end());
}

bool ValueType::SameShapeAs(const ValueType& other) const {
  if (!dims.has_value() || !other.dims.has_value() || dims->size() != other.dims->size()) return false;
  for (size_t i = 0; i < dims->size(); ++i) {
    const int64_t a = (*dims)[i], b = (*other.dims)[i];
    if (a >= 0 || b >= 0) {
      if (a != b) return false;
      continue;
    }
    const std::string& pa = i < dim_params.size() ? dim_params[i] : "";
    const std::string& pb = i < other.dim_params.size() ? other.dim_params[i] : "";
    if (pa.empty() || pa != pb) return false;
  }
  return true;
}

absl::StatusOr<Graph> Graph::FromModel(const onnx::ModelProto& model) {
  Graph g;
  const auto& graph = model.graph();
  for (const auto& imp : model.opset_import()) {
    g.opsets[imp.domain() == "ai.onnx" ? "" : imp.domain()] = static_cast<int>(imp.version());
  }
  for (const auto& init : graph.initializer()) {
    TESSERA_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(init));
    g.types[init.name()] = ValueType{init.data_type(), std::vector<int64_t>(t.shape().begin(), t.shape().end())};
    g.constants[init.name()] = std::move(t);
  }
  for (const auto& in : graph.input()) {
    if (g.constants.contains(in.name())) {
      g.optional_inputs.push_back(in.name());
    } else {
      g.inputs.push_back(in.name());
      g.types[in.name()] = TypeOf(in);
    }
  }
  for (const auto& v : graph.value_info()) g.types.try_emplace(v.name(), TypeOf(v));
  for (const auto& out : graph.output()) {
    g.outputs.push_back(out.name());
    ValueType t = TypeOf(out);
    auto it = g.types.find(out.name());
    if (it == g.types.end() || (!it->second.dims.has_value() && t.dims.has_value())) g.types[out.name()] = t;
  }
  g.nodes.assign(graph.node().begin(), graph.node().end());
  return g;
}

int Graph::OpsetOf(const onnx::NodeProto& node) const {
  std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
  auto it = opsets.find(domain);
  if (it != opsets.end()) return it->second;
  return 1;  // custom domains Tessera defines have a single version
}

bool Graph::IsGraphOutput(const std::string& name) const {
  return std::find(outputs.begin(), outputs.end(), name) != outputs.end();
}

absl::flat_hash_map<std::string, int> Graph::ConsumerCounts() const {
  absl::flat_hash_map<std::string, int> counts;
  for (const auto& n : nodes) {
    for (const auto& in : n.input()) {
      if (!in.empty()) ++counts[in];
    }
  }
  return counts;
}

std::string Graph::UniqueName(const std::string& base) {
  absl::flat_hash_set<std::string> used;
  for (const auto& n : nodes) {
    for (const auto& o : n.output()) used.insert(o);
  }
  while (true) {
    std::string name = absl::StrCat(base, "__tessera", unique_counter_++);
    if (!used.contains(name) && !constants.contains(name) && !types.contains(name)) return name;
  }
}

const Tensor* Graph::ConstantInput(const onnx::NodeProto& node, int i) const {
  if (i >= node.input_size() || node.input(i).empty()) return nullptr;
  auto it = constants.find(node.input(i));
  return it == constants.end() ? nullptr : &it->second;
}

void Graph::EraseNodes(const std::vector<bool>& erased) {
  std::vector<onnx::NodeProto> kept;
  kept.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i >= erased.size() || !erased[i]) kept.push_back(std::move(nodes[i]));
  }
  nodes = std::move(kept);
}

ConsumerIndex::ConsumerIndex(const Graph& graph) : graph_(graph) {
  for (int i = 0; i < static_cast<int>(graph.nodes.size()); ++i) {
    for (const auto& in : graph.nodes[i].input()) {
      if (in.empty()) continue;
      auto& v = readers_[in];
      if (v.empty() || v.back() != i) v.push_back(i);
      ++uses_[in];
    }
  }
}

int ConsumerIndex::Sole(const std::string& name) const {
  if (graph_.IsGraphOutput(name)) return -1;
  auto it = readers_.find(name);
  if (it == readers_.end() || it->second.size() != 1 || uses_.at(name) != 1) return -1;
  return it->second[0];
}

int ConsumerIndex::Uses(const std::string& name) const {
  auto it = uses_.find(name);
  return it == uses_.end() ? 0 : it->second;
}

}  // namespace tessera::engine
