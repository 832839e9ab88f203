// Partition builder: turns consecutive node ranges of an optimized model
// (an engine::OptimizeModel export) into standalone stage models and the
// routing between them.
//
// Stage s's model holds its nodes in the original order; the initializers
// they read (constants never cross a cut); as inputs every tensor its nodes
// read that is produced outside the stage (a graph input or an earlier
// stage's output); as outputs every tensor it produces that a later stage
// reads or that is a graph output; value_info for the rest. The model keeps
// the optimized marker, so workers run it without re-optimizing: the same
// kernels as the whole model, in the same order. Routing follows
// pipeline_plan.h: no pass-through.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/data_type.h"
#include "worker/engine/engine.h"
#include "coordinator/planner/pipeline_plan.h"
#include "onnx/onnx_pb.h"

namespace tessera::planner {

struct StagePartition {
  onnx::ModelProto model;
  std::vector<TensorRoute> inputs;   // bytes left 0; the planner fills them
  std::vector<TensorRoute> outputs;
};

struct BuiltPartitions {
  std::vector<StagePartition> stages;
  std::vector<TensorRoute> outputs;  // graph outputs and their sources
};

// `bounds` as in Partition (bounds.front() == 0, bounds.back() == node
// count, strictly increasing). `traced` (a traced run's tensors by name)
// supplies the element type and rank of crossing tensors the model's
// value_info does not fully describe (shape inference gives up on e.g. a
// Slice with computed starts); their dimensions are written as unknown. A
// crossing tensor whose type or rank is known from neither is an Internal
// error (the ONNX checker requires both on graph inputs and outputs).
absl::StatusOr<BuiltPartitions> BuildPartitions(const onnx::ModelProto& optimized, const std::vector<int>& bounds,
                                                const absl::flat_hash_map<std::string, engine::TensorInfo>& traced = {});

}  // namespace tessera::planner
