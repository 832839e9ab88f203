#include "worker/engine/model_optimizer.h"

#include <algorithm>
#include <string>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "common/status_macros.h"
#include "worker/engine/constant_folding.h"
#include "worker/engine/fusion.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/layout_optimizer.h"
#include "worker/engine/model_validator.h"
#include "worker/engine/node_attributes.h"
#include "onnx/defs/schema.h"

namespace tessera::engine {
namespace {

void SetType(const ValueType& type, onnx::ValueInfoProto* info) {
  auto* tt = info->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type.elem_type);
  if (!type.dims.has_value()) return;
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < type.dims->size(); ++i) {
    auto* dim = shape->add_dim();
    const int64_t d = (*type.dims)[i];
    if (d >= 0) {
      dim->set_dim_value(d);
    } else if (i < type.dim_params.size() && !type.dim_params[i].empty()) {
      dim->set_dim_param(type.dim_params[i]);
    }
  }
}

void AddValueInfo(const Graph& graph, const std::string& name, google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list) {
  onnx::ValueInfoProto* info = list->Add();
  info->set_name(name);
  auto it = graph.types.find(name);
  if (it != graph.types.end() && it->second.elem_type != 0) SetType(it->second, info);
}

}  // namespace

bool IsOptimizedModel(const onnx::ModelProto& model) {
  for (const auto& prop : model.metadata_props()) {
    if (prop.key() == kOptimizedModelKey) return prop.value() == "1";
  }
  return false;
}

absl::Status OptimizeGraph(Graph& graph, int threads) {
  TESSERA_RETURN_IF_ERROR(FoldConstants(graph, threads));
  TESSERA_RETURN_IF_ERROR(FuseOperators(graph));
  OptimizeConvLayout(graph);
  PruneUnusedConstants(graph);
  return absl::OkStatus();
}

onnx::ModelProto ExportGraph(const Graph& graph, const onnx::ModelProto& header) {
  onnx::ModelProto model;
  model.set_ir_version(header.ir_version());
  model.set_producer_name(header.producer_name());
  model.set_producer_version(header.producer_version());
  model.set_domain(header.domain());
  model.set_model_version(header.model_version());
  model.set_doc_string(header.doc_string());
  *model.mutable_metadata_props() = header.metadata_props();
  *model.mutable_opset_import() = header.opset_import();
  bool uses_tessera = false;
  for (const auto& node : graph.nodes) uses_tessera |= node.domain() == kTesseraDomain;

  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(header.graph().name());
  absl::flat_hash_set<std::string> listed;  // names with an input/output entry
  for (const auto& name : graph.inputs) {
    AddValueInfo(graph, name, g->mutable_input());
    listed.insert(name);
  }
  for (const auto& name : graph.optional_inputs) {
    if (graph.constants.contains(name)) {
      AddValueInfo(graph, name, g->mutable_input());
      listed.insert(name);
    }
  }
  for (const auto& name : graph.outputs) {
    AddValueInfo(graph, name, g->mutable_output());
    listed.insert(name);
  }
  // Initializers in name order so the bytes do not depend on hash order.
  std::vector<std::string> constant_names;
  for (const auto& [name, t] : graph.constants) constant_names.push_back(name);
  std::sort(constant_names.begin(), constant_names.end());
  for (const auto& name : constant_names) *g->add_initializer() = TensorToProto(graph.constants.at(name), name);
  const int onnx_opset = OpsetFor(header, "");
  const KernelRegistry& registry = KernelRegistry::Global();
  for (const auto& node : graph.nodes) {
    onnx::NodeProto* added = g->add_node();
    *added = node;
    // An ai.onnx operator the passes introduced that the model's opset does
    // not define yet (LayerNormalization below 17) moves to ai.tessera.
    if ((node.domain().empty() || node.domain() == "ai.onnx") &&
        onnx::OpSchemaRegistry::Schema(node.op_type(), onnx_opset, "") == nullptr &&
        registry.Find(kTesseraDomain, node.op_type()) != nullptr) {
      added->set_domain(std::string(kTesseraDomain));
      uses_tessera = true;
    }
    for (const auto& out : node.output()) {
      if (out.empty() || listed.contains(out)) continue;
      auto it = graph.types.find(out);
      if (it == graph.types.end() || it->second.elem_type == 0) continue;
      listed.insert(out);
      AddValueInfo(graph, out, g->mutable_value_info());
    }
  }
  bool imports_tessera = false;
  for (const auto& imp : model.opset_import()) imports_tessera |= imp.domain() == kTesseraDomain;
  if (uses_tessera && !imports_tessera) {
    auto* imp = model.add_opset_import();
    imp->set_domain(std::string(kTesseraDomain));
    imp->set_version(1);
  }
  // The marker, set once.
  bool marked = false;
  for (auto& prop : *model.mutable_metadata_props()) {
    if (prop.key() == kOptimizedModelKey) {
      prop.set_value("1");
      marked = true;
    }
  }
  if (!marked) {
    auto* prop = model.add_metadata_props();
    prop->set_key(std::string(kOptimizedModelKey));
    prop->set_value("1");
  }
  return model;
}

absl::StatusOr<onnx::ModelProto> OptimizeModelBytes(absl::string_view bytes, const OptimizeModelOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(onnx::ModelProto model, ParseAndValidateModel(bytes));
  if (IsOptimizedModel(model)) return model;
  TESSERA_ASSIGN_OR_RETURN(Graph graph, Graph::FromModel(model));
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  TESSERA_RETURN_IF_ERROR(OptimizeGraph(graph, threads));
  return ExportGraph(graph, model);
}

absl::StatusOr<onnx::ModelProto> OptimizeModel(const onnx::ModelProto& model, const OptimizeModelOptions& options) {
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return absl::InvalidArgumentError("model cannot be serialized");
  return OptimizeModelBytes(bytes, options);
}

}  // namespace tessera::engine
