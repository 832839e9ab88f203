// Fusions for the decomposed transformer blocks that exporters emit below
// opset 17:
//
//   ReduceMean -> Sub -> Pow(2) -> ReduceMean -> Add(eps) -> Sqrt -> Div
//     [-> Mul(gamma) -> Add(beta)]          => LayerNormalization(axis=-1)
//   Div(sqrt 2) | Mul(1/sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5)
//                                           => ai.tessera.Gelu
//
// Each intermediate must be read only inside the pattern and must not be a
// graph output; the fused node takes the place of the pattern's last node.
#pragma once

#include "worker/engine/graph.h"

namespace tessera::engine {

int FuseLayerNormalization(Graph& graph);
int FuseGelu(Graph& graph);

}  // namespace tessera::engine
