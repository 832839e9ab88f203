// Element types of tensors. Values equal onnx::TensorProto_DataType so that
// conversion from ONNX is a cast checked by IsSupported().
#pragma once

#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace tessera {

enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUint8 = 2,
  kInt8 = 3,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat64 = 11,
};

// True for the element types Tessera computes with.
bool IsSupportedDataType(int32_t onnx_type);

// Converts an onnx::TensorProto_DataType value; names the type when refused.
absl::StatusOr<DataType> DataTypeFromOnnx(int32_t onnx_type);

// Name of an ONNX element type (including the ones Tessera refuses), e.g.
// "FLOAT16"; used in error messages.
absl::string_view OnnxTypeName(int32_t onnx_type);

// Bytes per element; 0 for kUndefined.
size_t DataTypeSize(DataType type);

// Lower-case NumPy-style name: "float32", "int64", "bool", ...
absl::string_view DataTypeName(DataType type);

// Maps a C++ element type to its DataType.
template <typename T>
struct DataTypeOf;
template <> struct DataTypeOf<float> { static constexpr DataType value = DataType::kFloat32; };
template <> struct DataTypeOf<double> { static constexpr DataType value = DataType::kFloat64; };
template <> struct DataTypeOf<uint8_t> { static constexpr DataType value = DataType::kUint8; };
template <> struct DataTypeOf<int8_t> { static constexpr DataType value = DataType::kInt8; };
template <> struct DataTypeOf<int32_t> { static constexpr DataType value = DataType::kInt32; };
template <> struct DataTypeOf<int64_t> { static constexpr DataType value = DataType::kInt64; };
template <> struct DataTypeOf<bool> { static constexpr DataType value = DataType::kBool; };

// Calls fn(T{}) with T the C++ type of `type`. Returns the callback's status,
// or InvalidArgument when `type` is not one of the listed types.
// Usage: DispatchType<float, int64_t>(t.dtype(), [&](auto tag) { using T = decltype(tag); ... });
template <typename... Ts, typename Fn>
absl::Status DispatchType(DataType type, Fn&& fn);

namespace internal {
template <typename Fn>
absl::Status DispatchTypeImpl(DataType type, Fn&&) {
  return absl::InvalidArgumentError(
      std::string("element type ") + std::string(DataTypeName(type)) + " is not supported here");
}
template <typename T, typename... Rest, typename Fn>
absl::Status DispatchTypeImpl(DataType type, Fn&& fn) {
  if (type == DataTypeOf<T>::value) return fn(T{});
  return DispatchTypeImpl<Rest...>(type, std::forward<Fn>(fn));
}
}  // namespace internal

template <typename... Ts, typename Fn>
absl::Status DispatchType(DataType type, Fn&& fn) {
  return internal::DispatchTypeImpl<Ts...>(type, std::forward<Fn>(fn));
}

}  // namespace tessera
