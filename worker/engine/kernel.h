// The operator kernel interface.
//
// A kernel is created once per graph node when a model is loaded (through a
// KernelFactory registered in the KernelRegistry) and then runs many times.
// Compute() is const and is called concurrently from many threads, one call
// per running inference; a kernel that caches state (a oneDNN primitive per
// input shape, packed weights) must guard that cache itself.
//
// Kernels validate their inputs (ranks, dtypes, attribute values) and return
// InvalidArgument / Unimplemented with a message naming the problem; they
// never crash on bad input.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tensor.h"
#include "onnx/onnx_pb.h"
#include "worker/engine/node_attributes.h"

namespace tessera::engine {

// What a KernelFactory sees when a model is loaded.
struct KernelInit {
  const onnx::NodeProto& node;
  const NodeAttributes& attrs;
  // Opset version in force for the node's domain (e.g. 13 for ai.onnx).
  int opset = 0;
  // One entry per node input: the value when it is known at load time (an
  // initializer or a folded constant), nullptr otherwise. Kernels may keep
  // copies (e.g. pre-packed weights) but must still read the runtime input
  // in Compute, which carries the same value.
  std::vector<const Tensor*> constant_inputs;
  // Per input: false when an optional input was omitted (empty name).
  std::vector<bool> input_present;
  // Static shape of each input when shape inference knows it fully
  // (std::nullopt-like: empty optional when unknown).
  std::vector<std::optional<Shape>> input_shapes;
};

// Per-call view of a node's inputs and outputs.
class KernelContext {
 public:
  virtual ~KernelContext() = default;

  virtual int num_inputs() const = 0;
  // nullptr when the optional input i is absent or i >= num_inputs().
  virtual const Tensor* input(int i) const = 0;
  virtual int num_outputs() const = 0;
  // False when output i's name is empty (the caller does not want it).
  virtual bool output_requested(int i) const = 0;

  // Returns storage for output i with the given type and shape. The memory is
  // uninitialized and may come from the run's arena.
  virtual Tensor* AllocateOutput(int i, DataType type, const Shape& shape) = 0;
  // Sets output i to an existing tensor. Only kernels registered with
  // `output_aliases_input` may hand back (views of) their inputs this way;
  // any kernel may set a freshly allocated tensor.
  virtual void SetOutput(int i, Tensor tensor) = 0;

  // Intra-op parallelism available to this call (>= 1).
  virtual int num_threads() const = 0;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual absl::Status Compute(KernelContext& ctx) const = 0;
};

using KernelFactory = std::function<absl::StatusOr<std::unique_ptr<OpKernel>>(const KernelInit&)>;

// A kernel whose Compute is a plain function, for stateless operators.
class FunctionKernel : public OpKernel {
 public:
  using Fn = std::function<absl::Status(KernelContext&)>;
  explicit FunctionKernel(Fn fn) : fn_(std::move(fn)) {}
  absl::Status Compute(KernelContext& ctx) const override { return fn_(ctx); }

 private:
  Fn fn_;
};

}  // namespace tessera::engine
