#include "worker/engine/layout_optimizer.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {
namespace {

constexpr char kSuffix[] = "__layout";

bool IsOneOf(const std::string& op, std::initializer_list<const char*> ops) {
  for (const char* o : ops) {
    if (op == o) return true;
  }
  return false;
}

// Element-wise operators whose first input carries the layout and whose
// other inputs (if any) are scalars.
bool IsUnaryElementwise(const onnx::NodeProto& n) {
  return n.domain().empty() &&
         IsOneOf(n.op_type(), {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu",
                               "Selu", "Softplus", "Softsign", "Abs", "Neg", "Exp", "Sqrt", "Erf", "Identity"});
}

bool IsBinaryElementwise(const onnx::NodeProto& n) {
  return n.domain().empty() && IsOneOf(n.op_type(), {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum"});
}

bool IsFloatRank4(const Graph& g, const std::string& name) {
  auto it = g.types.find(name);
  return it != g.types.end() && it->second.elem_type == onnx::TensorProto::FLOAT && it->second.dims.has_value() &&
         it->second.dims->size() == 4;
}

bool IsScalarConstant(const Graph& g, const std::string& name) {
  auto it = g.constants.find(name);
  return it != g.constants.end() && it->second.num_elements() == 1;
}

bool IsConv(const onnx::NodeProto& n) {
  return (n.op_type() == "Conv" && n.domain().empty()) ||
         (n.op_type() == "FusedConv" && n.domain() == kTesseraDomain);
}

enum class Mode { kNhwc, kBlocked8 };

// Convolutions that run at least as fast channels-last: grouped (depthwise)
// and 1x1 ones. Dense KxK convolutions are faster in oneDNN's blocked layout
// (measured in bench/kernels/RESULTS.md); they get the blocked mode.
bool IsEligibleConv(const Graph& g, const onnx::NodeProto& n, Mode mode) {
  if (!IsConv(n) || n.output_size() != 1 || n.input_size() < 2) return false;
  NodeAttributes attrs(n);
  if (attrs.GetString("layout", "NCHW") != "NCHW") return false;
  if (!IsFloatRank4(g, n.input(0)) || !IsFloatRank4(g, n.output(0))) return false;
  const Tensor* w = g.ConstantInput(n, 1);
  if (w == nullptr || w->rank() != 4) return false;
  const int64_t group = attrs.GetInt("group", 1);
  if (mode == Mode::kNhwc) return group > 1 || (w->dim(2) == 1 && w->dim(3) == 1);
  // Blocked by 8 channels: both channel counts must be multiples of 8.
  return w->dim(0) % 8 == 0 && (w->dim(1) * group) % 8 == 0;
}

// The type of a region tensor, from its NCHW type.
ValueType InLayout(const ValueType& t, Mode mode) {
  ValueType out = t;
  if (!t.dims.has_value() || t.dims->size() != 4) return out;
  const auto& d = *t.dims;
  std::vector<std::string> p = t.dim_params.size() == 4 ? t.dim_params : std::vector<std::string>(4);
  if (mode == Mode::kNhwc) {
    out.dims = std::vector<int64_t>{d[0], d[2], d[3], d[1]};
    out.dim_params = {p[0], p[2], p[3], p[1]};
  } else {
    out.dims = std::vector<int64_t>{d[0], d[1] < 0 ? -1 : d[1] / 8, d[2], d[3], 8};
    out.dim_params = {p[0], "", p[2], p[3], ""};
  }
  return out;
}

onnx::AttributeProto IntsAttr(const std::string& name, std::vector<int64_t> values) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a.add_ints(v);
  return a;
}

onnx::NodeProto MakeTranspose(const std::string& in, const std::string& out, std::vector<int64_t> perm) {
  onnx::NodeProto n;
  n.set_op_type("Transpose");
  n.set_name(absl::StrCat(out, "_transpose"));
  n.add_input(in);
  n.add_output(out);
  *n.add_attribute() = IntsAttr("perm", std::move(perm));
  return n;
}

void SetStringAttr(onnx::NodeProto& n, const std::string& name, const std::string& value) {
  for (auto& a : *n.mutable_attribute()) {
    if (a.name() == name) {
      a.set_s(value);
      return;
    }
  }
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

}  // namespace

namespace {

onnx::NodeProto MakeReorder(const std::string& in, const std::string& out, const char* from, const char* to) {
  onnx::NodeProto n;
  n.set_domain(std::string(kTesseraDomain));
  n.set_op_type("ReorderLayout");
  n.set_name(absl::StrCat(out, "_reorder"));
  n.add_input(in);
  n.add_output(out);
  SetStringAttr(n, "from", from);
  SetStringAttr(n, "to", to);
  return n;
}

// Nodes converting an NCHW tensor into the region's layout and back.
onnx::NodeProto IntoLayout(Mode mode, const std::string& in, const std::string& out) {
  return mode == Mode::kNhwc ? MakeTranspose(in, out, {0, 2, 3, 1}) : MakeReorder(in, out, "NCHW", "NCHW8c");
}
onnx::NodeProto OutOfLayout(Mode mode, const std::string& in, const std::string& out) {
  return mode == Mode::kNhwc ? MakeTranspose(in, out, {0, 3, 1, 2}) : MakeReorder(in, out, "NCHW8c", "NCHW");
}

// Values that live in the region's layout (nodes are topologically sorted).
absl::flat_hash_set<std::string> FindRegion(const Graph& graph, Mode mode, int* eligible, int* all_convs) {
  absl::flat_hash_set<std::string> region;
  *eligible = *all_convs = 0;
  for (const auto& n : graph.nodes) {
    *all_convs += IsConv(n) ? 1 : 0;
    if (IsEligibleConv(graph, n, mode)) {
      region.insert(n.output(0));
      ++*eligible;
    } else if (IsUnaryElementwise(n) && n.output_size() == 1 && region.contains(n.input(0))) {
      bool others_scalar = true;
      for (int i = 1; i < n.input_size(); ++i) {
        others_scalar &= n.input(i).empty() || IsScalarConstant(graph, n.input(i));
      }
      if (others_scalar && IsFloatRank4(graph, n.output(0))) region.insert(n.output(0));
    } else if (IsBinaryElementwise(n) && n.output_size() == 1 && IsFloatRank4(graph, n.output(0))) {
      auto out_type = graph.types.find(n.output(0));
      bool any = false, ok = true;
      for (const auto& in : n.input()) {
        if (region.contains(in)) {
          any = true;
          auto t = graph.types.find(in);
          ok &= t != graph.types.end() && t->second.SameShapeAs(out_type->second);
        } else {
          ok &= IsScalarConstant(graph, in);
        }
      }
      if (any && ok) region.insert(n.output(0));
    }
  }
  return region;
}

}  // namespace

int OptimizeConvLayout(Graph& graph, int min_convs) {
  // 1. Pick the layout: channels-last for depthwise/1x1 networks, blocked
  // for dense ones (when the reorder kernel exists).
  Mode mode = Mode::kNhwc;
  int convs = 0, all_convs = 0;
  absl::flat_hash_set<std::string> region = FindRegion(graph, mode, &convs, &all_convs);
  if (convs < min_convs || 2 * convs < all_convs) {
    if (KernelRegistry::Global().Find(kTesseraDomain, "ReorderLayout") == nullptr) return 0;
    mode = Mode::kBlocked8;
    region = FindRegion(graph, mode, &convs, &all_convs);
    if (convs < min_convs) return 0;
  }
  const char* layout_name = mode == Mode::kNhwc ? "NHWC" : "NCHW8c";

  // 2. Rewrite.
  for (const auto& name : region) graph.types[name + kSuffix] = InLayout(graph.types[name], mode);
  absl::flat_hash_set<std::string> back_to_nchw;          // region values already converted back
  absl::flat_hash_map<std::string, std::string> to_region;  // NCHW value -> its converted copy
  std::vector<onnx::NodeProto> out;
  out.reserve(graph.nodes.size() + 8);
  auto region_copy_of = [&](const std::string& name) {
    if (region.contains(name)) return name + kSuffix;
    auto it = to_region.find(name);
    if (it != to_region.end()) return it->second;
    const std::string copy = graph.UniqueName(name + kSuffix);
    graph.types[copy] = InLayout(graph.types[name], mode);
    out.push_back(IntoLayout(mode, name, copy));
    to_region[name] = copy;
    return copy;
  };
  auto ensure_nchw = [&](const std::string& name) {
    if (!region.contains(name) || back_to_nchw.contains(name)) return;
    out.push_back(OutOfLayout(mode, name + kSuffix, name));
    back_to_nchw.insert(name);
  };
  int switched = 0;
  for (auto& n : graph.nodes) {
    if (IsEligibleConv(graph, n, mode)) {
      n.set_input(0, region_copy_of(n.input(0)));
      if (n.input_size() > 3 && !n.input(3).empty()) n.set_input(3, region_copy_of(n.input(3)));
      n.set_output(0, n.output(0) + kSuffix);
      n.set_domain(std::string(kTesseraDomain));
      n.set_op_type("FusedConv");
      SetStringAttr(n, "layout", layout_name);
      out.push_back(std::move(n));
      ++switched;
      continue;
    }
    if (n.output_size() == 1 && region.contains(n.output(0))) {  // element-wise inside the region
      for (int i = 0; i < n.input_size(); ++i) {
        if (region.contains(n.input(i))) n.set_input(i, n.input(i) + kSuffix);
      }
      n.set_output(0, n.output(0) + kSuffix);
      out.push_back(std::move(n));
      continue;
    }
    if (mode == Mode::kNhwc && n.domain().empty() && n.op_type() == "GlobalAveragePool" &&
        region.contains(n.input(0))) {
      const std::string pooled = graph.UniqueName(n.output(0) + kSuffix);
      auto t = graph.types.find(n.output(0));
      if (t != graph.types.end()) graph.types[pooled] = InLayout(t->second, mode);
      onnx::NodeProto mean;
      mean.set_op_type("ReduceMean");
      mean.set_name(n.name());
      mean.add_input(n.input(0) + kSuffix);
      mean.add_output(pooled);
      *mean.add_attribute() = IntsAttr("axes", {1, 2});
      out.push_back(std::move(mean));
      out.push_back(MakeTranspose(pooled, n.output(0), {0, 3, 1, 2}));
      continue;
    }
    for (const auto& in : n.input()) ensure_nchw(in);
    out.push_back(std::move(n));
  }
  for (const auto& o : graph.outputs) ensure_nchw(o);
  graph.nodes = std::move(out);
  return switched;
}

}  // namespace tessera::engine
