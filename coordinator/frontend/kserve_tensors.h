// KServe v2 inference messages <-> Tessera tensors.
//
// This is where bad client input is caught, before anything is scheduled.
// Every refusal is InvalidArgument naming the input (or output) and the
// problem, except a request over the byte limit (ResourceExhausted) and a KServe datatype Tessera cannot execute (FP16, BF16,
// INT16, UINT16, UINT32, UINT64, BYTES), which is Unimplemented. Unknown
// models are the caller's concern (ModelRepository::Get is NotFound).
//
// Inputs (DecodeInferInputs), checked against the model's signature:
//   - each input named once, known to the model; none missing;
//   - datatype a KServe datatype, executable, equal to the model's;
//   - shape: every dim >= 0, the model's rank, fixed dims equal, dynamic
//     (-1) dims any size; with max_batch_size > 0 the first dim is the
//     batch, 1..max_batch_size, and equal across all inputs;
//   - element count and byte size must not overflow (InvalidArgument) and
//     the request's total input bytes, computed from the declared shapes
//     and datatypes before anything is allocated or copied, must stay
//     within Options::max_request_bytes: beyond it ResourceExhausted
//     naming the input, its bytes and the limit (a well-formed request over
//     a limit the server sets, like gRPC's own message size limit);
//   - data either all in raw_input_contents (one buffer per input, in input
//     order, each exactly product(shape) * element size bytes; BOOL bytes 0
//     or 1) or all in typed contents (Triton's rule: no mixing). Typed data
//     uses the one field of its datatype -- BOOL bool_contents; UINT8
//     uint_contents; INT8, INT32 int_contents; INT64 int64_contents; FP32
//     fp32_contents; FP64 fp64_contents -- with exactly product(shape)
//     elements, INT8 / UINT8 values within range, every other field empty;
//   - shared-memory parameters are Unimplemented.
// The decoded tensors come back in the signature's input order (not the
// request's), and never point into the request: they own their bytes
// (copied, or moved out of a mutable request).
//
// Outputs: RequestedOutputNames resolves `outputs` of the request (empty:
// all of the model's outputs, in signature order); EncodeInferOutputs
// writes a response with raw_output_contents, one per output, in order.
//
// Raw contents are little-endian, as the protocol says; Tessera only builds
// on little-endian hosts.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "coordinator/repository/model_repository.h"
#include "coordinator/repository/model_signature.h"
#include "proto/inference.pb.h"
#include "worker/engine/engine.h"

namespace tessera::coordinator {

using engine::NamedTensor;

struct KServeTensorOptions {
  // Largest total byte size of a request's input tensors (the coordinator's
  // --max-request-tensor-mb).
  int64_t max_request_bytes = int64_t{256} << 20;
  // Largest total byte size of a response's output tensors (protobuf
  // messages must stay below 2 GiB).
  int64_t max_response_bytes = (int64_t{2} << 30) - (int64_t{1} << 20);
};

// Checks and decodes the request's inputs against `expected`.
absl::StatusOr<std::vector<NamedTensor>> DecodeInferInputs(const inference::ModelInferRequest& request,
                                                           const ModelSignature& expected,
                                                           const KServeTensorOptions& options = {});
// The same, moving raw_input_contents out of `request` into the tensors
// (no copy) once every input has passed its checks; on success those
// buffers are left empty; on failure some may be (the request's other
// fields are untouched either way).
absl::StatusOr<std::vector<NamedTensor>> DecodeInferInputs(inference::ModelInferRequest* request,
                                                           const ModelSignature& expected,
                                                           const KServeTensorOptions& options = {});

// The request-level parameters Tessera reads, checked (InvalidArgument
// naming the parameter and the type it needs): "timeout" (int64_param or
// uint64_param, microseconds, >= 0; shortens the request's deadline),
// "priority" (int64_param >= 0 or uint64_param; accepted, every request has
// the same priority), "binary_data_output" (bool_param; an HTTP matter,
// accepted). Sequence batching ("sequence_id", "sequence_start",
// "sequence_end") and request-level shared memory parameters are
// Unimplemented. Other keys are ignored, as Triton passes them on to
// backends.
struct InferRequestParameters {
  absl::Duration timeout = absl::InfiniteDuration();
};
absl::StatusOr<InferRequestParameters> CheckInferRequestParameters(const inference::ModelInferRequest& request);

// The outputs to return, in response order: the request's `outputs` (each
// a known output, named once) or, when it is empty, all of the model's.
// Parameters asking for shared memory or classification are Unimplemented.
absl::StatusOr<std::vector<std::string>> RequestedOutputNames(const inference::ModelInferRequest& request,
                                                              const ModelSignature& expected);

// Fills `response`: model_name, model_version, id (echoed from the request),
// and for each of `outputs` in order its name, KServe datatype, shape and
// raw bytes. An output the signature does not know, or whose element type
// differs from the signature's, is Internal (a bug upstream, not the
// client's); too large a response is ResourceExhausted.
absl::Status EncodeInferOutputs(const ModelSignature& signature, const inference::ModelInferRequest& request,
                                absl::Span<const NamedTensor> outputs, inference::ModelInferResponse* response,
                                const KServeTensorOptions& options = {});
// The same, moving each output's bytes into the response when the tensor
// is their only holder (Tensor::ReleaseBytes), copying them otherwise.
absl::Status EncodeInferOutputs(const ModelSignature& signature, const inference::ModelInferRequest& request,
                                std::vector<NamedTensor>&& outputs, inference::ModelInferResponse* response,
                                const KServeTensorOptions& options = {});

// Decodes a response's outputs (raw or typed contents), as a client does;
// the same per-tensor checks as for inputs.
absl::StatusOr<std::vector<NamedTensor>> DecodeInferOutputs(const inference::ModelInferResponse& response,
                                                            const KServeTensorOptions& options = {});

// ModelMetadataResponse of a served model: name, the ready versions,
// platform, inputs and outputs with KServe datatypes and full shapes (-1 for
// dynamic dims; with max_batch_size > 0 the batch dim first, as -1).
inference::ModelMetadataResponse MakeModelMetadata(const LoadedModelVersion& model,
                                                   absl::Span<const int64_t> ready_versions);

}  // namespace tessera::coordinator
