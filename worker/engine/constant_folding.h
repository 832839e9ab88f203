// Constant folding: every node whose inputs are all known at load time
// (initializers, earlier folded values) is run once and replaced by its
// outputs; Shape and Size of tensors whose shape is fully known statically
// fold too. Non-deterministic operators are never folded, nor are results
// larger than kMaxFoldedBytes (they would only bloat memory).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "worker/engine/graph.h"

namespace tessera::engine {

inline constexpr int64_t kMaxFoldedBytes = int64_t{64} << 20;

// A node whose folding fails (e.g. a Reshape of a constant to an
// incompatible shape) is an error in the model: the status names the node.
absl::Status FoldConstants(Graph& graph, int threads);

// Drops constants no node, graph output or overridable input refers to.
void PruneUnusedConstants(Graph& graph);

}  // namespace tessera::engine
