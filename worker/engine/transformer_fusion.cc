#include "worker/engine/transformer_fusion.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "worker/engine/kernel_registry.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {
namespace {

bool Is(const onnx::NodeProto& n, const char* op) { return n.domain().empty() && n.op_type() == op; }

// The value of a one-element float constant input, if it is one.
std::optional<float> ScalarInput(const Graph& g, const onnx::NodeProto& n, int i) {
  const Tensor* t = g.ConstantInput(n, i);
  if (t == nullptr || t->num_elements() != 1) return std::nullopt;
  if (t->dtype() == DataType::kFloat32) return t->data<float>()[0];
  if (t->dtype() == DataType::kFloat64) return static_cast<float>(t->data<double>()[0]);
  return std::nullopt;
}

// For a binary node reading `name`, the index of its other input, or -1.
int OtherInput(const onnx::NodeProto& n, const std::string& name) {
  if (n.input_size() != 2) return -1;
  if (n.input(0) == name && n.input(1) != name) return 1;
  if (n.input(1) == name && n.input(0) != name) return 0;
  return -1;
}

// ReduceMean over exactly the last axis, keeping it.
bool IsLastAxisMean(const Graph& g, const onnx::NodeProto& n) {
  if (!Is(n, "ReduceMean") || n.input_size() != 1) return false;
  NodeAttributes attrs(n);
  if (attrs.GetInt("keepdims", 1) != 1) return false;
  std::vector<int64_t> axes = attrs.GetInts("axes");
  if (axes.size() != 1) return false;
  if (axes[0] == -1) return true;
  auto t = g.types.find(n.input(0));
  return t != g.types.end() && t->second.dims.has_value() &&
         axes[0] == static_cast<int64_t>(t->second.dims->size()) - 1;
}

bool IsFloat32(const Graph& g, const std::string& name) {
  auto t = g.types.find(name);
  return t != g.types.end() && t->second.elem_type == onnx::TensorProto::FLOAT;
}

}  // namespace

int FuseLayerNormalization(Graph& graph) {
  if (KernelRegistry::Global().Find("", "LayerNormalization") == nullptr) return 0;
  int count = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    ConsumerIndex consumers(graph);
    for (size_t i = 0; i < graph.nodes.size() && !changed; ++i) {
      const onnx::NodeProto& mean = graph.nodes[i];
      if (!IsLastAxisMean(graph, mean) || !IsFloat32(graph, mean.input(0))) continue;
      const std::string& x = mean.input(0);
      const int sub_i = consumers.Sole(mean.output(0));
      if (sub_i < 0 || !Is(graph.nodes[sub_i], "Sub")) continue;
      const onnx::NodeProto& sub = graph.nodes[sub_i];
      if (sub.input(0) != x || sub.input(1) != mean.output(0)) continue;
      const std::string& d = sub.output(0);
      if (consumers.Uses(d) != 2 || graph.IsGraphOutput(d)) continue;
      // Find Pow(d, 2) and Div(d, s) among d's two readers.
      int pow_i = -1, div_i = -1;
      for (size_t k = 0; k < graph.nodes.size(); ++k) {
        const auto& n = graph.nodes[k];
        if (Is(n, "Pow") && n.input(0) == d && ScalarInput(graph, n, 1) == 2.0f) pow_i = static_cast<int>(k);
        if (Is(n, "Div") && n.input_size() == 2 && n.input(0) == d) div_i = static_cast<int>(k);
      }
      if (pow_i < 0 || div_i < 0) continue;
      const int var_i = consumers.Sole(graph.nodes[pow_i].output(0));
      if (var_i < 0 || !IsLastAxisMean(graph, graph.nodes[var_i])) continue;
      const int add_i = consumers.Sole(graph.nodes[var_i].output(0));
      if (add_i < 0 || !Is(graph.nodes[add_i], "Add")) continue;
      const int eps_input = OtherInput(graph.nodes[add_i], graph.nodes[var_i].output(0));
      std::optional<float> eps = eps_input < 0 ? std::nullopt : ScalarInput(graph, graph.nodes[add_i], eps_input);
      if (!eps.has_value()) continue;
      const int sqrt_i = consumers.Sole(graph.nodes[add_i].output(0));
      if (sqrt_i < 0 || !Is(graph.nodes[sqrt_i], "Sqrt")) continue;
      if (consumers.Sole(graph.nodes[sqrt_i].output(0)) != div_i || graph.nodes[div_i].input(1) != graph.nodes[sqrt_i].output(0)) continue;
      std::vector<int> pattern = {static_cast<int>(i), sub_i, pow_i, var_i, add_i, sqrt_i, div_i};
      // Optional affine tail: Mul(gamma) then Add(beta), both constant.
      std::string out = graph.nodes[div_i].output(0);
      std::string gamma, beta;
      const int mul_i = consumers.Sole(out);
      if (mul_i >= 0 && Is(graph.nodes[mul_i], "Mul")) {
        const int g_in = OtherInput(graph.nodes[mul_i], out);
        const Tensor* g = g_in < 0 ? nullptr : graph.ConstantInput(graph.nodes[mul_i], g_in);
        const int beta_add_i = consumers.Sole(graph.nodes[mul_i].output(0));
        if (g != nullptr && g->rank() == 1 && g->dtype() == DataType::kFloat32 && beta_add_i >= 0 &&
            Is(graph.nodes[beta_add_i], "Add")) {
          const int b_in = OtherInput(graph.nodes[beta_add_i], graph.nodes[mul_i].output(0));
          const Tensor* b = b_in < 0 ? nullptr : graph.ConstantInput(graph.nodes[beta_add_i], b_in);
          if (b != nullptr && b->rank() == 1 && b->dtype() == DataType::kFloat32 && b->dim(0) == g->dim(0)) {
            gamma = graph.nodes[mul_i].input(g_in);
            beta = graph.nodes[beta_add_i].input(b_in);
            out = graph.nodes[beta_add_i].output(0);
            pattern.push_back(mul_i);
            pattern.push_back(beta_add_i);
          }
        }
      }
      if (gamma.empty()) {
        // Without the affine tail the normalized size must be known.
        auto t = graph.types.find(x);
        if (t == graph.types.end() || !t->second.dims.has_value() || t->second.dims->empty() ||
            t->second.dims->back() <= 0) {
          continue;
        }
        const int64_t n = t->second.dims->back();
        gamma = graph.UniqueName(x + "_ln_scale");
        beta = graph.UniqueName(x + "_ln_bias");
        Tensor ones = Tensor::Allocate(DataType::kFloat32, {n});
        for (int64_t k = 0; k < n; ++k) ones.data<float>()[k] = 1.0f;
        graph.constants[gamma] = std::move(ones);
        graph.constants[beta] = Tensor::Zeros(DataType::kFloat32, {n});
        graph.types[gamma] = ValueType{onnx::TensorProto::FLOAT, std::vector<int64_t>{n}};
        graph.types[beta] = graph.types[gamma];
      }
      int last = 0;
      for (int p : pattern) last = std::max(last, p);
      onnx::NodeProto ln;
      ln.set_op_type("LayerNormalization");
      ln.set_name(mean.name().empty() ? out + "_layernorm" : mean.name() + "_layernorm");
      ln.add_input(x);
      ln.add_input(gamma);
      ln.add_input(beta);
      ln.add_output(out);
      auto* axis = ln.add_attribute();
      axis->set_name("axis");
      axis->set_type(onnx::AttributeProto::INT);
      axis->set_i(-1);
      auto* epsilon = ln.add_attribute();
      epsilon->set_name("epsilon");
      epsilon->set_type(onnx::AttributeProto::FLOAT);
      epsilon->set_f(*eps);
      std::vector<bool> erased(graph.nodes.size(), false);
      for (int p : pattern) erased[p] = true;
      graph.nodes[last] = std::move(ln);
      erased[last] = false;
      graph.EraseNodes(erased);
      ++count;
      changed = true;
    }
  }
  return count;
}

int FuseGelu(Graph& graph) {
  if (KernelRegistry::Global().Find(kTesseraDomain, "Gelu") == nullptr) return 0;
  int count = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    ConsumerIndex consumers(graph);
    for (size_t i = 0; i < graph.nodes.size() && !changed; ++i) {
      const onnx::NodeProto& scale = graph.nodes[i];
      // x / sqrt(2) or x * (1 / sqrt(2)).
      const float c = scale.input_size() == 2 ? ScalarInput(graph, scale, 1).value_or(0.0f) : 0.0f;
      const bool div = Is(scale, "Div") && std::fabs(c - 1.41421356f) < 1e-4f;
      const bool mul = Is(scale, "Mul") && std::fabs(c - 0.70710678f) < 1e-4f;
      if (!(div || mul) || !IsFloat32(graph, scale.input(0))) continue;
      const std::string& x = scale.input(0);
      const int erf_i = consumers.Sole(scale.output(0));
      if (erf_i < 0 || !Is(graph.nodes[erf_i], "Erf")) continue;
      const int one_i = consumers.Sole(graph.nodes[erf_i].output(0));
      if (one_i < 0 || !Is(graph.nodes[one_i], "Add")) continue;
      const int one_in = OtherInput(graph.nodes[one_i], graph.nodes[erf_i].output(0));
      if (one_in < 0 || ScalarInput(graph, graph.nodes[one_i], one_in) != 1.0f) continue;
      const int xmul_i = consumers.Sole(graph.nodes[one_i].output(0));
      if (xmul_i < 0 || !Is(graph.nodes[xmul_i], "Mul")) continue;
      const int x_in = OtherInput(graph.nodes[xmul_i], graph.nodes[one_i].output(0));
      if (x_in < 0 || graph.nodes[xmul_i].input(x_in) != x) continue;
      const int half_i = consumers.Sole(graph.nodes[xmul_i].output(0));
      if (half_i < 0 || !Is(graph.nodes[half_i], "Mul")) continue;
      const int half_in = OtherInput(graph.nodes[half_i], graph.nodes[xmul_i].output(0));
      if (half_in < 0 || ScalarInput(graph, graph.nodes[half_i], half_in) != 0.5f) continue;
      onnx::NodeProto gelu;
      gelu.set_domain(std::string(kTesseraDomain));
      gelu.set_op_type("Gelu");
      gelu.set_name(graph.nodes[half_i].name().empty() ? x + "_gelu" : graph.nodes[half_i].name() + "_gelu");
      gelu.add_input(x);
      gelu.add_output(graph.nodes[half_i].output(0));
      std::vector<bool> erased(graph.nodes.size(), false);
      for (int p : {static_cast<int>(i), erf_i, one_i, xmul_i}) erased[p] = true;
      graph.nodes[half_i] = std::move(gelu);
      graph.EraseNodes(erased);
      ++count;
      changed = true;
    }
  }
  return count;
}

}  // namespace tessera::engine
