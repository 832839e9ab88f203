// libFuzzer target: KServe request decoding and validation
// (coordinator/frontend/kserve_tensors.h). The input is a serialized
// inference.ModelInferRequest; bytes that do not parse are skipped (that is
// protobuf's job). A parsed request is decoded against two fixed model
// signatures (a batched one and an unbatched one covering every executable
// datatype), through both DecodeInferInputs overloads; the two must agree.
// Accepted inputs are encoded back as a response by an identity model
// (EncodeInferOutputs) and decoded as a client would (DecodeInferOutputs):
// the tensors must come back unchanged. Refusals must carry a message.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "coordinator/frontend/kserve_tensors.h"
#include "proto/inference.pb.h"

namespace tessera::coordinator {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "kserve_request_fuzzer: %s\n", what.c_str());
  std::abort();
}

// Model "batched": max_batch_size 4; x FP32 [-1,3], ids INT64 [-1,2].
// Model "plain": no batching; every executable datatype, fixed, dynamic
// and scalar shapes. Both return their inputs unchanged (identity).
std::vector<ModelSignature> Signatures() {
  ModelSignature batched;
  batched.model_name = "batched";
  batched.version = 1;
  batched.max_batch_size = 4;
  batched.inputs = {{"x", DataType::kFloat32, {-1, 3}}, {"ids", DataType::kInt64, {-1, 2}}};
  batched.outputs = batched.inputs;
  ModelSignature plain;
  plain.model_name = "plain";
  plain.version = 2;
  plain.inputs = {{"b", DataType::kBool, {2, -1}}, {"u8", DataType::kUint8, {-1}},
                  {"i8", DataType::kInt8, {4}},    {"i32", DataType::kInt32, {}},
                  {"f64", DataType::kFloat64, {-1, -1}}};
  plain.outputs = plain.inputs;
  return {batched, plain};
}

bool SameTensors(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Tensor& x = a[i].tensor;
    const Tensor& y = b[i].tensor;
    if (a[i].name != b[i].name || x.dtype() != y.dtype() || x.shape() != y.shape()) return false;
    if (x.byte_size() != y.byte_size()) return false;
    if (x.byte_size() > 0 && std::memcmp(x.raw_data(), y.raw_data(), x.byte_size()) != 0) return false;
  }
  return true;
}

void CheckRefusal(const absl::Status& status, const char* what) {
  if (status.ok() || status.message().empty()) Fail(std::string(what) + " refused the request without a message");
}

void Exercise(const inference::ModelInferRequest& request, const ModelSignature& signature) {
  // A small byte limit, so that the limit check is reached too.
  KServeTensorOptions options;
  options.max_request_bytes = 1 << 16;
  options.max_response_bytes = 1 << 16;

  absl::StatusOr<std::vector<NamedTensor>> decoded = DecodeInferInputs(request, signature, options);
  inference::ModelInferRequest mutable_request = request;
  absl::StatusOr<std::vector<NamedTensor>> moved = DecodeInferInputs(&mutable_request, signature, options);
  if (decoded.ok() != moved.ok()) Fail("the copying and moving DecodeInferInputs disagree");
  if (!decoded.ok()) {
    CheckRefusal(decoded.status(), "DecodeInferInputs");
    if (decoded.status() != moved.status()) Fail("the two DecodeInferInputs refuse differently");
  } else if (!SameTensors(*decoded, *moved)) {
    Fail("the copying and moving DecodeInferInputs decode differently");
  }

  absl::StatusOr<std::vector<std::string>> names = RequestedOutputNames(request, signature);
  if (!names.ok()) CheckRefusal(names.status(), "RequestedOutputNames");
  if (!decoded.ok() || !names.ok()) return;

  // Identity model: the outputs asked for are the inputs of those names.
  std::vector<NamedTensor> outputs;
  for (const std::string& name : *names) {
    for (const NamedTensor& t : *decoded) {
      if (t.name == name) outputs.push_back(t);
    }
  }
  if (outputs.size() != names->size()) Fail("a requested output has no input of its name");
  inference::ModelInferResponse response;
  absl::Status encoded = EncodeInferOutputs(signature, request, outputs, &response, options);
  if (!encoded.ok()) {
    if (encoded.code() != absl::StatusCode::kResourceExhausted) Fail("EncodeInferOutputs: " + encoded.ToString());
    return;
  }
  absl::StatusOr<std::vector<NamedTensor>> round = DecodeInferOutputs(response, options);
  if (!round.ok()) Fail("DecodeInferOutputs refused an encoded response: " + round.status().ToString());
  if (!SameTensors(outputs, *round)) Fail("outputs changed through EncodeInferOutputs / DecodeInferOutputs");
}

}  // namespace
}  // namespace tessera::coordinator

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* signatures = new std::vector<tessera::coordinator::ModelSignature>(
      tessera::coordinator::Signatures());
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  for (const auto& signature : *signatures) tessera::coordinator::Exercise(request, signature);
  return 0;
}
