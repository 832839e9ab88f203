// PipelinePlan: what the stage planner decided for one model, and what the
// scheduler needs to run it as a pipeline.
//
// Routing (no pass-through): every stage returns its outputs to the
// coordinator, which keeps them for the rest of the request and sends each
// later stage exactly the tensors it reads. A tensor produced in stage i and
// read in stage j > i+1 (a skip connection, a shape-subgraph result) is
// therefore an output of stage i and an input of stage j only; the stages in
// between neither receive nor return it. Each stage input names its source:
// a graph input (the request) or an output of an earlier stage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tessera::planner {

inline constexpr int kFromRequest = -1;  // TensorRoute::source_stage of a graph input

struct TensorRoute {
  std::string name;
  int source_stage = kFromRequest;  // stage whose output it is, or kFromRequest
  int64_t bytes = 0;                // at the planning sample's shapes
};

struct PlannedStage {
  int index = 0;
  std::vector<std::string> node_names;  // in execution order
  std::vector<std::string> op_types;
  std::vector<double> node_costs_ms;  // per node: what the partitioner balanced
  double flops = 0;
  double estimated_ms = 0;
  std::optional<double> measured_ms;
  double cost_ms = 0;  // what the partitioner balanced (includes receive time)
  std::vector<TensorRoute> inputs;   // the stage model's inputs, in order
  std::vector<TensorRoute> outputs;  // source_stage == index
  int64_t bytes_in = 0;   // received from earlier stages (graph inputs excluded)
  int64_t bytes_out = 0;  // returned to the coordinator
  std::string model;       // serialized standalone ONNX model
  std::string content_id;  // hex SHA-256 of `model`
};

struct PipelinePlan {
  // Sample the costs were computed at, e.g. {"input": [1, 3, 224, 224]}.
  std::vector<std::pair<std::string, std::vector<int64_t>>> sample_shapes;
  bool measured = false;  // stage costs include measured kernel times
  std::vector<PlannedStage> stages;
  // Per cut c between stage c and c+1: bytes of tensors produced at or
  // before stage c and read after it.
  std::vector<int64_t> cut_bytes;
  // The graph's outputs, in the model's order, and where each comes from.
  std::vector<TensorRoute> outputs;

  double MaxStageCost() const;
  double MeanStageCost() const;
};

// Human-readable rendering for `tessera plan`: per stage its cost, node
// count and operators, inputs with their sources, outputs; per cut its bytes.
std::string PlanToText(const PipelinePlan& plan, bool list_nodes = true);

}  // namespace tessera::planner
