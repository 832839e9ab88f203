// Building KServe v2 ModelInferRequest inputs from Tessera tensors, as a
// client sends them: either raw little-endian bytes in raw_input_contents or
// the typed `contents` field of the tensor's datatype (Triton's mapping:
// BOOL bool_contents; UINT8 uint_contents; INT8, INT32 int_contents; INT64
// int64_contents; FP32 fp32_contents; FP64 fp64_contents). A request must use
// one form for all of its inputs. The counterpart on the server side is
// coordinator/frontend/kserve_tensors.h (DecodeInferInputs).
//
// Pure functions; thread-compatible.
#pragma once

#include "absl/strings/string_view.h"
#include "common/tensor.h"
#include "proto/inference.pb.h"

namespace tessera::client {

enum class InferContents {
  kRaw,    // raw_input_contents
  kTyped,  // InferInputTensor.contents
};

// Appends input `name` holding `tensor` (a defined Tessera tensor) to
// `request`.
void AddInferInput(absl::string_view name, const Tensor& tensor, InferContents contents,
                   inference::ModelInferRequest* request);

}  // namespace tessera::client
