#include "coordinator/planner/stage_planner.h"

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/sha256.h"
#include "coordinator/planner/partition_builder.h"
#include "coordinator/planner/stage_partitioner.h"
#include "worker/engine/engine.h"
#include "worker/engine/model_optimizer.h"

namespace tessera::planner {
namespace {

constexpr int64_t kMaxSampleBytes = int64_t{4} << 30;

absl::StatusOr<Tensor> RandomSample(DataType dtype, const Shape& shape, std::mt19937_64& rng) {
  TESSERA_RETURN_IF_ERROR(ValidateShape(shape, dtype, kMaxSampleBytes));
  Tensor t = Tensor::Zeros(dtype, shape);
  if (dtype == DataType::kFloat32) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (float& v : absl::Span<float>(t.data<float>(), static_cast<size_t>(t.num_elements()))) v = dist(rng);
  } else if (dtype == DataType::kFloat64) {
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    for (double& v : absl::Span<double>(t.data<double>(), static_cast<size_t>(t.num_elements()))) v = dist(rng);
  }
  // Integer and boolean inputs (token ids, masks) stay zero: always in range.
  return t;
}

// Binds the graph inputs' dynamic dimensions and makes random samples.
absl::StatusOr<std::vector<engine::NamedTensor>> SampleInputs(const onnx::ModelProto& model,
                                                              const PlannerOptions& options) {
  absl::flat_hash_map<std::string, bool> initializer;
  for (const auto& init : model.graph().initializer()) initializer[init.name()] = true;
  std::mt19937_64 rng(options.seed);
  std::vector<engine::NamedTensor> inputs;
  for (const auto& in : model.graph().input()) {
    if (initializer.contains(in.name())) continue;
    const auto& tt = in.type().tensor_type();
    if (!tt.has_shape()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", in.name(), "' has no declared rank to sample"));
    }
    Shape shape;
    for (int d = 0; d < tt.shape().dim_size(); ++d) {
      const auto& dim = tt.shape().dim(d);
      if (dim.has_dim_value() && dim.dim_value() >= 0) {
        shape.push_back(dim.dim_value());
      } else if (dim.has_dim_param() && options.dims.contains(dim.dim_param())) {
        shape.push_back(options.dims.at(dim.dim_param()));
      } else {
        shape.push_back(d == 0 ? options.batch : options.other_dim);
      }
    }
    if (!IsSupportedDataType(tt.elem_type())) {
      return absl::InvalidArgumentError(absl::StrCat("input '", in.name(), "' has an unsupported element type"));
    }
    TESSERA_ASSIGN_OR_RETURN(Tensor t, RandomSample(static_cast<DataType>(tt.elem_type()), shape, rng));
    inputs.push_back({in.name(), std::move(t)});
  }
  return inputs;
}

// Sets the named nodes' measured and planned cost.
absl::Status ApplyCosts(PreparedModel* model, const absl::flat_hash_map<std::string, double>& node_ms) {
  for (NodeCost& c : model->costs) {
    auto it = node_ms.find(c.name);
    if (it == node_ms.end()) continue;
    if (!(it->second >= 0) || !std::isfinite(it->second)) {
      return absl::InvalidArgumentError(absl::StrCat("measured cost of node '", c.name, "' must be >= 0"));
    }
    c.measured_ms = it->second;
    c.cost_ms = it->second;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyMeasuredCosts(PreparedModel* model, const absl::flat_hash_map<std::string, double>& node_ms) {
  TESSERA_RETURN_IF_ERROR(ApplyCosts(model, node_ms));
  model->measured = true;
  return absl::OkStatus();
}

absl::StatusOr<PreparedModel> PrepareModel(absl::string_view model_bytes, const PlannerOptions& options) {
  if (options.batch < 1 || options.other_dim < 1) {
    return absl::InvalidArgumentError("sample batch and dimensions must be at least 1");
  }
  PreparedModel prepared;
  TESSERA_ASSIGN_OR_RETURN(prepared.optimized, engine::OptimizeModelBytes(model_bytes, {.threads = options.threads}));
  std::string optimized_bytes;
  if (!prepared.optimized.SerializeToString(&optimized_bytes)) {
    return absl::InternalError("cannot serialize the optimized model");
  }
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> engine,
                           engine::Engine::LoadFromBytes(optimized_bytes, {.intra_op_threads = options.threads}));
  TESSERA_ASSIGN_OR_RETURN(prepared.sample, SampleInputs(prepared.optimized, options));
  prepared.measured = options.measure_runs > 0;
  TESSERA_ASSIGN_OR_RETURN(std::vector<engine::NodeTrace> trace,
                           engine->Trace(prepared.sample, prepared.measured ? options.measure_runs : 1));
  TESSERA_ASSIGN_OR_RETURN(prepared.costs,
                           EstimateNodeCosts(prepared.optimized, trace, prepared.measured, options.cost));
  if (absl::Status applied = ApplyCosts(&prepared, options.measured_node_ms); !applied.ok()) return applied;
  for (const auto& s : prepared.sample) {
    prepared.tensors[s.name] = engine::TensorInfo{
        s.name, s.tensor.dtype(), std::vector<int64_t>(s.tensor.shape().begin(), s.tensor.shape().end())};
  }
  for (const auto& t : trace) {
    for (const auto& o : t.outputs) {
      if (!o.name.empty()) prepared.tensors[o.name] = o;
    }
  }
  return prepared;
}

namespace {

// Node costs and node-to-node tensors of a prepared model.
PartitionProblem MakeProblem(const PreparedModel& model) {
  PartitionProblem problem;
  absl::flat_hash_map<std::string, int> tensor_index;
  const auto& g = model.optimized.graph();
  for (int i = 0; i < g.node_size(); ++i) {
    problem.node_cost.push_back(model.costs[i].cost_ms);
    for (const auto& in : g.node(i).input()) {
      auto it = tensor_index.find(in);
      if (it != tensor_index.end()) problem.tensors[it->second].consumers.push_back(i);
    }
    for (const auto& o : g.node(i).output()) {
      if (o.empty()) continue;
      tensor_index[o] = static_cast<int>(problem.tensors.size());
      auto t = model.tensors.find(o);
      problem.tensors.push_back({i, {}, t == model.tensors.end() ? 0 : TensorBytes(t->second)});
    }
  }
  return problem;
}

absl::StatusOr<PipelinePlan> Assemble(const PreparedModel& model, const Partition& partition) {
  TESSERA_ASSIGN_OR_RETURN(BuiltPartitions built, BuildPartitions(model.optimized, partition.bounds, model.tensors));
  PipelinePlan plan;
  plan.measured = model.measured;
  for (const auto& s : model.sample) {
    plan.sample_shapes.emplace_back(s.name, std::vector<int64_t>(s.tensor.shape().begin(), s.tensor.shape().end()));
  }
  plan.cut_bytes = partition.cut_bytes;
  auto fill = [&](TensorRoute r) {
    auto it = model.tensors.find(r.name);
    r.bytes = it == model.tensors.end() ? 0 : TensorBytes(it->second);
    return r;
  };
  const int stages = static_cast<int>(partition.bounds.size()) - 1;
  for (int s = 0; s < stages; ++s) {
    PlannedStage stage;
    stage.index = s;
    double measured_ms = 0;
    for (int i = partition.bounds[s]; i < partition.bounds[s + 1]; ++i) {
      const NodeCost& c = model.costs[i];
      stage.node_names.push_back(c.name);
      stage.op_types.push_back(c.op_type);
      stage.node_costs_ms.push_back(c.cost_ms);
      stage.flops += c.flops;
      stage.estimated_ms += c.estimated_ms;
      measured_ms += c.measured_ms.value_or(0);
    }
    if (model.measured) stage.measured_ms = measured_ms;
    stage.cost_ms = partition.stage_cost[s];
    for (const auto& r : built.stages[s].inputs) {
      stage.inputs.push_back(fill(r));
      if (r.source_stage != kFromRequest) stage.bytes_in += stage.inputs.back().bytes;
    }
    for (const auto& r : built.stages[s].outputs) {
      stage.outputs.push_back(fill(r));
      stage.bytes_out += stage.outputs.back().bytes;
    }
    if (!built.stages[s].model.SerializeToString(&stage.model)) {
      return absl::InternalError(absl::StrCat("cannot serialize stage ", s));
    }
    stage.content_id = Sha256Hex(stage.model);
    plan.stages.push_back(std::move(stage));
  }
  for (const auto& r : built.outputs) plan.outputs.push_back(fill(r));
  return plan;
}

}  // namespace

absl::StatusOr<PipelinePlan> BuildPlan(const PreparedModel& model, const std::vector<int>& bounds) {
  const PartitionProblem problem = MakeProblem(model);
  const int n = static_cast<int>(problem.node_cost.size());
  if (bounds.size() < 2 || bounds.front() != 0 || bounds.back() != n) {
    return absl::InvalidArgumentError(absl::StrCat("stage bounds must run from 0 to ", n));
  }
  // The figures of this partition: a one-stage-per-range evaluation.
  Partition partition;
  partition.bounds = bounds;
  const int stages = static_cast<int>(bounds.size()) - 1;
  partition.stage_cost.assign(stages, 0);
  partition.cut_bytes.assign(stages - 1, 0);
  std::vector<int> stage_of(n, 0);
  for (int s = 0; s < stages; ++s) {
    if (bounds[s + 1] <= bounds[s]) return absl::InvalidArgumentError("stage bounds must be strictly increasing");
    for (int i = bounds[s]; i < bounds[s + 1]; ++i) {
      stage_of[i] = s;
      partition.stage_cost[s] += problem.node_cost[i];
    }
  }
  for (const auto& t : problem.tensors) {
    int last = stage_of[t.producer];
    for (int c : t.consumers) last = std::max(last, stage_of[c]);
    for (int c = stage_of[t.producer]; c < last; ++c) partition.cut_bytes[c] += t.bytes;
  }
  return Assemble(model, partition);
}

absl::StatusOr<PipelinePlan> PlanPipeline(absl::string_view model_bytes, const PlannerOptions& options) {
  if (options.stages < 1) {
    return absl::InvalidArgumentError(absl::StrCat("the number of stages must be at least 1, got ", options.stages));
  }
  TESSERA_ASSIGN_OR_RETURN(PreparedModel model, PrepareModel(model_bytes, options));
  return PlanPrepared(model, options);
}

absl::StatusOr<PipelinePlan> PlanPrepared(const PreparedModel& model, const PlannerOptions& options) {
  if (options.stages < 1) {
    return absl::InvalidArgumentError(absl::StrCat("the number of stages must be at least 1, got ", options.stages));
  }
  const int n = model.optimized.graph().node_size();
  if (options.stages > n) {
    return absl::InvalidArgumentError(absl::StrCat("cannot cut the optimized graph's ", n, " nodes into ",
                                                   options.stages, " stages"));
  }
  TESSERA_ASSIGN_OR_RETURN(Partition partition,
                           PartitionStages(MakeProblem(model), {.stages = options.stages,
                                                                .link_bytes_per_ms = options.link_bytes_per_ms,
                                                                .balance_slack = options.balance_slack}));
  return Assemble(model, partition);
}

absl::StatusOr<Partition> EvaluateBounds(const PreparedModel& model, const std::vector<int>& bounds,
                                         const PlannerOptions& options) {
  return EvaluatePartition(MakeProblem(model), bounds,
                           {.stages = static_cast<int>(bounds.size()) - 1,
                            .link_bytes_per_ms = options.link_bytes_per_ms,
                            .balance_slack = options.balance_slack});
}

std::vector<int> PlanBounds(const PipelinePlan& plan) {
  std::vector<int> bounds = {0};
  for (const PlannedStage& stage : plan.stages) {
    bounds.push_back(bounds.back() + static_cast<int>(stage.node_names.size()));
  }
  return bounds;
}

}  // namespace tessera::planner
