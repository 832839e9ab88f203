#include "worker/engine/fusion.h"

#include <cmath>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/node_attributes.h"
#include "worker/engine/transformer_fusion.h"

namespace tessera::engine {
namespace {

bool HasKernel(absl::string_view domain, absl::string_view op) {
  return KernelRegistry::Global().Find(domain, op) != nullptr;
}

// Activation description of a node, when it is one the fused kernels apply.
struct Activation {
  std::string name;
  std::vector<float> params;
};

std::optional<Activation> AsActivation(const Graph& graph, const onnx::NodeProto& node) {
  if (node.output_size() != 1) return std::nullopt;
  if (node.domain() == kTesseraDomain && node.op_type() == "Gelu") return Activation{"Gelu", {}};
  if (!node.domain().empty()) return std::nullopt;
  NodeAttributes attrs(node);
  const std::string& op = node.op_type();
  if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "HardSwish") return Activation{op, {}};
  if (op == "LeakyRelu") return Activation{op, {attrs.GetFloat("alpha", 0.01f)}};
  if (op == "HardSigmoid") return Activation{op, {attrs.GetFloat("alpha", 0.2f), attrs.GetFloat("beta", 0.5f)}};
  if (op == "Clip") {
    float lo = -INFINITY, hi = INFINITY;
    if (graph.OpsetOf(node) < 11) {
      lo = attrs.GetFloat("min", lo);
      hi = attrs.GetFloat("max", hi);
    } else {
      for (int i = 1; i <= 2; ++i) {
        if (i >= node.input_size() || node.input(i).empty()) continue;
        const Tensor* t = graph.ConstantInput(node, i);
        if (t == nullptr || t->dtype() != DataType::kFloat32 || t->num_elements() != 1) return std::nullopt;
        (i == 1 ? lo : hi) = t->data<float>()[0];
      }
    }
    return Activation{op, {lo, hi}};
  }
  return std::nullopt;
}

bool IsFloat(const Graph& graph, const std::string& name) {
  auto it = graph.types.find(name);
  return it != graph.types.end() && it->second.elem_type == onnx::TensorProto::FLOAT;
}

void SetActivation(onnx::NodeProto& node, const Activation& act) {
  auto* a = node.add_attribute();
  a->set_name("activation");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(act.name);
  auto* p = node.add_attribute();
  p->set_name("activation_params");
  p->set_type(onnx::AttributeProto::FLOATS);
  for (float v : act.params) p->add_floats(v);
}

bool HasActivation(const onnx::NodeProto& node) { return NodeAttributes(node).Has("activation"); }

}  // namespace

int FuseConvBatchNorm(Graph& graph) {
  ConsumerIndex consumers(graph);
  std::vector<bool> erased(graph.nodes.size(), false);
  int count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    onnx::NodeProto& conv = graph.nodes[i];
    if (erased[i] || conv.op_type() != "Conv" || !conv.domain().empty() || conv.output_size() != 1) continue;
    const Tensor* w = graph.ConstantInput(conv, 1);
    const Tensor* b = graph.ConstantInput(conv, 2);
    if (w == nullptr || w->dtype() != DataType::kFloat32 || w->rank() < 3) continue;
    if (conv.input_size() > 2 && !conv.input(2).empty() && b == nullptr) continue;
    int j = consumers.Sole(conv.output(0));
    if (j < 0) continue;
    const onnx::NodeProto& bn = graph.nodes[j];
    if (bn.op_type() != "BatchNormalization" || !bn.domain().empty() || bn.input(0) != conv.output(0)) continue;
    if (bn.output_size() > 1 || NodeAttributes(bn).GetInt("training_mode", 0) != 0) continue;
    const Tensor* scale = graph.ConstantInput(bn, 1);
    const Tensor* bias = graph.ConstantInput(bn, 2);
    const Tensor* mean = graph.ConstantInput(bn, 3);
    const Tensor* var = graph.ConstantInput(bn, 4);
    const int64_t m = w->dim(0);
    bool ok = scale && bias && mean && var;
    for (const Tensor* t : {scale, bias, mean, var}) {
      ok = ok && t->dtype() == DataType::kFloat32 && t->num_elements() == m;
    }
    if (!ok || (b != nullptr && (b->dtype() != DataType::kFloat32 || b->num_elements() != m))) continue;
    const float eps = NodeAttributes(bn).GetFloat("epsilon", 1e-5f);
    Tensor new_w = w->Clone();
    Tensor new_b = Tensor::Allocate(DataType::kFloat32, {m});
    const int64_t per = w->num_elements() / std::max<int64_t>(m, 1);
    for (int64_t c = 0; c < m; ++c) {
      const float f = scale->data<float>()[c] / std::sqrt(var->data<float>()[c] + eps);
      float* wc = new_w.data<float>() + c * per;
      for (int64_t k = 0; k < per; ++k) wc[k] *= f;
      const float b0 = b ? b->data<float>()[c] : 0.0f;
      new_b.data<float>()[c] = (b0 - mean->data<float>()[c]) * f + bias->data<float>()[c];
    }
    const std::string w_name = graph.UniqueName(conv.input(1) + "_bn");
    const std::string b_name = graph.UniqueName(conv.output(0) + "_bias");
    graph.constants[w_name] = std::move(new_w);
    graph.constants[b_name] = std::move(new_b);
    graph.types[w_name] = graph.types[conv.input(1)];
    graph.types[b_name] = ValueType{onnx::TensorProto::FLOAT, std::vector<int64_t>{m}};
    conv.set_input(1, w_name);
    if (conv.input_size() > 2) {
      conv.set_input(2, b_name);
    } else {
      conv.add_input(b_name);
    }
    conv.set_output(0, bn.output(0));
    erased[j] = true;
    ++count;
  }
  graph.EraseNodes(erased);
  return count;
}

namespace {

// Folds an activation that solely consumes the output of nodes matching
// `accept` into them, renaming them to ai.tessera.`fused_op`.
template <typename Accept>
int FuseActivationInto(Graph& graph, const std::string& fused_op, Accept accept) {
  if (!HasKernel(kTesseraDomain, fused_op)) return 0;
  ConsumerIndex consumers(graph);
  std::vector<bool> erased(graph.nodes.size(), false);
  int count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    onnx::NodeProto& node = graph.nodes[i];
    if (erased[i] || !accept(node) || HasActivation(node) || node.output_size() != 1) continue;
    if (!IsFloat(graph, node.output(0))) continue;
    int j = consumers.Sole(node.output(0));
    if (j < 0) continue;
    std::optional<Activation> act = AsActivation(graph, graph.nodes[j]);
    if (!act.has_value() || graph.nodes[j].input(0) != node.output(0)) continue;
    node.set_domain(std::string(kTesseraDomain));
    node.set_op_type(fused_op);
    SetActivation(node, *act);
    node.set_output(0, graph.nodes[j].output(0));
    erased[j] = true;
    ++count;
  }
  graph.EraseNodes(erased);
  return count;
}

}  // namespace

int FuseConvActivation(Graph& graph) {
  return FuseActivationInto(graph, "FusedConv", [](const onnx::NodeProto& n) {
    return (n.op_type() == "Conv" && n.domain().empty()) || (n.op_type() == "FusedConv" && n.domain() == kTesseraDomain);
  });
}

int FuseMatMulActivation(Graph& graph) {
  return FuseActivationInto(graph, "FusedMatMul", [](const onnx::NodeProto& n) {
    return n.op_type() == "FusedMatMul" && n.domain() == kTesseraDomain;
  });
}

int FuseConvResidualAdd(Graph& graph) {
  if (!HasKernel(kTesseraDomain, "FusedConv")) return 0;
  ConsumerIndex consumers(graph);
  std::vector<bool> erased(graph.nodes.size(), false);
  int count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const onnx::NodeProto& conv = graph.nodes[i];
    const bool is_conv = (conv.op_type() == "Conv" && conv.domain().empty()) ||
                         (conv.op_type() == "FusedConv" && conv.domain() == kTesseraDomain);
    if (erased[i] || !is_conv || HasActivation(conv) || conv.input_size() > 3 || conv.output_size() != 1) continue;
    if (!IsFloat(graph, conv.output(0))) continue;
    const int j = consumers.Sole(conv.output(0));
    if (j < 0) continue;
    onnx::NodeProto& add = graph.nodes[j];
    if (add.op_type() != "Add" || !add.domain().empty() || add.input(0) == add.input(1)) continue;
    const std::string& z = add.input(0) == conv.output(0) ? add.input(1) : add.input(0);
    // The residual must have exactly the conv output's shape (no broadcasting).
    auto ct = graph.types.find(conv.output(0));
    auto zt = graph.types.find(z);
    if (ct == graph.types.end() || zt == graph.types.end() || !ct->second.SameShapeAs(zt->second)) continue;
    if (zt->second.elem_type != onnx::TensorProto::FLOAT) continue;
    // The fused node takes the Add's place, where Z is surely computed.
    onnx::NodeProto fused = conv;
    fused.set_domain(std::string(kTesseraDomain));
    fused.set_op_type("FusedConv");
    while (fused.input_size() < 3) fused.add_input("");
    fused.add_input(z);
    fused.set_output(0, add.output(0));
    add = std::move(fused);
    erased[i] = true;
    ++count;
  }
  graph.EraseNodes(erased);
  return count;
}

int FuseMatMulBias(Graph& graph) {
  if (!HasKernel(kTesseraDomain, "FusedMatMul")) return 0;
  ConsumerIndex consumers(graph);
  std::vector<bool> erased(graph.nodes.size(), false);
  int count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    onnx::NodeProto& mm = graph.nodes[i];
    if (erased[i] || mm.op_type() != "MatMul" || !mm.domain().empty()) continue;
    if (!IsFloat(graph, mm.output(0))) continue;
    // N is the last dimension of B, which must be known.
    auto bt = graph.types.find(mm.input(1));
    if (bt == graph.types.end() || !bt->second.dims.has_value() || bt->second.dims->size() < 2) continue;
    const int64_t n = bt->second.dims->back();
    if (n <= 0) continue;
    int j = consumers.Sole(mm.output(0));
    if (j < 0) continue;
    const onnx::NodeProto& add = graph.nodes[j];
    if (add.op_type() != "Add" || !add.domain().empty()) continue;
    const int other = add.input(0) == mm.output(0) ? 1 : 0;
    const Tensor* bias = graph.ConstantInput(add, other);
    if (bias == nullptr || bias->dtype() != DataType::kFloat32 || bias->num_elements() != n) continue;
    bool row_vector = true;  // shape [N] or [1,...,1,N]
    for (int d = 0; d + 1 < bias->rank(); ++d) row_vector &= bias->dim(d) == 1;
    // The bias must not raise the output's rank through broadcasting.
    auto mt = graph.types.find(mm.output(0));
    if (!row_vector || mt == graph.types.end() || !mt->second.dims.has_value() ||
        static_cast<int>(mt->second.dims->size()) < bias->rank()) {
      continue;
    }
    std::string bias_name = add.input(other);
    if (bias->rank() != 1) {
      bias_name = graph.UniqueName(bias_name + "_row");
      graph.constants[bias_name] = bias->Reshaped({n});
      graph.types[bias_name] = ValueType{onnx::TensorProto::FLOAT, std::vector<int64_t>{n}};
    }
    mm.set_domain(std::string(kTesseraDomain));
    mm.set_op_type("FusedMatMul");
    mm.add_input(bias_name);
    mm.set_output(0, add.output(0));
    erased[j] = true;
    ++count;
  }
  graph.EraseNodes(erased);
  return count;
}

absl::Status FuseOperators(Graph& graph, int* count) {
  int total = 0;
  total += FuseConvBatchNorm(graph);
  total += FuseConvResidualAdd(graph);
  total += FuseConvActivation(graph);
  total += FuseLayerNormalization(graph);
  total += FuseGelu(graph);
  total += FuseMatMulBias(graph);
  total += FuseMatMulActivation(graph);
  if (count != nullptr) *count = total;
  return absl::OkStatus();
}

}  // namespace tessera::engine
