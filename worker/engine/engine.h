// Engine: one loaded ONNX model, ready to run many times.
//
// Load validates the model (ONNX checker, shape inference, supported opsets,
// operators and element types, acyclicity) and optimizes it once (constant
// folding, fusions: OptimizeGraph in model_optimizer.h). A model exported by
// OptimizeModel (it carries the kOptimizedModelKey marker) is not optimized
// again, whatever EngineOptions::optimize says. Run executes it; the execution plan (order, buffer
// offsets in an arena, per-shape constant values) is built on the first run
// of each input-shape signature and cached.
//
// Thread safety: Run is const and may be called from many threads at once on
// one Engine.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/tensor.h"

namespace tessera::engine {

struct EngineOptions {
  // Threads each Run may use inside one operator; 0 = all cores.
  int intra_op_threads = 0;
  // Constant folding and operator fusion.
  bool optimize = true;
  // Time every node (a small cost per node); see Engine::Profile().
  bool profile = false;
};

// Accumulated time per operator type (ai.tessera ops as "ai.tessera.X").
struct OpProfile {
  std::string op_type;
  int64_t calls = 0;
  double total_ms = 0;
};

// A graph input or output: name, element type and shape, where -1 marks a
// dimension only known at run time (batch, sequence).
struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> shape;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// One node's execution in Engine::Trace: concrete input and output types and
// shapes (an absent optional input or unrequested output has an empty name)
// and the time its kernel took.
struct NodeTrace {
  std::string name;     // the node's name in the model (may be empty)
  std::string op_type;  // "Conv", "ai.tessera.FusedConv"
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  double ms = 0;  // fastest of the traced runs
};

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> LoadFromFile(const std::string& path,
                                                             const EngineOptions& options = {});
  static absl::StatusOr<std::unique_ptr<Engine>> LoadFromBytes(absl::string_view bytes,
                                                              const EngineOptions& options = {});
  virtual ~Engine() = default;

  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;

  // Runs the model. `inputs` names every graph input exactly once; the result
  // holds the graph outputs in outputs() order. Wrong names, types or shapes
  // are InvalidArgument naming the input.
  virtual absl::StatusOr<std::vector<Tensor>> Run(absl::Span<const NamedTensor> inputs) const = 0;

  // With EngineOptions::profile: time per operator type over all runs so
  // far, slowest first. Empty otherwise.
  virtual std::vector<OpProfile> Profile() const = 0;

  // Runs the model `repeats` times (>= 1) on `inputs` without the cached
  // execution plan (every node runs, outputs on the heap) and returns one
  // entry per node in execution order: the order of the optimized graph's
  // nodes (for a model exported by OptimizeModel, its node order). Meant for
  // cost measurement (the stage planner), not for serving. The default
  // implementation returns Unimplemented.
  virtual absl::StatusOr<std::vector<NodeTrace>> Trace(absl::Span<const NamedTensor> inputs, int repeats = 1) const;
};

}  // namespace tessera::engine
