#include "coordinator/planner/pipeline_plan.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tessera::planner {
namespace {

std::string Bytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 20)) return absl::StrFormat("%.2f MiB", static_cast<double>(bytes) / (1 << 20));
  if (bytes >= (int64_t{1} << 10)) return absl::StrFormat("%.1f KiB", static_cast<double>(bytes) / (1 << 10));
  return absl::StrCat(bytes, " B");
}

std::string Source(const TensorRoute& r) {
  return r.source_stage == kFromRequest ? "request" : absl::StrCat("stage ", r.source_stage);
}

}  // namespace

double PipelinePlan::MaxStageCost() const {
  double m = 0;
  for (const auto& s : stages) m = std::max(m, s.cost_ms);
  return m;
}

double PipelinePlan::MeanStageCost() const {
  if (stages.empty()) return 0;
  double sum = 0;
  for (const auto& s : stages) sum += s.cost_ms;
  return sum / static_cast<double>(stages.size());
}

std::string PlanToText(const PipelinePlan& plan, bool list_nodes) {
  std::string out;
  std::vector<std::string> sample;
  for (const auto& [name, shape] : plan.sample_shapes) {
    sample.push_back(absl::StrCat(name, "=[", absl::StrJoin(shape, "x"), "]"));
  }
  absl::StrAppend(&out, plan.stages.size(), " stages; costs ", plan.measured ? "measured" : "estimated",
                  " at ", absl::StrJoin(sample, ", "), "\n");
  const double mean = plan.MeanStageCost();
  absl::StrAppend(&out, absl::StrFormat("max stage %.3f ms, mean %.3f ms, max/mean %.3f\n", plan.MaxStageCost(), mean,
                                        mean > 0 ? plan.MaxStageCost() / mean : 0.0));
  for (const auto& s : plan.stages) {
    absl::StrAppend(&out, "\nstage ", s.index, ": ", s.node_names.size(), " nodes, ",
                    absl::StrFormat("cost %.3f ms (estimated %.3f ms", s.cost_ms, s.estimated_ms));
    if (s.measured_ms.has_value()) absl::StrAppend(&out, absl::StrFormat(", measured %.3f ms", *s.measured_ms));
    absl::StrAppend(&out, absl::StrFormat(", %.3g FLOPs)", s.flops), ", in ", Bytes(s.bytes_in), ", out ",
                    Bytes(s.bytes_out), "\n  id ", s.content_id, ", model ", Bytes(static_cast<int64_t>(s.model.size())),
                    "\n");
    std::map<std::string, int> ops;
    for (const auto& op : s.op_types) ++ops[op];
    std::vector<std::string> op_counts;
    for (const auto& [op, n] : ops) op_counts.push_back(absl::StrCat(op, " x", n));
    absl::StrAppend(&out, "  ops: ", absl::StrJoin(op_counts, ", "), "\n");
    for (const auto& in : s.inputs) {
      absl::StrAppend(&out, "  in  ", in.name, " <- ", Source(in), " (", Bytes(in.bytes), ")\n");
    }
    for (const auto& o : s.outputs) absl::StrAppend(&out, "  out ", o.name, " (", Bytes(o.bytes), ")\n");
    if (list_nodes) {
      std::vector<std::string> nodes;
      for (size_t i = 0; i < s.node_names.size(); ++i) {
        nodes.push_back(s.node_names[i].empty() ? absl::StrCat("#", i, ":", s.op_types[i]) : s.node_names[i]);
      }
      absl::StrAppend(&out, "  nodes: ", absl::StrJoin(nodes, " "), "\n");
    }
    if (s.index + 1 < static_cast<int>(plan.stages.size())) {
      absl::StrAppend(&out, "\n-- cut ", s.index, "|", s.index + 1, ": ", Bytes(plan.cut_bytes[s.index]),
                      " live across --\n");
    }
  }
  absl::StrAppend(&out, "\noutputs:\n");
  for (const auto& o : plan.outputs) absl::StrAppend(&out, "  ", o.name, " <- ", Source(o), "\n");
  return out;
}

}  // namespace tessera::planner
