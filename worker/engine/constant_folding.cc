#include "worker/engine/constant_folding.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/node_attributes.h"
#include "worker/engine/node_runner.h"

namespace tessera::engine {
namespace {

// Shape (with opset-15 start/end) or Size of a statically shaped input.
std::optional<Tensor> FoldShapeOp(const Graph& graph, const onnx::NodeProto& node) {
  if (!node.domain().empty() || node.input_size() != 1) return std::nullopt;
  if (node.op_type() != "Shape" && node.op_type() != "Size") return std::nullopt;
  auto it = graph.types.find(node.input(0));
  if (it == graph.types.end()) return std::nullopt;
  std::optional<Shape> shape = it->second.StaticShape();
  if (!shape.has_value()) return std::nullopt;
  if (node.op_type() == "Size") return Tensor::Scalar<int64_t>(NumElements(*shape));
  const int64_t rank = static_cast<int64_t>(shape->size());
  NodeAttributes attrs(node);
  int64_t start = attrs.GetInt("start", 0);
  int64_t end = attrs.GetInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back((*shape)[i]);
  return Tensor::FromVector<int64_t>({static_cast<int64_t>(dims.size())}, dims);
}

void RecordType(Graph& graph, const std::string& name, const Tensor& t) {
  graph.types[name] = ValueType{static_cast<int32_t>(t.dtype()), std::vector<int64_t>(t.shape().begin(), t.shape().end())};
}

}  // namespace

absl::Status FoldConstants(Graph& graph, int threads) {
  const KernelRegistry& registry = KernelRegistry::Global();
  std::vector<onnx::NodeProto> kept;
  kept.reserve(graph.nodes.size());
  for (auto& node : graph.nodes) {
    if (std::optional<Tensor> folded = FoldShapeOp(graph, node); folded.has_value()) {
      RecordType(graph, node.output(0), *folded);
      graph.constants[node.output(0)] = std::move(*folded);
      continue;
    }
    const KernelDef* def = registry.Find(node.domain(), node.op_type());
    bool foldable = def != nullptr && def->deterministic;
    std::vector<const Tensor*> inputs;
    for (const auto& in : node.input()) {
      if (in.empty()) {
        inputs.push_back(nullptr);
        continue;
      }
      auto it = graph.constants.find(in);
      if (it == graph.constants.end()) {
        foldable = false;
        break;
      }
      inputs.push_back(&it->second);
    }
    if (!foldable) {
      kept.push_back(std::move(node));
      continue;
    }
    auto outputs = RunNodeOnce(node, graph.OpsetOf(node), inputs, threads);
    if (!outputs.ok()) {
      return absl::Status(outputs.status().code(),
                          absl::StrCat(NodeLabel(node), " on constant inputs: ", outputs.status().message()));
    }
    int64_t bytes = 0;
    for (const Tensor& t : *outputs) bytes += t.defined() ? static_cast<int64_t>(t.byte_size()) : 0;
    if (bytes > kMaxFoldedBytes) {
      kept.push_back(std::move(node));
      continue;
    }
    for (int i = 0; i < node.output_size(); ++i) {
      if (node.output(i).empty()) continue;
      Tensor t = (*outputs)[i];
      RecordType(graph, node.output(i), t);
      graph.constants[node.output(i)] = std::move(t);
    }
  }
  graph.nodes = std::move(kept);
  PruneUnusedConstants(graph);
  return absl::OkStatus();
}

void PruneUnusedConstants(Graph& graph) {
  absl::flat_hash_map<std::string, int> used = graph.ConsumerCounts();
  for (const auto& o : graph.outputs) ++used[o];
  for (const auto& o : graph.optional_inputs) ++used[o];
  absl::erase_if(graph.constants, [&](const auto& kv) { return !used.contains(kv.first); });
}

}  // namespace tessera::engine
