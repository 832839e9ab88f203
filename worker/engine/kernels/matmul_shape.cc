#include "worker/engine/kernels/matmul_shape.h"

#include "absl/strings/str_cat.h"
#include "worker/engine/kernels/broadcast.h"

namespace tessera::engine {

absl::StatusOr<MatMulShape> ResolveMatMulShape(const Shape& a_in, const Shape& b_in, absl::string_view op) {
  if (a_in.empty() || b_in.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": operands must have rank >= 1, got A ", ShapeToString(a_in),
                                                   " and B ", ShapeToString(b_in)));
  }
  Shape a = a_in, b = b_in;
  const bool a_vector = a.size() == 1, b_vector = b.size() == 1;
  if (a_vector) a.insert(a.begin(), 1);
  if (b_vector) b.push_back(1);
  MatMulShape s;
  s.m = a[a.size() - 2];
  s.k = a[a.size() - 1];
  s.n = b[b.size() - 1];
  if (b[b.size() - 2] != s.k) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": inner dimensions differ: A ", ShapeToString(a_in), " and B ",
                                                   ShapeToString(b_in)));
  }
  Shape a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  auto batch = BroadcastShapes({a_batch, b_batch});
  if (!batch.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": batch dimensions of A ", ShapeToString(a_in), " and B ",
                                                   ShapeToString(b_in), " do not broadcast"));
  }
  s.batch = *batch;
  s.a_batch = Shape(s.batch.size() - a_batch.size(), 1);
  s.a_batch.insert(s.a_batch.end(), a_batch.begin(), a_batch.end());
  s.b_batch = Shape(s.batch.size() - b_batch.size(), 1);
  s.b_batch.insert(s.b_batch.end(), b_batch.begin(), b_batch.end());
  s.batch_count = NumElements(s.batch);
  s.b_shared = NumElements(s.b_batch) == 1;
  s.output = s.batch;
  if (!a_vector) s.output.push_back(s.m);
  if (!b_vector) s.output.push_back(s.n);
  return s;
}

void MatMulShape::BatchOffsets(int64_t i, int64_t& a_offset, int64_t& b_offset) const {
  int64_t a_index = 0, b_index = 0, a_stride = 1, b_stride = 1;
  for (int d = static_cast<int>(batch.size()) - 1; d >= 0; --d) {
    const int64_t coord = i % batch[d];
    i /= batch[d];
    if (a_batch[d] != 1) a_index += coord * a_stride;
    if (b_batch[d] != 1) b_index += coord * b_stride;
    a_stride *= a_batch[d];
    b_stride *= b_batch[d];
  }
  a_offset = a_index * m * k;
  b_offset = b_index * k * n;
}

}  // namespace tessera::engine
