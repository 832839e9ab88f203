// Layout optimization: keeps activations channels-last (NHWC) through runs
// of 2-D convolutions and the element-wise operators between them, so the
// convolution library does not convert NCHW <-> its preferred layout around
// every convolution.
//
// Every tensor in such a region is renamed (`name` + "__nhwc") and holds its
// data physically as [N, H, W, C]. Convolutions in the region become
// ai.tessera.FusedConv with layout "NHWC". Where a region value is read by an
// operator outside the region, or is a graph output, a Transpose back to the
// original NCHW name is inserted; where a region convolution reads an NCHW
// tensor, a Transpose to NHWC is inserted before it. GlobalAveragePool of a
// region value becomes a ReduceMean over H and W plus a (tiny) Transpose.
#pragma once

#include "worker/engine/graph.h"

namespace tessera::engine {

// Rewrites `graph` when it has at least `min_convs` eligible convolutions
// making up at least half of its convolutions;
// returns the number of convolutions switched to NHWC.
int OptimizeConvLayout(Graph& graph, int min_convs = 2);

}  // namespace tessera::engine
