// Node costs for the stage planner: floating-point operations and tensor
// bytes from concrete shapes, and measured kernel times when available.
//
// Shapes come from one traced engine run (engine::Engine::Trace) of the
// optimized model on sample inputs, so custom ai.tessera operators and
// dynamic dimensions need no symbolic shape inference.
//
// FLOPs: Conv / ConvTranspose / ai.tessera.FusedConv 2*N*M*spatial_out*(C/group)*kernel
// (plus the fused bias/residual/activation as output elements); MatMul /
// ai.tessera.FusedMatMul / Gemm / Einsum 2*M*N*K over the broadcast batch;
// everything else one operation per output element.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "onnx/onnx_pb.h"
#include "worker/engine/engine.h"

namespace tessera::planner {

struct CostModelOptions {
  // Converts estimated FLOPs to milliseconds: sustained FLOP/s of one worker.
  double flops_per_second = 20e9;
  // Memory traffic (bytes read and written per node) at this rate is added
  // to the estimate, so that cheap-but-large nodes are not free.
  double memory_bytes_per_second = 10e9;
  // Use the traced kernel times (the planner's "measured" cost) instead of
  // the estimate wherever a node has one.
  bool prefer_measured = true;
};

struct NodeCost {
  std::string name;     // node name (may be empty)
  std::string op_type;  // "Conv", "ai.tessera.FusedConv"
  double flops = 0;
  int64_t input_bytes = 0;   // all inputs, constants included
  int64_t output_bytes = 0;
  double estimated_ms = 0;
  std::optional<double> measured_ms;
  // What the partitioner balances: measured_ms when present and preferred,
  // estimated_ms otherwise.
  double cost_ms = 0;
};

// FLOPs of one node given its traced shapes.
double NodeFlops(const onnx::NodeProto& node, const engine::NodeTrace& trace);

// One entry per node of `model` (an OptimizeModel export), in node order.
// `trace` must be the engine's trace of that model (same length and order);
// `measured` says whether trace times count as measurements.
absl::StatusOr<std::vector<NodeCost>> EstimateNodeCosts(const onnx::ModelProto& model,
                                                        absl::Span<const engine::NodeTrace> trace, bool measured,
                                                        const CostModelOptions& options = {});

// Bytes of a traced tensor (0 when its type is unknown).
int64_t TensorBytes(const engine::TensorInfo& info);

}  // namespace tessera::planner
