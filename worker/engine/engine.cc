#include "worker/engine/engine.h"

#include <omp.h>

#include <algorithm>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "worker/engine/arena_planner.h"
#include "worker/engine/graph.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/model_optimizer.h"
#include "worker/engine/model_validator.h"
#include "worker/engine/node_context.h"
#include "worker/engine/node_runner.h"

namespace tessera::engine {
namespace {

constexpr size_t kMaxCachedPlans = 32;

// The per-input-shape part of execution: where each intermediate lives in
// the arena and the values that are constant for this shape signature.
struct Plan {
  std::vector<int64_t> offset;  // per value; -1 = heap
  std::vector<int64_t> capacity;
  int64_t arena_bytes = 0;
  std::vector<std::pair<int, Tensor>> cached;  // signature-constant values

  absl::Mutex mu;
  std::vector<std::shared_ptr<void>> free_arenas ABSL_GUARDED_BY(mu);

  std::shared_ptr<void> AcquireArena() {
    {
      absl::MutexLock lock(&mu);
      if (!free_arenas.empty()) {
        auto a = std::move(free_arenas.back());
        free_arenas.pop_back();
        return a;
      }
    }
    const size_t bytes = static_cast<size_t>((std::max<int64_t>(arena_bytes, 64) + 63) / 64 * 64);
    return std::shared_ptr<void>(std::aligned_alloc(64, bytes), [](void* p) { std::free(p); });
  }
  void ReleaseArena(std::shared_ptr<void> arena) {
    absl::MutexLock lock(&mu);
    free_arenas.push_back(std::move(arena));
  }
};

// Hands a node's outputs slices of the arena when they fit their slot.
class ArenaAllocator final : public OutputAllocator {
 public:
  ArenaAllocator(const Plan& plan, const std::shared_ptr<void>& arena) : plan_(plan), arena_(arena) {}
  void SetNode(const std::vector<int>* outputs) { outputs_ = outputs; }
  Tensor Allocate(int index, DataType type, const Shape& shape) override {
    const int id = (*outputs_)[index];
    if (id < 0 || plan_.offset[id] < 0) return Tensor();
    const int64_t bytes = NumElements(shape) * static_cast<int64_t>(DataTypeSize(type));
    if (bytes > plan_.capacity[id]) return Tensor();
    return Tensor::Wrap(type, shape, arena_, static_cast<char*>(arena_.get()) + plan_.offset[id]);
  }

 private:
  const Plan& plan_;
  const std::shared_ptr<void>& arena_;
  const std::vector<int>* outputs_ = nullptr;
};

class EngineImpl final : public Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(absl::string_view bytes, const EngineOptions& options);

  const std::vector<TensorInfo>& inputs() const override { return input_info_; }
  const std::vector<TensorInfo>& outputs() const override { return output_info_; }
  absl::StatusOr<std::vector<Tensor>> Run(absl::Span<const NamedTensor> inputs) const override;
  std::vector<OpProfile> Profile() const override;
  absl::StatusOr<std::vector<NodeTrace>> Trace(absl::Span<const NamedTensor> inputs, int repeats) const override;

 private:
  struct Node {
    const KernelDef* def = nullptr;
    std::unique_ptr<OpKernel> kernel;
    std::vector<int> inputs;   // value ids, -1 = absent
    std::vector<int> outputs;  // value ids, -1 = not requested
    std::string label;
    std::string name;     // the NodeProto's name
    std::string op_type;  // "Conv", "ai.tessera.FusedConv"
    bool signature_constant = false;  // depends only on constants and input shapes
    std::vector<int> release_after;   // values dead after this node
  };

  absl::Status Build(Graph graph);
  int ValueId(const std::string& name);
  absl::StatusOr<std::string> BindInputs(absl::Span<const NamedTensor> inputs, std::vector<Tensor>& values) const;
  // What the first run of a shape signature records to build its plan.
  struct Recording {
    std::vector<int64_t> bytes;      // per value: size produced
    std::vector<Tensor> sig_values;  // per value: outputs of signature-constant nodes
  };
  // Runs the nodes in order. With a plan, signature-constant nodes are
  // skipped (their values are cached) and outputs go to the arena; without
  // one, everything runs on the heap and `recording` (if set) is filled;
  // `trace` (if set, one entry per node) gets shapes and the fastest time.
  absl::Status Execute(std::vector<Tensor>& values, const Plan* plan, ArenaAllocator* allocator,
                       Recording* recording, std::vector<NodeTrace>* trace = nullptr) const;
  std::unique_ptr<Plan> MakePlan(const std::vector<int64_t>& bytes, const std::vector<Tensor>& values) const;

  int threads_ = 1;
  bool profile_ = false;
  absl::flat_hash_map<std::string, int> value_ids_;
  std::vector<std::string> value_names_;
  std::vector<Tensor> constants_;         // by value id; undefined when not constant
  std::vector<Node> nodes_;
  std::vector<int> producer_;             // by value id; node index or -1
  std::vector<int> alias_parent_;         // by value id; -1 = owns its buffer
  std::vector<bool> is_output_;
  std::vector<int> required_inputs_;      // value ids, in input_info_ order
  std::vector<int> overridable_inputs_;   // initializer-backed graph inputs
  std::vector<int> output_ids_;
  std::vector<TensorInfo> input_info_, output_info_;
  std::vector<std::vector<int64_t>> input_dims_;  // declared dims (-1 unknown), per required input
  std::vector<bool> input_rank_known_;

  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, std::shared_ptr<Plan>> plans_ ABSL_GUARDED_BY(mu_);
  mutable std::deque<std::string> plan_order_ ABSL_GUARDED_BY(mu_);
  mutable absl::flat_hash_map<std::string, OpProfile> profile_totals_ ABSL_GUARDED_BY(mu_);
};

int EngineImpl::ValueId(const std::string& name) {
  auto [it, inserted] = value_ids_.try_emplace(name, static_cast<int>(value_names_.size()));
  if (inserted) value_names_.push_back(name);
  return it->second;
}

TensorInfo MakeInfo(const Graph& graph, const std::string& name) {
  TensorInfo info;
  info.name = name;
  auto it = graph.types.find(name);
  if (it != graph.types.end()) {
    if (IsSupportedDataType(it->second.elem_type)) info.dtype = static_cast<DataType>(it->second.elem_type);
    if (it->second.dims.has_value()) info.shape = *it->second.dims;
  }
  return info;
}

absl::Status EngineImpl::Build(Graph graph) {
  // Values: graph inputs, constants, node outputs.
  for (const auto& name : graph.inputs) {
    required_inputs_.push_back(ValueId(name));
    input_info_.push_back(MakeInfo(graph, name));
    auto it = graph.types.find(name);
    input_rank_known_.push_back(it != graph.types.end() && it->second.dims.has_value());
    input_dims_.push_back(input_rank_known_.back() ? *it->second.dims : std::vector<int64_t>{});
  }
  for (const auto& name : graph.optional_inputs) overridable_inputs_.push_back(ValueId(name));
  for (const auto& [name, t] : graph.constants) ValueId(name);
  for (const auto& node : graph.nodes) {
    for (const auto& o : node.output()) {
      if (!o.empty()) ValueId(o);
    }
  }
  for (const auto& name : graph.outputs) {
    output_ids_.push_back(ValueId(name));
    output_info_.push_back(MakeInfo(graph, name));
  }
  const size_t num_values = value_names_.size();
  constants_.assign(num_values, Tensor());
  for (auto& [name, t] : graph.constants) constants_[value_ids_[name]] = std::move(t);
  producer_.assign(num_values, -1);
  alias_parent_.assign(num_values, -1);
  is_output_.assign(num_values, false);
  for (int id : output_ids_) is_output_[id] = true;

  std::vector<bool> sig_const(num_values, false);
  for (size_t v = 0; v < num_values; ++v) sig_const[v] = constants_[v].defined();
  const KernelRegistry& registry = KernelRegistry::Global();
  for (const auto& proto : graph.nodes) {
    Node node;
    node.label = NodeLabel(proto);
    node.name = proto.name();
    node.op_type = proto.domain().empty() ? proto.op_type() : absl::StrCat(proto.domain(), ".", proto.op_type());
    node.def = registry.Find(proto.domain(), proto.op_type());
    if (node.def == nullptr) return absl::UnimplementedError(absl::StrCat("unsupported operator in ", node.label));
    NodeAttributes attrs(proto);
    KernelInit init{proto, attrs, graph.OpsetOf(proto), {}, {}, {}};
    bool all_sig_const = node.def->deterministic;
    for (const auto& in : proto.input()) {
      const int id = in.empty() ? -1 : value_ids_.at(in);
      node.inputs.push_back(id);
      init.input_present.push_back(id >= 0);
      init.constant_inputs.push_back(id >= 0 && constants_[id].defined() ? &constants_[id] : nullptr);
      std::optional<Shape> shape;
      if (id >= 0) {
        auto it = graph.types.find(in);
        if (it != graph.types.end()) shape = it->second.StaticShape();
      }
      init.input_shapes.push_back(shape);
      if (id >= 0 && !sig_const[id]) all_sig_const = false;
    }
    const bool shape_op = proto.domain().empty() && (proto.op_type() == "Shape" || proto.op_type() == "Size");
    node.signature_constant = shape_op || all_sig_const;
    const int index = static_cast<int>(nodes_.size());
    for (int i = 0; i < proto.output_size(); ++i) {
      const int id = proto.output(i).empty() ? -1 : value_ids_.at(proto.output(i));
      node.outputs.push_back(id);
      if (id < 0) continue;
      producer_[id] = index;
      sig_const[id] = node.signature_constant;
      if (i == 0 && node.def->output_aliases_input && !node.inputs.empty() && node.inputs[0] >= 0) {
        alias_parent_[id] = node.inputs[0];
      }
    }
    auto kernel = node.def->factory(init);
    if (!kernel.ok()) {
      return absl::Status(kernel.status().code(), absl::StrCat(node.label, ": ", kernel.status().message()));
    }
    node.kernel = std::move(kernel).value();
    nodes_.push_back(std::move(node));
  }
  // Release points: after the last node reading a value.
  std::vector<int> last_use(num_values, -1);
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    for (int id : nodes_[i].inputs) {
      if (id >= 0) last_use[id] = i;
    }
  }
  for (size_t v = 0; v < num_values; ++v) {
    if (last_use[v] >= 0 && !is_output_[v] && !constants_[v].defined()) {
      nodes_[last_use[v]].release_after.push_back(static_cast<int>(v));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Engine>> EngineImpl::Create(absl::string_view bytes, const EngineOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(onnx::ModelProto model, ParseAndValidateModel(bytes));
  TESSERA_ASSIGN_OR_RETURN(Graph graph, Graph::FromModel(model));
  const bool optimize = options.optimize && !IsOptimizedModel(model);
  model.Clear();
  auto engine = std::make_unique<EngineImpl>();
  engine->profile_ = options.profile;
  engine->threads_ = options.intra_op_threads > 0 ? options.intra_op_threads
                                                  : std::max(1u, std::thread::hardware_concurrency());
  if (optimize) {
    TESSERA_RETURN_IF_ERROR(OptimizeGraph(graph, engine->threads_));
  }
  TESSERA_RETURN_IF_ERROR(engine->Build(std::move(graph)));
  return engine;
}

absl::StatusOr<std::string> EngineImpl::BindInputs(absl::Span<const NamedTensor> inputs,
                                                   std::vector<Tensor>& values) const {
  std::string signature;
  std::vector<bool> seen(value_names_.size(), false);
  for (const NamedTensor& in : inputs) {
    auto it = value_ids_.find(in.name);
    const int id = it == value_ids_.end() ? -1 : it->second;
    const bool required = id >= 0 && std::find(required_inputs_.begin(), required_inputs_.end(), id) !=
                                         required_inputs_.end();
    const bool overridable = id >= 0 && std::find(overridable_inputs_.begin(), overridable_inputs_.end(), id) !=
                                            overridable_inputs_.end();
    if (!required && !overridable) {
      std::vector<std::string> names;
      for (const auto& info : input_info_) names.push_back(info.name);
      return absl::InvalidArgumentError(absl::StrCat("unknown input '", in.name, "'; the model's inputs are: ",
                                                     absl::StrJoin(names, ", ")));
    }
    if (seen[id]) return absl::InvalidArgumentError(absl::StrCat("input '", in.name, "' is given more than once"));
    seen[id] = true;
    const Tensor& t = in.tensor;
    if (!t.defined()) return absl::InvalidArgumentError(absl::StrCat("input '", in.name, "' has no data"));
    if (overridable) {
      const Tensor& def = constants_[id];
      if (t.dtype() != def.dtype() || t.shape() != def.shape()) {
        return absl::InvalidArgumentError(absl::StrCat("input '", in.name, "' overrides an initializer of ",
                                                       def.DebugString(), " with ", t.DebugString()));
      }
    } else {
      const size_t k = std::find(required_inputs_.begin(), required_inputs_.end(), id) - required_inputs_.begin();
      const TensorInfo& info = input_info_[k];
      if (info.dtype != DataType::kUndefined && t.dtype() != info.dtype) {
        return absl::InvalidArgumentError(absl::StrCat("input '", in.name, "' must be ", DataTypeName(info.dtype),
                                                       ", got ", DataTypeName(t.dtype())));
      }
      if (input_rank_known_[k]) {
        const auto& dims = input_dims_[k];
        bool ok = dims.size() == t.shape().size();
        for (size_t d = 0; ok && d < dims.size(); ++d) ok = dims[d] < 0 || dims[d] == t.shape()[d];
        if (!ok) {
          return absl::InvalidArgumentError(absl::StrCat("input '", in.name, "' must have shape ",
                                                         ShapeToString(dims), " (-1 = any), got ",
                                                         ShapeToString(t.shape())));
        }
      }
    }
    values[id] = t;
    absl::StrAppend(&signature, id, ":", static_cast<int>(t.dtype()), ShapeToString(t.shape()), ";");
  }
  for (size_t k = 0; k < required_inputs_.size(); ++k) {
    if (!seen[required_inputs_[k]]) {
      return absl::InvalidArgumentError(absl::StrCat("missing input '", input_info_[k].name, "'"));
    }
  }
  return signature;
}

absl::Status EngineImpl::Execute(std::vector<Tensor>& values, const Plan* plan, ArenaAllocator* allocator,
                                 Recording* recording, std::vector<NodeTrace>* trace) const {
  std::vector<const Tensor*> in;
  std::vector<Tensor*> out;
  auto info = [&](int id) {
    TensorInfo t;
    if (id < 0 || !values[id].defined()) return t;
    t.name = value_names_[id];
    t.dtype = values[id].dtype();
    t.shape.assign(values[id].shape().begin(), values[id].shape().end());
    return t;
  };
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const Node& node = nodes_[n];
    if (plan != nullptr && node.signature_constant) continue;  // cached in the plan
    in.clear();
    out.clear();
    for (int id : node.inputs) in.push_back(id >= 0 ? &values[id] : nullptr);
    for (int id : node.outputs) out.push_back(id >= 0 ? &values[id] : nullptr);
    if (allocator != nullptr) allocator->SetNode(&node.outputs);
    NodeContext ctx(in, out, threads_, allocator);
    const bool timed = (profile_ && plan != nullptr) || trace != nullptr;
    if (trace != nullptr) {
      NodeTrace& t = (*trace)[n];
      t.inputs.clear();
      for (int id : node.inputs) t.inputs.push_back(info(id));
    }
    const absl::Time start = timed ? absl::Now() : absl::InfinitePast();
    absl::Status st = ComputeNode(*node.kernel, ctx);
    if (!st.ok()) return absl::Status(st.code(), absl::StrCat(node.label, ": ", st.message()));
    if (trace != nullptr) {
      NodeTrace& t = (*trace)[n];
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
      t.ms = t.outputs.empty() ? ms : std::min(t.ms, ms);
      t.outputs.clear();
      for (int id : node.outputs) t.outputs.push_back(info(id));
    }
    if (profile_ && plan != nullptr) {
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
      absl::MutexLock lock(&mu_);
      OpProfile& p = profile_totals_[node.op_type];
      p.op_type = node.op_type;
      ++p.calls;
      p.total_ms += ms;
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const int id = node.outputs[i];
      if (id < 0) continue;
      if (!values[id].defined()) {
        return absl::InternalError(absl::StrCat(node.label, " did not produce output ", i));
      }
      if (recording != nullptr) {
        recording->bytes[id] = static_cast<int64_t>(values[id].byte_size());
        if (node.signature_constant) recording->sig_values[id] = values[id];
      }
    }
    for (int id : node.release_after) values[id] = Tensor();
  }
  return absl::OkStatus();
}

std::unique_ptr<Plan> EngineImpl::MakePlan(const std::vector<int64_t>& bytes,
                                           const std::vector<Tensor>& sig_values) const {
  const size_t num_values = value_names_.size();
  auto plan = std::make_unique<Plan>();
  plan->offset.assign(num_values, -1);
  plan->capacity.assign(num_values, 0);
  // Root of each value's alias chain, and whether the chain may use the arena.
  std::vector<int> root(num_values);
  for (size_t v = 0; v < num_values; ++v) {
    int r = static_cast<int>(v);
    while (alias_parent_[r] >= 0) r = alias_parent_[r];
    root[v] = r;
  }
  std::vector<bool> eligible(num_values, false);
  for (size_t v = 0; v < num_values; ++v) {
    const int p = producer_[v];
    eligible[v] = p >= 0 && !nodes_[p].signature_constant && alias_parent_[v] < 0 && bytes[v] > 0;
  }
  for (size_t v = 0; v < num_values; ++v) {
    if (is_output_[v]) eligible[root[v]] = false;  // outputs outlive the run's arena
  }
  std::vector<int> first(num_values, -1), last(num_values, -1);
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    for (int id : nodes_[i].outputs) {
      if (id >= 0 && first[root[id]] < 0) first[root[id]] = i;
    }
    for (int id : nodes_[i].inputs) {
      if (id >= 0) last[root[id]] = std::max(last[root[id]], i);
    }
    for (int id : nodes_[i].outputs) {
      if (id >= 0) last[root[id]] = std::max(last[root[id]], i);
    }
  }
  std::vector<BufferRequest> requests;
  std::vector<int> request_value;
  for (size_t v = 0; v < num_values; ++v) {
    if (!eligible[v]) continue;
    requests.push_back({bytes[v], first[v], last[v]});
    request_value.push_back(static_cast<int>(v));
  }
  ArenaLayout layout = PlanArena(requests);
  for (size_t k = 0; k < requests.size(); ++k) {
    plan->offset[request_value[k]] = layout.offsets[k];
    plan->capacity[request_value[k]] = requests[k].bytes;
  }
  plan->arena_bytes = layout.total_bytes;
  for (size_t v = 0; v < num_values; ++v) {
    const int p = producer_[v];
    if (p >= 0 && nodes_[p].signature_constant && sig_values[v].defined()) plan->cached.emplace_back(v, sig_values[v]);
  }
  return plan;
}

absl::StatusOr<std::vector<Tensor>> EngineImpl::Run(absl::Span<const NamedTensor> inputs) const {
  omp_set_num_threads(threads_);
  std::vector<Tensor> values = constants_;
  TESSERA_ASSIGN_OR_RETURN(std::string signature, BindInputs(inputs, values));

  std::shared_ptr<Plan> plan;
  {
    absl::MutexLock lock(&mu_);
    auto it = plans_.find(signature);
    if (it != plans_.end()) plan = it->second;
  }
  if (plan == nullptr) {
    // First run of this shape signature: run on the heap, recording sizes
    // and the values fixed by the signature, then build the plan.
    Recording recording{std::vector<int64_t>(values.size(), 0), std::vector<Tensor>(values.size())};
    TESSERA_RETURN_IF_ERROR(Execute(values, nullptr, nullptr, &recording));
    std::vector<Tensor> result;
    for (int id : output_ids_) result.push_back(values[id]);
    std::shared_ptr<Plan> made = MakePlan(recording.bytes, recording.sig_values);
    absl::MutexLock lock(&mu_);
    if (!plans_.contains(signature)) {
      if (plans_.size() >= kMaxCachedPlans) {
        plans_.erase(plan_order_.front());
        plan_order_.pop_front();
      }
      plans_.emplace(signature, std::move(made));
      plan_order_.push_back(signature);
    }
    return result;
  }

  for (const auto& [id, t] : plan->cached) values[id] = t;
  std::shared_ptr<void> arena = plan->AcquireArena();
  ArenaAllocator allocator(*plan, arena);
  absl::Status st = Execute(values, plan.get(), &allocator, nullptr);
  std::vector<Tensor> result;
  if (st.ok()) {
    for (int id : output_ids_) result.push_back(values[id]);
  }
  values.clear();
  plan->ReleaseArena(std::move(arena));
  if (!st.ok()) return st;
  return result;
}

absl::StatusOr<std::vector<NodeTrace>> EngineImpl::Trace(absl::Span<const NamedTensor> inputs, int repeats) const {
  if (repeats < 1) return absl::InvalidArgumentError(absl::StrCat("Trace needs repeats >= 1, got ", repeats));
  omp_set_num_threads(threads_);
  std::vector<NodeTrace> trace(nodes_.size());
  for (size_t n = 0; n < nodes_.size(); ++n) {
    trace[n].name = nodes_[n].name;
    trace[n].op_type = nodes_[n].op_type;
  }
  for (int r = 0; r < repeats; ++r) {
    std::vector<Tensor> values = constants_;
    TESSERA_RETURN_IF_ERROR(BindInputs(inputs, values).status());
    TESSERA_RETURN_IF_ERROR(Execute(values, nullptr, nullptr, nullptr, &trace));
  }
  return trace;
}

std::vector<OpProfile> EngineImpl::Profile() const {
  std::vector<OpProfile> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [op, p] : profile_totals_) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const OpProfile& a, const OpProfile& b) { return a.total_ms > b.total_ms; });
  return out;
}

}  // namespace

absl::StatusOr<std::vector<NodeTrace>> Engine::Trace(absl::Span<const NamedTensor>, int) const {
  return absl::UnimplementedError("this engine does not support Trace");
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::LoadFromBytes(absl::string_view bytes, const EngineOptions& options) {
  return EngineImpl::Create(bytes, options);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::LoadFromFile(const std::string& path, const EngineOptions& options) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open model file '", path, "'"));
  std::stringstream buffer;
  buffer << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat("error reading model file '", path, "'"));
  return LoadFromBytes(buffer.str(), options);
}

}  // namespace tessera::engine
