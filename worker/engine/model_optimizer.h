// The engine's load-time optimization pipeline, and an export of its result
// as a standalone ONNX model.
//
// OptimizeGraph is the one list of passes Engine loading runs (constant
// folding, operator and transformer fusions, convolution layout, pruning of
// unused constants). OptimizeModel runs it on a model and writes the
// optimized Graph back as an onnx::ModelProto: the same nodes (ai.tessera
// ones included, with an opset import for that domain), folded values as
// initializers, every known tensor type as value_info, and the metadata
// marker kOptimizedModelKey. The engine loads a model carrying the marker
// without optimizing it again, so running the export executes exactly the
// kernels, in exactly the order, that loading the original would: results
// are bit-identical when both use the same intra-op thread count.
//
// The coordinator's stage planner partitions this export, so a cut never
// separates a convolution from its folded BatchNorm or activation.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "onnx/onnx_pb.h"
#include "worker/engine/graph.h"

namespace tessera::engine {

// metadata_props key marking a model whose graph OptimizeModel produced;
// its value is "1".
inline constexpr absl::string_view kOptimizedModelKey = "tessera.optimized";

// True when `model` carries the kOptimizedModelKey marker.
bool IsOptimizedModel(const onnx::ModelProto& model);

// Runs the load-time passes on `graph` in place. `threads` is the thread
// count constant folding may use (the engine passes its intra-op threads).
absl::Status OptimizeGraph(Graph& graph, int threads);

// Writes `graph` as a model. `header` supplies ir_version, producer, opset
// imports and metadata (its graph is not read); an ai.tessera opset import is
// added when a node uses that domain.
onnx::ModelProto ExportGraph(const Graph& graph, const onnx::ModelProto& header);

struct OptimizeModelOptions {
  // Threads for constant folding; 0 = all cores (the engine's default).
  int threads = 0;
};

// Validates `bytes` (as Engine loading does), optimizes and exports with the
// marker set. A model that already carries the marker is returned as
// validated, not optimized twice.
absl::StatusOr<onnx::ModelProto> OptimizeModelBytes(absl::string_view bytes,
                                                    const OptimizeModelOptions& options = {});
absl::StatusOr<onnx::ModelProto> OptimizeModel(const onnx::ModelProto& model,
                                               const OptimizeModelOptions& options = {});

}  // namespace tessera::engine
