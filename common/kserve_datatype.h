// Tensor element types as the KServe v2 protocol names them ("FP32",
// "INT64", ...) and as Triton's model_config.proto numbers them (TYPE_FP32,
// ...), converted to and from Tessera's DataType.
//
// Three vocabularies meet here:
//   DataType          Tessera's, values of onnx::TensorProto (data_type.h);
//                     only the types the engine executes.
//   KServe datatype   strings on the wire of inference.proto and of
//                     worker.proto's Tensor: BOOL, UINT8, UINT16, UINT32,
//                     UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64,
//                     BYTES, BF16. Upper case, matched exactly.
//   inference::DataType  Triton's config enum (TYPE_BOOL ... TYPE_BF16;
//                     TYPE_STRING is KServe's BYTES).
//
// Errors: a name outside the vocabulary is InvalidArgument; a valid KServe or
// Triton type that Tessera cannot execute (FP16, BF16, INT16, UINT16, UINT32,
// UINT64, BYTES) is Unimplemented. Both messages name the type.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/data_type.h"
#include "proto/model_config.pb.h"

namespace tessera {

// KServe datatype string of `type`, e.g. "FP32"; "" for kUndefined.
absl::string_view KServeDatatype(DataType type);

// Parses a KServe datatype string. InvalidArgument when `datatype` is not a
// KServe datatype; Unimplemented when it is one Tessera does not execute.
absl::StatusOr<DataType> DataTypeFromKServe(absl::string_view datatype);

// True when `datatype` is one of the 14 KServe datatype strings (whether or
// not Tessera executes it).
bool IsKServeDatatype(absl::string_view datatype);

// Bytes per element of any fixed-size KServe datatype (including the ones
// Tessera does not execute: FP16 is 2, UINT64 is 8, ...); 0 for BYTES, whose
// elements are variable-length. InvalidArgument when `datatype` is not a
// KServe datatype.
absl::StatusOr<size_t> KServeElementSize(absl::string_view datatype);

// KServe datatype string of an onnx::TensorProto element type, including the
// ones Tessera does not execute (FLOAT16 -> "FP16", STRING -> "BYTES"), for
// describing a model's tensors. InvalidArgument for ONNX types KServe cannot
// express (UNDEFINED, COMPLEX64, COMPLEX128, unknown values).
absl::StatusOr<absl::string_view> KServeDatatypeFromOnnx(int32_t onnx_type);

// Triton config enum of `type`; TYPE_INVALID for kUndefined.
inference::DataType TritonDataType(DataType type);

// Converts Triton's config enum. InvalidArgument for TYPE_INVALID and values
// outside the enum; Unimplemented for the types Tessera does not execute.
absl::StatusOr<DataType> DataTypeFromTriton(inference::DataType type);

// Triton config enum <-> KServe datatype string, for every type both know
// (TYPE_STRING <-> "BYTES"). The first returns "" for TYPE_INVALID and values
// outside the enum; the second is InvalidArgument for unknown strings.
absl::string_view KServeDatatypeFromTriton(inference::DataType type);
absl::StatusOr<inference::DataType> TritonDataTypeFromKServe(absl::string_view datatype);

}  // namespace tessera
