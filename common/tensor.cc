#include "common/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) { return absl::StrCat("[", absl::StrJoin(shape, ","), "]"); }

absl::Status ValidateShape(const Shape& shape, DataType type, int64_t max_bytes) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat("negative dimension in shape ", ShapeToString(shape)));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeToString(shape), " overflows int64"));
    }
    n *= d;
  }
  const int64_t elem = static_cast<int64_t>(DataTypeSize(type));
  if (elem != 0 && n > max_bytes / elem) {
    return absl::ResourceExhaustedError(absl::StrCat("tensor of shape ", ShapeToString(shape), " and type ",
                                                     DataTypeName(type), " exceeds the limit of ", max_bytes,
                                                     " bytes"));
  }
  return absl::OkStatus();
}

Tensor Tensor::Allocate(DataType type, Shape shape) {
  Tensor t;
  t.dtype_ = type;
  t.shape_ = std::move(shape);
  size_t bytes = t.byte_size();
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr) throw std::bad_alloc();
  t.buffer_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  t.data_ = p;
  return t;
}

Tensor Tensor::Zeros(DataType type, Shape shape) {
  Tensor t = Allocate(type, std::move(shape));
  std::memset(t.data_, 0, t.byte_size());
  return t;
}

Tensor Tensor::Wrap(DataType type, Shape shape, std::shared_ptr<void> owner, void* data) {
  Tensor t;
  t.dtype_ = type;
  t.shape_ = std::move(shape);
  t.buffer_ = std::move(owner);
  t.data_ = data;
  return t;
}

Tensor Tensor::FromBytes(DataType type, Shape shape, std::string bytes) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  Tensor t;
  t.dtype_ = type;
  t.shape_ = std::move(shape);
  t.data_ = owner->data();
  t.buffer_ = std::move(owner);
  t.from_bytes_ = true;
  return t;
}

std::string Tensor::ReleaseBytes() && {
  std::string bytes;
  if (from_bytes_ && buffer_.use_count() == 1) {
    auto* owner = static_cast<std::string*>(buffer_.get());
    if (owner->data() == data_ && owner->size() == byte_size()) bytes = std::move(*owner);
  }
  if (bytes.size() != byte_size()) bytes.assign(static_cast<const char*>(data_), byte_size());
  *this = Tensor();
  return bytes;
}

Tensor Tensor::Reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::Clone() const {
  Tensor t = Allocate(dtype_, shape_);
  if (byte_size() > 0) std::memcpy(t.data_, data_, byte_size());
  return t;
}

double Tensor::GetAsDouble(int64_t i) const {
  switch (dtype_) {
    case DataType::kFloat32: return data<float>()[i];
    case DataType::kFloat64: return data<double>()[i];
    case DataType::kUint8: return data<uint8_t>()[i];
    case DataType::kInt8: return data<int8_t>()[i];
    case DataType::kInt32: return data<int32_t>()[i];
    case DataType::kInt64: return static_cast<double>(data<int64_t>()[i]);
    case DataType::kBool: return data<bool>()[i] ? 1.0 : 0.0;
    case DataType::kUndefined: return 0;
  }
  return 0;
}

int64_t Tensor::GetAsInt64(int64_t i) const {
  switch (dtype_) {
    case DataType::kInt64: return data<int64_t>()[i];
    case DataType::kInt32: return data<int32_t>()[i];
    case DataType::kFloat32: return static_cast<int64_t>(data<float>()[i]);
    case DataType::kFloat64: return static_cast<int64_t>(data<double>()[i]);
    case DataType::kUint8: return data<uint8_t>()[i];
    case DataType::kInt8: return data<int8_t>()[i];
    case DataType::kBool: return data<bool>()[i] ? 1 : 0;
    case DataType::kUndefined: return 0;
  }
  return 0;
}

absl::StatusOr<std::vector<int64_t>> Tensor::ToInt64Vector() const {
  if (dtype_ != DataType::kInt64 && dtype_ != DataType::kInt32) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an int64 or int32 tensor, got ", DataTypeName(dtype_)));
  }
  std::vector<int64_t> out(num_elements());
  for (int64_t i = 0; i < num_elements(); ++i) out[i] = GetAsInt64(i);
  return out;
}

std::string Tensor::DebugString() const { return absl::StrCat(DataTypeName(dtype_), ShapeToString(shape_)); }

}  // namespace tessera
