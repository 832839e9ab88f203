#include "common/kserve_datatype.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

// One element type in every vocabulary. `supported` mirrors
// IsSupportedDataType(onnx); `size` 0 means variable-length.
struct TypeInfo {
  absl::string_view kserve;
  inference::DataType triton;
  int32_t onnx;
  size_t size;
};

constexpr TypeInfo kTypes[] = {
    {"BOOL", inference::TYPE_BOOL, 9, 1},
    {"UINT8", inference::TYPE_UINT8, 2, 1},
    {"UINT16", inference::TYPE_UINT16, 4, 2},
    {"UINT32", inference::TYPE_UINT32, 12, 4},
    {"UINT64", inference::TYPE_UINT64, 13, 8},
    {"INT8", inference::TYPE_INT8, 3, 1},
    {"INT16", inference::TYPE_INT16, 5, 2},
    {"INT32", inference::TYPE_INT32, 6, 4},
    {"INT64", inference::TYPE_INT64, 7, 8},
    {"FP16", inference::TYPE_FP16, 10, 2},
    {"FP32", inference::TYPE_FP32, 1, 4},
    {"FP64", inference::TYPE_FP64, 11, 8},
    {"BYTES", inference::TYPE_STRING, 8, 0},
    {"BF16", inference::TYPE_BF16, 16, 2},
};

const TypeInfo* FindKServe(absl::string_view datatype) {
  for (const TypeInfo& info : kTypes) {
    if (info.kserve == datatype) return &info;
  }
  return nullptr;
}

const TypeInfo* FindTriton(inference::DataType type) {
  for (const TypeInfo& info : kTypes) {
    if (info.triton == type) return &info;
  }
  return nullptr;
}

const TypeInfo* FindOnnx(int32_t onnx_type) {
  for (const TypeInfo& info : kTypes) {
    if (info.onnx == onnx_type) return &info;
  }
  return nullptr;
}

absl::Status UnknownKServe(absl::string_view datatype) {
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown tensor datatype \"", datatype,
      "\" (KServe datatypes: BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, "
      "FP16, FP32, FP64, BF16, BYTES)"));
}

absl::StatusOr<DataType> ToDataType(const TypeInfo& info) {
  if (!IsSupportedDataType(info.onnx)) {
    return absl::UnimplementedError(absl::StrCat(
        "tensor datatype ", info.kserve,
        " is not supported by Tessera (supported: FP32, FP64, INT64, INT32, INT8, UINT8, BOOL)"));
  }
  return static_cast<DataType>(info.onnx);
}

}  // namespace

absl::string_view KServeDatatype(DataType type) {
  if (type == DataType::kUndefined) return "";
  const TypeInfo* info = FindOnnx(static_cast<int32_t>(type));
  return info == nullptr ? absl::string_view() : info->kserve;
}

absl::StatusOr<DataType> DataTypeFromKServe(absl::string_view datatype) {
  const TypeInfo* info = FindKServe(datatype);
  if (info == nullptr) return UnknownKServe(datatype);
  return ToDataType(*info);
}

bool IsKServeDatatype(absl::string_view datatype) { return FindKServe(datatype) != nullptr; }

absl::StatusOr<size_t> KServeElementSize(absl::string_view datatype) {
  const TypeInfo* info = FindKServe(datatype);
  if (info == nullptr) return UnknownKServe(datatype);
  return info->size;
}

absl::StatusOr<absl::string_view> KServeDatatypeFromOnnx(int32_t onnx_type) {
  const TypeInfo* info = FindOnnx(onnx_type);
  if (info == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX element type ", OnnxTypeName(onnx_type), " (",
                                                   onnx_type, ") has no KServe datatype"));
  }
  return info->kserve;
}

inference::DataType TritonDataType(DataType type) {
  if (type == DataType::kUndefined) return inference::TYPE_INVALID;
  const TypeInfo* info = FindOnnx(static_cast<int32_t>(type));
  return info == nullptr ? inference::TYPE_INVALID : info->triton;
}

absl::StatusOr<DataType> DataTypeFromTriton(inference::DataType type) {
  const TypeInfo* info = FindTriton(type);
  if (info == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid model config data_type ",
        inference::DataType_IsValid(type) ? inference::DataType_Name(type) : absl::StrCat(static_cast<int>(type))));
  }
  if (!IsSupportedDataType(info->onnx)) {
    return absl::UnimplementedError(absl::StrCat(
        "model config data_type ", inference::DataType_Name(type),
        " is not supported by Tessera (supported: TYPE_FP32, TYPE_FP64, TYPE_INT64, TYPE_INT32, "
        "TYPE_INT8, TYPE_UINT8, TYPE_BOOL)"));
  }
  return static_cast<DataType>(info->onnx);
}

absl::string_view KServeDatatypeFromTriton(inference::DataType type) {
  const TypeInfo* info = FindTriton(type);
  return info == nullptr ? absl::string_view() : info->kserve;
}

absl::StatusOr<inference::DataType> TritonDataTypeFromKServe(absl::string_view datatype) {
  const TypeInfo* info = FindKServe(datatype);
  if (info == nullptr) return UnknownKServe(datatype);
  return info->triton;
}

}  // namespace tessera
