#include "common/data_type.h"

#include <string>

namespace tessera {

bool IsSupportedDataType(int32_t onnx_type) {
  switch (static_cast<DataType>(onnx_type)) {
    case DataType::kFloat32:
    case DataType::kUint8:
    case DataType::kInt8:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kBool:
    case DataType::kFloat64:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<DataType> DataTypeFromOnnx(int32_t onnx_type) {
  if (!IsSupportedDataType(onnx_type)) {
    return absl::UnimplementedError("unsupported element type " +
                                    std::string(OnnxTypeName(onnx_type)));
  }
  return static_cast<DataType>(onnx_type);
}

absl::string_view OnnxTypeName(int32_t onnx_type) {
  switch (onnx_type) {
    case 0: return "UNDEFINED";
    case 1: return "FLOAT";
    case 2: return "UINT8";
    case 3: return "INT8";
    case 4: return "UINT16";
    case 5: return "INT16";
    case 6: return "INT32";
    case 7: return "INT64";
    case 8: return "STRING";
    case 9: return "BOOL";
    case 10: return "FLOAT16";
    case 11: return "DOUBLE";
    case 12: return "UINT32";
    case 13: return "UINT64";
    case 14: return "COMPLEX64";
    case 15: return "COMPLEX128";
    case 16: return "BFLOAT16";
    default: return "UNKNOWN";
  }
}

size_t DataTypeSize(DataType type) {
  switch (type) {
    case DataType::kFloat32: return 4;
    case DataType::kUint8: return 1;
    case DataType::kInt8: return 1;
    case DataType::kInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kBool: return 1;
    case DataType::kFloat64: return 8;
    case DataType::kUndefined: return 0;
  }
  return 0;
}

absl::string_view DataTypeName(DataType type) {
  switch (type) {
    case DataType::kFloat32: return "float32";
    case DataType::kUint8: return "uint8";
    case DataType::kInt8: return "int8";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kBool: return "bool";
    case DataType::kFloat64: return "float64";
    case DataType::kUndefined: return "undefined";
  }
  return "undefined";
}

}  // namespace tessera
