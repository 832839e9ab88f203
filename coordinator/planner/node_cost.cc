#include "coordinator/planner/node_cost.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/data_type.h"
#include "worker/engine/tessera_schemas.h"

namespace tessera::planner {
namespace {

double Elements(const std::vector<int64_t>& shape) {
  double n = 1;
  for (int64_t d : shape) n *= static_cast<double>(std::max<int64_t>(d, 0));
  return n;
}

int64_t IntAttribute(const onnx::NodeProto& node, absl::string_view name, int64_t fallback) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name && a.type() == onnx::AttributeProto::INT) return a.i();
  }
  return fallback;
}

std::string AttributeString(const onnx::NodeProto& node, absl::string_view name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name && a.type() == onnx::AttributeProto::STRING) return a.s();
  }
  return "";
}

double OutputElements(const engine::NodeTrace& trace) {
  double n = 0;
  for (const auto& o : trace.outputs) {
    if (!o.name.empty()) n += Elements(o.shape);
  }
  return n;
}

// 2 * (output elements) * (C/group * kernel elements): the weight is
// [M, C/group, k...] in every layout Tessera uses, so its per-output-channel
// size is the multiply-adds per output element.
double ConvFlops(const engine::NodeTrace& trace) {
  if (trace.inputs.size() < 2 || trace.outputs.empty()) return OutputElements(trace);
  const auto& w = trace.inputs[1].shape;
  if (w.size() < 2) return OutputElements(trace);
  double per_output = 1;
  for (size_t i = 1; i < w.size(); ++i) per_output *= static_cast<double>(w[i]);
  return 2 * Elements(trace.outputs[0].shape) * per_output + OutputElements(trace);
}

// ConvTranspose: every input element meets every weight of its group:
// 2 * N * C * spatial_in * (M/group) * kernel, with weight [C, M/group, k...].
double ConvTransposeFlops(const engine::NodeTrace& trace) {
  if (trace.inputs.size() < 2) return OutputElements(trace);
  const auto& w = trace.inputs[1].shape;
  double per_input = 1;
  for (size_t i = 1; i < w.size(); ++i) per_input *= static_cast<double>(w[i]);
  return 2 * Elements(trace.inputs[0].shape) * per_input;
}

// 2*M*N*K over the batch: the output has M*N per batch, K is A's last dim.
double MatMulFlops(const engine::NodeTrace& trace, bool gemm_trans_a) {
  if (trace.inputs.size() < 2 || trace.outputs.empty()) return OutputElements(trace);
  const auto& a = trace.inputs[0].shape;
  if (a.empty()) return OutputElements(trace);
  int64_t k = a.back();
  if (gemm_trans_a && a.size() == 2) k = a[0];
  return 2 * Elements(trace.outputs[0].shape) * static_cast<double>(k) + OutputElements(trace);
}

// ai.tessera.sim.Delay declares its time: microseconds_per_sample * X.shape[0]
// + microseconds (a rank-0 X is one sample). Its FLOP/byte estimate alone
// would be near zero, so the declared time is added to the estimate; a
// traced (measured) time already includes the sleep.
double DeclaredDelayMs(const onnx::NodeProto& node, const engine::NodeTrace& trace) {
  if (node.domain() != engine::kTesseraSimDomain || node.op_type() != "Delay") return 0;
  double samples = 1;
  if (!trace.inputs.empty() && !trace.inputs[0].shape.empty()) {
    samples = static_cast<double>(std::max<int64_t>(trace.inputs[0].shape[0], 0));
  }
  const double per_sample = static_cast<double>(std::max<int64_t>(IntAttribute(node, "microseconds_per_sample", 0), 0));
  const double fixed = static_cast<double>(std::max<int64_t>(IntAttribute(node, "microseconds", 0), 0));
  return (per_sample * samples + fixed) / 1e3;
}

}  // namespace

int64_t TensorBytes(const engine::TensorInfo& info) {
  if (info.name.empty() || info.dtype == DataType::kUndefined) return 0;
  return static_cast<int64_t>(Elements(info.shape)) * static_cast<int64_t>(DataTypeSize(info.dtype));
}

double NodeFlops(const onnx::NodeProto& node, const engine::NodeTrace& trace) {
  const std::string& op = node.op_type();
  const bool onnx_domain = node.domain().empty() || node.domain() == "ai.onnx";
  const bool tessera = node.domain() == "ai.tessera";
  if ((onnx_domain && op == "Conv") || (tessera && op == "FusedConv")) {
    // FusedConv in a blocked layout carries 5-D weights [M/8, C/8, kh, kw, 8c, 8m]
    // or similar; fall back to output-channel based counting in that case.
    const std::string layout = AttributeString(node, "layout");
    if (!layout.empty() && trace.inputs.size() >= 2 && !trace.outputs.empty()) {
      // Weight elements / output channels = C/group * kernel for any weight layout.
      const double weights = Elements(trace.inputs[1].shape);
      const auto& y = trace.outputs[0].shape;
      double out_channels = 0;
      if (layout == "NHWC" && y.size() == 4) out_channels = static_cast<double>(y[3]);
      if (y.size() == 5) out_channels = static_cast<double>(y[1] * y[4]);
      if (out_channels > 0) return 2 * Elements(y) * weights / out_channels + OutputElements(trace);
    }
    return ConvFlops(trace);
  }
  if (onnx_domain && op == "ConvTranspose") return ConvTransposeFlops(trace);
  if ((onnx_domain && op == "MatMul") || (tessera && op == "FusedMatMul") || (onnx_domain && op == "MatMulInteger")) {
    return MatMulFlops(trace, false);
  }
  if (onnx_domain && op == "Gemm") return MatMulFlops(trace, IntAttribute(node, "transA", 0) != 0);
  return OutputElements(trace);
}

absl::StatusOr<std::vector<NodeCost>> EstimateNodeCosts(const onnx::ModelProto& model,
                                                        absl::Span<const engine::NodeTrace> trace, bool measured,
                                                        const CostModelOptions& options) {
  const auto& graph = model.graph();
  if (static_cast<int>(trace.size()) != graph.node_size()) {
    return absl::InvalidArgumentError(absl::StrCat("trace has ", trace.size(), " nodes but the model has ",
                                                   graph.node_size()));
  }
  if (options.flops_per_second <= 0 || options.memory_bytes_per_second <= 0) {
    return absl::InvalidArgumentError("cost model rates must be positive");
  }
  std::vector<NodeCost> costs;
  costs.reserve(trace.size());
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& node = graph.node(i);
    const engine::NodeTrace& t = trace[i];
    if (t.name != node.name() || t.outputs.size() != static_cast<size_t>(node.output_size())) {
      return absl::InvalidArgumentError(absl::StrCat("trace entry ", i, " ('", t.name,
                                                     "') does not match the model's node '", node.name(), "'"));
    }
    NodeCost c;
    c.name = node.name();
    c.op_type = t.op_type;
    c.flops = NodeFlops(node, t);
    for (const auto& in : t.inputs) c.input_bytes += TensorBytes(in);
    for (const auto& out : t.outputs) c.output_bytes += TensorBytes(out);
    c.estimated_ms = 1e3 * (c.flops / options.flops_per_second +
                            static_cast<double>(c.input_bytes + c.output_bytes) / options.memory_bytes_per_second) +
                     DeclaredDelayMs(node, t);
    if (measured) c.measured_ms = t.ms;
    c.cost_ms = options.prefer_measured && c.measured_ms.has_value() ? *c.measured_ms : c.estimated_ms;
    costs.push_back(std::move(c));
  }
  return costs;
}

}  // namespace tessera::planner
