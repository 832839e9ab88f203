// Shape analysis for NumPy-style matrix products (ONNX MatMul).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"

namespace tessera::engine {

struct MatMulShape {
  Shape output;                 // final output shape (1-D operands' axes removed)
  Shape batch;                  // broadcast batch dims
  Shape a_batch, b_batch;       // operands' batch dims, left-padded with 1 to batch's rank
  int64_t m = 0, n = 0, k = 0;  // per-batch product [m, k] x [k, n]
  int64_t batch_count = 1;      // NumElements(batch)
  // B has a single batch (e.g. a 2-D weight): A can be viewed as one
  // [batch_count * m, k] matrix.
  bool b_shared = false;

  // Element offsets of batch i's matrices in A and B (row-major, contiguous).
  void BatchOffsets(int64_t i, int64_t& a_offset, int64_t& b_offset) const;
};

absl::StatusOr<MatMulShape> ResolveMatMulShape(const Shape& a, const Shape& b, absl::string_view op);

}  // namespace tessera::engine
