// Turns untrusted model bytes into a validated, topologically sorted,
// shape-inferred onnx::ModelProto, or a Status naming what is wrong.
//
// Checks, in order: the bytes parse; the ai.onnx opset is within
// [kMinOpset, kMaxOpset] and other domains are ones Tessera implements;
// every node's operator has a kernel; every node input is a graph input, an
// initializer or another node's output; the graph has no cycle (nodes are
// then re-ordered topologically); every element type is supported; every
// stored tensor (initializer, Constant value) has dims >= 0 whose byte size
// fits int64, no external data, and exactly the data its dims declare, and
// declared graph input, output and value dims are >= 0 without overflow
// (so a small file declaring 2^40 elements is refused before anything is
// allocated for it); the ONNX
// checker passes; shape inference runs (best effort: unknown shapes stay
// unknown, contradictions are errors).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "onnx/onnx_pb.h"

namespace tessera::engine {

inline constexpr int kMinOpset = 7;
inline constexpr int kMaxOpset = 17;

// Upper bound on model bytes accepted (protobuf's own hard limit is 2 GiB).
inline constexpr int64_t kMaxModelBytes = int64_t{2} * 1024 * 1024 * 1024 - 1;

absl::StatusOr<onnx::ModelProto> ParseAndValidateModel(absl::string_view bytes);

// The opset version the model imports for `domain` ("" = ai.onnx); 0 if none.
int OpsetFor(const onnx::ModelProto& model, absl::string_view domain);

}  // namespace tessera::engine
