// Engine: one loaded ONNX model, ready to run many times.
//
// Load validates the model (ONNX checker, shape inference, supported opsets,
// operators and element types, acyclicity) and optimizes it once (constant
// folding, fusions). Run executes it; the execution plan (order, buffer
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
};

}  // namespace tessera::engine
