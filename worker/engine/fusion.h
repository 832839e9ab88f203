// Operator fusion passes over a constant-folded Graph. Each rewrites only
// when the producer's output feeds exactly one consumer and is not a graph
// output, and only when the fused kernel is registered.
//
//   Conv -> BatchNormalization          => Conv with folded weights and bias
//   Conv -> Add(Z of the same shape)     => ai.tessera.FusedConv(X, W, B, Z)
//   Conv -> Relu|Clip|LeakyRelu|...     => ai.tessera.FusedConv(activation)
//   decomposed LayerNorm / GELU          => see transformer_fusion.h
//   MatMul -> Add(constant bias [N])    => ai.tessera.FusedMatMul(A, B, bias)
//   FusedMatMul -> Relu|...              => FusedMatMul(activation)
#pragma once

#include "absl/status/status.h"
#include "worker/engine/graph.h"

namespace tessera::engine {

// Runs all passes in order; returns the number of rewrites through `count`.
absl::Status FuseOperators(Graph& graph, int* count = nullptr);

int FuseConvBatchNorm(Graph& graph);
int FuseConvResidualAdd(Graph& graph);
int FuseConvActivation(Graph& graph);
int FuseMatMulBias(Graph& graph);
int FuseMatMulActivation(Graph& graph);

}  // namespace tessera::engine
