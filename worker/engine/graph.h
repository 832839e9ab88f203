// Graph: the engine's mutable view of a validated model while it is being
// optimized (constant folding, fusion), before kernels are created.
//
// Nodes stay onnx::NodeProto (so passes can rewrite op types and attributes)
// in topological order; initializers and folded values are decoded Tensors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "onnx/onnx_pb.h"

namespace tessera::engine {

// What shape inference (or folding) knows about a tensor.
struct ValueType {
  int32_t elem_type = 0;          // onnx::TensorProto_DataType, 0 = unknown
  std::optional<std::vector<int64_t>> dims;  // rank known; -1 = unknown dim
  // Per dim when dims is set: the symbolic name of an unknown dim ("N"), or "".
  std::vector<std::string> dim_params;
  // The full shape, when every dimension is known.
  std::optional<Shape> StaticShape() const;
  // True when both shapes are known to be equal: same rank, and each dim
  // equal or the same symbolic name.
  bool SameShapeAs(const ValueType& other) const;
};

class Graph {
 public:
  // Builds from a model that passed ParseAndValidateModel.
  static absl::StatusOr<Graph> FromModel(const onnx::ModelProto& model);

  std::vector<onnx::NodeProto> nodes;  // topological order
  absl::flat_hash_map<std::string, Tensor> constants;
  absl::flat_hash_map<std::string, ValueType> types;
  // Graph inputs the caller must feed (inputs without an initializer).
  std::vector<std::string> inputs;
  // Graph inputs backed by an initializer: the caller may override them.
  std::vector<std::string> optional_inputs;
  std::vector<std::string> outputs;
  absl::flat_hash_map<std::string, int> opsets;  // domain ("" = ai.onnx) -> version

  int OpsetOf(const onnx::NodeProto& node) const;
  bool IsConstant(const std::string& name) const { return constants.contains(name); }
  bool IsGraphOutput(const std::string& name) const;
  // Number of node inputs (across all nodes) that read `name`.
  absl::flat_hash_map<std::string, int> ConsumerCounts() const;
  // Returns a name not used by any tensor yet, based on `base`.
  std::string UniqueName(const std::string& base);
  // Input i of `node` when it is a constant; nullptr otherwise.
  const Tensor* ConstantInput(const onnx::NodeProto& node, int i) const;
  // Removes the nodes whose flag is set, keeping the order of the rest.
  void EraseNodes(const std::vector<bool>& erased);

 private:
  int unique_counter_ = 0;
};

// Which nodes read each tensor, for pattern matching. A snapshot: rebuild it
// after the graph's node list changes.
class ConsumerIndex {
 public:
  explicit ConsumerIndex(const Graph& graph);
  // The index of the only node reading `name` (read once), or -1; also -1
  // when `name` is a graph output.
  int Sole(const std::string& name) const;
  // Number of reads of `name` across all nodes.
  int Uses(const std::string& name) const;

 private:
  const Graph& graph_;
  absl::flat_hash_map<std::string, std::vector<int>> readers_;
  absl::flat_hash_map<std::string, int> uses_;
};

}  // namespace tessera::engine
