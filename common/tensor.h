// Tensor: a dense, C-ordered (row-major) n-dimensional array.
//
// A Tensor is a cheap handle: copying it shares the underlying buffer
// (reference counted), so views such as Reshaped() cost no data copy. The
// buffer is 64-byte aligned when Tessera allocates it. A Tensor is not
// synchronized: concurrent reads are fine, a writer needs exclusive access.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/data_type.h"

namespace tessera {

using Shape = std::vector<int64_t>;

// Number of elements of `shape` (1 for a scalar, i.e. an empty shape).
int64_t NumElements(const Shape& shape);

// "[1,3,224,224]"
std::string ShapeToString(const Shape& shape);

// Checks every dimension is >= 0 and the element count times the element
// size fits in int64 and below `max_bytes`.
absl::Status ValidateShape(const Shape& shape, DataType type,
                           int64_t max_bytes = int64_t{1} << 40);

class Tensor {
 public:
  Tensor() = default;

  // Allocates an uninitialized tensor (64-byte aligned). Aborts only when the
  // process is out of memory; callers validate sizes first (ValidateShape).
  static Tensor Allocate(DataType type, Shape shape);
  // Allocates a zero-filled tensor.
  static Tensor Zeros(DataType type, Shape shape);
  // A tensor over memory owned elsewhere; `owner` keeps it alive.
  static Tensor Wrap(DataType type, Shape shape, std::shared_ptr<void> owner, void* data);
  // A tensor that takes over `bytes` (moved in, not copied), e.g. a
  // protobuf bytes field. `bytes` must hold exactly the shape's byte size
  // (callers check; see ValidateShape). Its data is only as aligned as the
  // string's heap block (16 bytes for large strings), which every kernel
  // accepts.
  static Tensor FromBytes(DataType type, Shape shape, std::string bytes);

  // The tensor's bytes as a string, for a protobuf bytes field. Moves them
  // out without copying when this handle is the only one on a buffer made
  // by FromBytes and covers all of it; copies otherwise. Leaves this tensor
  // undefined.
  std::string ReleaseBytes() &&;

  // Convenience constructors, mostly for tests.
  template <typename T>
  static Tensor FromVector(Shape shape, const std::vector<T>& values);
  template <typename T>
  static Tensor Scalar(T value) { return FromVector<T>({}, {value}); }

  bool defined() const { return dtype_ != DataType::kUndefined; }
  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t num_elements() const { return NumElements(shape_); }
  size_t byte_size() const { return static_cast<size_t>(num_elements()) * DataTypeSize(dtype_); }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T>
  T* data() { return static_cast<T*>(data_); }
  template <typename T>
  const T* data() const { return static_cast<const T*>(data_); }
  template <typename T>
  absl::Span<const T> values() const { return absl::Span<const T>(data<T>(), static_cast<size_t>(num_elements())); }

  // The same bytes under a new shape with equal element count (no copy).
  Tensor Reshaped(Shape shape) const;
  // A deep copy into freshly allocated memory.
  Tensor Clone() const;
  // The buffer's owner (shared by views); used to detect aliasing.
  const std::shared_ptr<void>& buffer() const { return buffer_; }

  // Reads element i (any dtype) as double / int64; for shape inputs and tests.
  double GetAsDouble(int64_t i) const;
  int64_t GetAsInt64(int64_t i) const;
  // All elements as int64 (for shape-like inputs: int32 or int64 tensors).
  absl::StatusOr<std::vector<int64_t>> ToInt64Vector() const;

  std::string DebugString() const;  // dtype and shape, never the contents

 private:
  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  std::shared_ptr<void> buffer_;  // a std::string when from_bytes_
  void* data_ = nullptr;
  bool from_bytes_ = false;
};

template <typename T>
Tensor Tensor::FromVector(Shape shape, const std::vector<T>& values) {
  Tensor t = Allocate(DataTypeOf<T>::value, std::move(shape));
  T* out = t.data<T>();
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.num_elements(); ++i) out[i] = values[i];
  return t;
}

}  // namespace tessera
