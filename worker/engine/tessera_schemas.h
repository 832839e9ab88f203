// ONNX operator schemas for Tessera's own operator domains, so the ONNX
// checker validates their attributes and shape inference sees through them.
//
//   ai.tessera.sim (opset 1)
//     Delay(X) -> Y: Y is X (same type, same shape, same buffer) after
//     sleeping microseconds_per_sample * X.shape[0] + microseconds
//     (int attributes, default 0, >= 0; a rank-0 X counts as one sample).
//     It lets few cores simulate many hosts: a sleeping worker costs no CPU.
//
// RegisterTesseraSchemas() must run before any onnx::checker or
// onnx::shape_inference call on a model that may use these domains; the
// engine's model validator (ParseAndValidateModel, which the coordinator's
// planner and repository also go through) calls it. It is idempotent and
// thread-safe (absl::call_once).
#pragma once

#include "absl/strings/string_view.h"

namespace tessera::engine {

// The simulation domain and its single opset version.
inline constexpr absl::string_view kTesseraSimDomain = "ai.tessera.sim";
inline constexpr int kTesseraSimOpset = 1;

void RegisterTesseraSchemas();

}  // namespace tessera::engine
