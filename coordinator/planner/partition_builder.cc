#include "coordinator/planner/partition_builder.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace tessera::planner {
namespace {

absl::Status CheckBounds(const std::vector<int>& bounds, int nodes) {
  if (bounds.size() < 2 || bounds.front() != 0 || bounds.back() != nodes) {
    return absl::InvalidArgumentError(absl::StrCat("stage bounds must run from 0 to ", nodes));
  }
  for (size_t i = 1; i < bounds.size(); ++i) {
    if (bounds[i] <= bounds[i - 1]) return absl::InvalidArgumentError("stage bounds must be strictly increasing");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BuiltPartitions> BuildPartitions(const onnx::ModelProto& optimized, const std::vector<int>& bounds,
                                                const absl::flat_hash_map<std::string, engine::TensorInfo>& traced) {
  const onnx::GraphProto& graph = optimized.graph();
  const int n = graph.node_size();
  if (absl::Status st = CheckBounds(bounds, n); !st.ok()) return st;
  const int stages = static_cast<int>(bounds.size()) - 1;

  absl::flat_hash_map<std::string, const onnx::TensorProto*> initializers;
  for (const auto& init : graph.initializer()) initializers[init.name()] = &init;
  absl::flat_hash_map<std::string, const onnx::ValueInfoProto*> infos;
  for (const auto& v : graph.value_info()) infos[v.name()] = &v;
  for (const auto& v : graph.output()) infos[v.name()] = &v;
  for (const auto& v : graph.input()) infos[v.name()] = &v;
  absl::flat_hash_set<std::string> graph_inputs;
  for (const auto& v : graph.input()) {
    if (!initializers.contains(v.name())) graph_inputs.insert(v.name());
  }

  // Producer stage of each node output, and the last stage reading each tensor.
  std::vector<int> stage_of(n);
  for (int s = 0; s < stages; ++s) {
    for (int i = bounds[s]; i < bounds[s + 1]; ++i) stage_of[i] = s;
  }
  absl::flat_hash_map<std::string, int> produced_in;
  absl::flat_hash_map<std::string, std::vector<int>> read_in;  // stages reading a tensor
  for (int i = 0; i < n; ++i) {
    for (const auto& o : graph.node(i).output()) {
      if (!o.empty()) produced_in[o] = stage_of[i];
    }
    for (const auto& in : graph.node(i).input()) {
      if (in.empty()) continue;
      auto& v = read_in[in];
      if (v.empty() || v.back() != stage_of[i]) v.push_back(stage_of[i]);
    }
  }
  absl::flat_hash_set<std::string> graph_outputs;
  for (const auto& o : graph.output()) graph_outputs.insert(o.name());

  auto value_info = [&](const std::string& name, onnx::ValueInfoProto* out) -> absl::Status {
    auto it = infos.find(name);
    if (it != infos.end() && it->second->type().tensor_type().elem_type() != 0 &&
        it->second->type().tensor_type().has_shape()) {
      *out = *it->second;
      return absl::OkStatus();
    }
    out->set_name(name);
    auto* tt = out->mutable_type()->mutable_tensor_type();
    if (it != infos.end()) tt->set_elem_type(it->second->type().tensor_type().elem_type());
    auto t = traced.find(name);
    if (t == traced.end() || t->second.dtype == DataType::kUndefined) {
      return absl::InternalError(absl::StrCat("no element type and rank known for tensor '", name,
                                              "' crossing a stage cut (no traced run names it)"));
    }
    tt->set_elem_type(static_cast<int32_t>(t->second.dtype));
    auto* shape = tt->mutable_shape();
    for (size_t d = 0; d < t->second.shape.size(); ++d) shape->add_dim();  // rank only
    return absl::OkStatus();
  };

  BuiltPartitions built;
  built.stages.resize(stages);
  for (int s = 0; s < stages; ++s) {
    StagePartition& part = built.stages[s];
    onnx::ModelProto& m = part.model;
    m.set_ir_version(optimized.ir_version());
    m.set_producer_name(optimized.producer_name());
    m.set_producer_version(optimized.producer_version());
    m.set_domain(optimized.domain());
    m.set_model_version(optimized.model_version());
    *m.mutable_opset_import() = optimized.opset_import();
    *m.mutable_metadata_props() = optimized.metadata_props();
    onnx::GraphProto* g = m.mutable_graph();
    g->set_name(absl::StrCat(graph.name(), "_stage", s));

    absl::flat_hash_set<std::string> local;  // produced in this stage
    absl::flat_hash_set<std::string> seen_inputs, seen_inits;
    std::vector<std::string> init_names;
    for (int i = bounds[s]; i < bounds[s + 1]; ++i) {
      const onnx::NodeProto& node = graph.node(i);
      for (const auto& in : node.input()) {
        if (in.empty() || local.contains(in)) continue;
        if (initializers.contains(in)) {
          if (seen_inits.insert(in).second) init_names.push_back(in);
          continue;
        }
        if (!seen_inputs.insert(in).second) continue;
        TensorRoute route;
        route.name = in;
        if (graph_inputs.contains(in)) {
          route.source_stage = kFromRequest;
        } else {
          auto p = produced_in.find(in);
          if (p == produced_in.end()) {
            return absl::InvalidArgumentError(absl::StrCat("tensor '", in, "' read by node '", node.name(),
                                                           "' has no producer"));
          }
          route.source_stage = p->second;
        }
        part.inputs.push_back(route);
        if (absl::Status st = value_info(in, g->add_input()); !st.ok()) return st;
      }
      *g->add_node() = node;
      for (const auto& o : node.output()) {
        if (o.empty()) continue;
        local.insert(o);
        auto r = read_in.find(o);
        const bool later = r != read_in.end() && std::any_of(r->second.begin(), r->second.end(),
                                                              [&](int reader) { return reader > s; });
        if (later || graph_outputs.contains(o)) {
          part.outputs.push_back({o, s, 0});
          if (absl::Status st = value_info(o, g->add_output()); !st.ok()) return st;
        } else if (auto it = infos.find(o); it != infos.end() && it->second->type().tensor_type().has_shape()) {
          *g->add_value_info() = *it->second;
        }
      }
    }
    std::sort(init_names.begin(), init_names.end());
    for (const auto& name : init_names) *g->add_initializer() = *initializers.at(name);
  }

  // Graph outputs: from the stage producing them, the request, or (for a
  // constant output) the last stage, which then carries it as an initializer.
  for (const auto& out : graph.output()) {
    const std::string& name = out.name();
    if (auto p = produced_in.find(name); p != produced_in.end()) {
      built.outputs.push_back({name, p->second, 0});
    } else if (graph_inputs.contains(name)) {
      built.outputs.push_back({name, kFromRequest, 0});
    } else if (auto init = initializers.find(name); init != initializers.end()) {
      StagePartition& last = built.stages.back();
      *last.model.mutable_graph()->add_initializer() = *init->second;
      *last.model.mutable_graph()->add_output() = out;
      last.outputs.push_back({name, stages - 1, 0});
      built.outputs.push_back({name, stages - 1, 0});
    } else {
      return absl::InvalidArgumentError(absl::StrCat("graph output '", name, "' is not produced by the graph"));
    }
  }
  return built;
}

}  // namespace tessera::planner
