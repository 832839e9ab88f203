// Layout optimization: keeps activations in the convolution library's
// preferred layout through runs of 2-D convolutions and the element-wise
// operators between them, so it does not convert NCHW <-> that layout
// around every convolution. Two layouts:
//
//  - NHWC (channels-last) for networks made mostly of grouped (depthwise)
//    and 1x1 convolutions (MobileNet): tensors are [N, H, W, C]; GlobalAveragePool
//    of a region value becomes ReduceMean over H, W plus a tiny Transpose.
//  - NCHW8c (oneDNN's blocked nChw8c) for the others (ResNet), when the
//    ai.tessera.ReorderLayout kernel exists: tensors are [N, C/8, H, W, 8];
//    only convolutions whose channel counts are multiples of 8 join.
//
// Every tensor in a region is renamed (`name` + "__layout") and holds its data
// in the region's layout. Region convolutions become ai.tessera.FusedConv
// with the `layout` attribute. Where a region value is read outside the
// region, or is a graph output, a conversion back to the original NCHW name
// is inserted; where a region convolution reads an NCHW tensor, a conversion
// into the layout is inserted before it.
#pragma once

#include "worker/engine/graph.h"

namespace tessera::engine {

// Rewrites `graph` when it has at least `min_convs` eligible convolutions;
// returns the number of convolutions switched to NHWC.
int OptimizeConvLayout(Graph& graph, int min_convs = 2);

}  // namespace tessera::engine
