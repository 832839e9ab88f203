#include "coordinator/frontend/kserve_tensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/kserve_datatype.h"

namespace tessera::coordinator {
namespace {

static_assert(std::endian::native == std::endian::little,
              "KServe raw contents are little-endian; Tessera copies them as they are");

using Contents = inference::InferTensorContents;

std::string DimsString(absl::Span<const int64_t> dims) { return absl::StrCat("[", absl::StrJoin(dims, ","), "]"); }

// A tensor's datatype and shape, checked on their own.
struct TensorHeader {
  DataType dtype = DataType::kUndefined;
  Shape shape;
  int64_t elements = 0;
  int64_t bytes = 0;
};

absl::StatusOr<TensorHeader> CheckHeader(const std::string& what, const std::string& datatype,
                                         const google::protobuf::RepeatedField<int64_t>& shape) {
  TensorHeader h;
  if (datatype.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " has no datatype"));
  if (!IsKServeDatatype(datatype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " has datatype '", datatype,
        "', which is not a KServe datatype (BOOL, UINT8, INT8, INT32, INT64, FP32, FP64, ...; upper case)"));
  }
  absl::StatusOr<DataType> dtype = DataTypeFromKServe(datatype);
  if (!dtype.ok()) return absl::Status(dtype.status().code(), absl::StrCat(what, ": ", dtype.status().message()));
  h.dtype = *dtype;
  h.shape.assign(shape.begin(), shape.end());
  const int64_t elem = static_cast<int64_t>(DataTypeSize(h.dtype));
  int64_t n = 1;
  for (int64_t d : h.shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has shape ", DimsString(h.shape), " with negative dimension ", d));
    }
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / elem / d) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has shape ", DimsString(h.shape), ", whose byte size overflows int64"));
    }
    n *= d;
  }
  h.elements = n;
  h.bytes = n * elem;
  return h;
}

// The typed field that carries `dtype`.
absl::string_view ContentsFieldOf(DataType dtype) {
  switch (dtype) {
    case DataType::kBool:
      return "bool_contents";
    case DataType::kUint8:
      return "uint_contents";
    case DataType::kInt8:
    case DataType::kInt32:
      return "int_contents";
    case DataType::kInt64:
      return "int64_contents";
    case DataType::kFloat32:
      return "fp32_contents";
    case DataType::kFloat64:
      return "fp64_contents";
    case DataType::kUndefined:
      break;
  }
  return "";
}

// Non-empty typed fields: name and element count.
std::vector<std::pair<absl::string_view, int64_t>> NonEmptyFields(const Contents& c) {
  std::vector<std::pair<absl::string_view, int64_t>> fields;
  auto add = [&](absl::string_view name, int size) {
    if (size > 0) fields.emplace_back(name, size);
  };
  add("bool_contents", c.bool_contents_size());
  add("int_contents", c.int_contents_size());
  add("int64_contents", c.int64_contents_size());
  add("uint_contents", c.uint_contents_size());
  add("uint64_contents", c.uint64_contents_size());
  add("fp32_contents", c.fp32_contents_size());
  add("fp64_contents", c.fp64_contents_size());
  add("bytes_contents", c.bytes_contents_size());
  return fields;
}

bool HasTypedContents(const Contents& c) { return !NonEmptyFields(c).empty(); }

// Checks that only the datatype's field is used and holds every element.
absl::Status CheckTyped(const std::string& what, const std::string& datatype, const TensorHeader& h,
                        const Contents& c) {
  const absl::string_view expected = ContentsFieldOf(h.dtype);
  int64_t count = 0;
  for (const auto& [field, size] : NonEmptyFields(c)) {
    if (field != expected) {
      return absl::InvalidArgumentError(absl::StrCat(what, " (", datatype, ") carries its data in ", field,
                                                     "; ", datatype, " data goes in ", expected));
    }
    count = size;
  }
  if (count != h.elements) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has shape ", DimsString(h.shape), " (", h.elements,
                                                   " elements) but ", expected, " holds ", count, " values"));
  }
  return absl::OkStatus();
}

template <typename T, typename Src>
absl::StatusOr<Tensor> CopyTyped(const std::string& what, const Shape& shape,
                                 const google::protobuf::RepeatedField<Src>& src) {
  Tensor t = Tensor::Allocate(DataTypeOf<T>::value, shape);
  T* out = t.data<T>();
  for (int i = 0; i < src.size(); ++i) {
    const Src v = src.Get(i);
    if constexpr (!std::is_same_v<T, Src> && std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      bool in_range = v <= static_cast<Src>(std::numeric_limits<T>::max());
      if constexpr (std::is_signed_v<Src>) in_range = in_range && v >= static_cast<Src>(std::numeric_limits<T>::min());
      if (!in_range) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": value ", v, " at index ", i, " is out of range for ",
                                                       KServeDatatype(DataTypeOf<T>::value), " (",
                                                       static_cast<int64_t>(std::numeric_limits<T>::min()), "..",
                                                       static_cast<int64_t>(std::numeric_limits<T>::max()), ")"));
      }
    }
    out[i] = static_cast<T>(v);
  }
  return t;
}

// Decodes checked typed contents.
absl::StatusOr<Tensor> TensorFromTyped(const std::string& what, const TensorHeader& h, const Contents& c) {
  switch (h.dtype) {
    case DataType::kBool:
      return CopyTyped<bool>(what, h.shape, c.bool_contents());
    case DataType::kUint8:
      return CopyTyped<uint8_t>(what, h.shape, c.uint_contents());
    case DataType::kInt8:
      return CopyTyped<int8_t>(what, h.shape, c.int_contents());
    case DataType::kInt32:
      return CopyTyped<int32_t>(what, h.shape, c.int_contents());
    case DataType::kInt64:
      return CopyTyped<int64_t>(what, h.shape, c.int64_contents());
    case DataType::kFloat32:
      return CopyTyped<float>(what, h.shape, c.fp32_contents());
    case DataType::kFloat64:
      return CopyTyped<double>(what, h.shape, c.fp64_contents());
    case DataType::kUndefined:
      break;
  }
  return absl::InternalError(absl::StrCat(what, ": no typed decoding"));
}

absl::Status CheckRawSize(const std::string& what, const TensorHeader& h, const std::string& raw,
                          absl::string_view raw_label) {
  if (static_cast<int64_t>(raw.size()) != h.bytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", raw_label, " holds ", raw.size(), " bytes but shape ",
                                                   DimsString(h.shape), " of ", KServeDatatype(h.dtype), " needs ",
                                                   h.bytes));
  }
  return absl::OkStatus();
}

// Decodes raw bytes whose size was checked: moves them out of `*movable`
// when it is given (no copy), copies `raw` otherwise.
absl::StatusOr<Tensor> TensorFromRaw(const std::string& what, const TensorHeader& h, const std::string& raw,
                                     std::string* movable) {
  if (h.dtype == DataType::kBool) {
    for (size_t i = 0; i < raw.size(); ++i) {
      const auto b = static_cast<unsigned char>(raw[i]);
      if (b > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": BOOL byte ", i, " is ", static_cast<int>(b), "; BOOL bytes are 0 or 1"));
      }
    }
  }
  if (movable != nullptr) return Tensor::FromBytes(h.dtype, h.shape, std::move(*movable));
  Tensor t = Tensor::Allocate(h.dtype, h.shape);
  if (!raw.empty()) std::memcpy(t.raw_data(), raw.data(), raw.size());
  return t;
}

bool AsksForSharedMemory(const google::protobuf::Map<std::string, inference::InferParameter>& params) {
  return params.count("shared_memory_region") != 0 || params.count("shared_memory_byte_size") != 0 ||
         params.count("shared_memory_offset") != 0;
}

std::string SpecNames(const std::vector<TensorSpec>& specs) {
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(absl::StrCat("'", s.name, "'"));
  return absl::StrJoin(names, ", ");
}

absl::Status CheckShapeAgainstSpec(const std::string& what, const TensorHeader& h, const TensorSpec& spec,
                                   const ModelSignature& sig) {
  if (h.shape.size() != spec.shape.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has shape ", DimsString(h.shape), " (rank ", h.shape.size(),
                                                   ") but model '", sig.model_name, "' expects rank ",
                                                   spec.shape.size(), ": ", DimsString(spec.shape)));
  }
  for (size_t i = 0; i < h.shape.size(); ++i) {
    if (sig.max_batch_size > 0 && i == 0) {
      if (h.shape[0] < 1 || h.shape[0] > sig.max_batch_size) {
        return absl::InvalidArgumentError(absl::StrCat(what, " has batch size ", h.shape[0], " (shape ",
                                                       DimsString(h.shape), "); model '", sig.model_name,
                                                       "' takes batches of 1..", sig.max_batch_size));
      }
      continue;
    }
    if (spec.shape[i] != -1 && spec.shape[i] != h.shape[i]) {
      return absl::InvalidArgumentError(absl::StrCat(what, " has shape ", DimsString(h.shape), " but model '",
                                                     sig.model_name, "' expects ", DimsString(spec.shape),
                                                     " (dim ", i, " must be ", spec.shape[i], ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

// DecodeInferInputs; raw contents are moved out of `movable` (the request
// itself) when it is given.
absl::StatusOr<std::vector<NamedTensor>> Decode(const inference::ModelInferRequest& request,
                                                inference::ModelInferRequest* movable, const ModelSignature& expected,
                                                const KServeTensorOptions& options) {
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "raw_input_contents holds ", request.raw_input_contents_size(), " buffers but the request has ",
        request.inputs_size(), " inputs; with raw contents every input has exactly one buffer, in input order"));
  }

  struct Checked {
    int request_index;
    TensorHeader header;
  };
  absl::flat_hash_map<std::string, Checked> checked;
  int64_t total_bytes = 0;
  int64_t batch = -1;
  std::string batch_input;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& in = request.inputs(i);
    if (in.name().empty()) return absl::InvalidArgumentError(absl::StrCat("input ", i, " has no name"));
    const std::string what = absl::StrCat("input '", in.name(), "'");
    if (checked.contains(in.name())) return absl::InvalidArgumentError(absl::StrCat(what, " is given more than once"));
    const TensorSpec* spec = expected.FindInput(in.name());
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown input '", in.name(), "'; model '",
                                                     expected.model_name, "' takes ", SpecNames(expected.inputs)));
    }
    absl::StatusOr<TensorHeader> h = CheckHeader(what, in.datatype(), in.shape());
    if (!h.ok()) return h.status();
    if (h->dtype != spec->dtype) {
      return absl::InvalidArgumentError(absl::StrCat(what, " has datatype ", in.datatype(), " but model '",
                                                     expected.model_name, "' expects ", KServeDatatype(spec->dtype)));
    }
    if (AsksForSharedMemory(in.parameters())) {
      return absl::UnimplementedError(absl::StrCat(what, ": shared memory inputs are not supported by Tessera"));
    }
    absl::Status st = CheckShapeAgainstSpec(what, *h, *spec, expected);
    if (!st.ok()) return st;
    if (expected.max_batch_size > 0) {
      if (batch < 0) {
        batch = h->shape[0];
        batch_input = in.name();
      } else if (h->shape[0] != batch) {
        return absl::InvalidArgumentError(absl::StrCat(what, " has batch size ", h->shape[0], " but input '",
                                                       batch_input, "' has ", batch,
                                                       "; all inputs share the batch size"));
      }
    }
    if (h->bytes > options.max_request_bytes - total_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          what, " declares ", DimsString(h->shape), " of ", KServeDatatype(h->dtype), " = ", h->bytes,
          " bytes, taking the request's input tensors to ", total_bytes + h->bytes,
          " bytes, over the per-request limit of ", options.max_request_bytes, " bytes"));
    }
    total_bytes += h->bytes;
    if (raw) {
      if (HasTypedContents(in.contents())) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, " has typed contents but the request uses raw_input_contents; a request uses one or the other"));
      }
      st = CheckRawSize(what, *h, request.raw_input_contents(i), absl::StrCat("raw_input_contents[", i, "]"));
    } else {
      st = CheckTyped(what, in.datatype(), *h, in.contents());
    }
    if (!st.ok()) return st;
    checked.emplace(in.name(), Checked{i, *std::move(h)});
  }
  for (const TensorSpec& spec : expected.inputs) {
    if (!checked.contains(spec.name)) {
      return absl::InvalidArgumentError(absl::StrCat("missing input '", spec.name, "' (", KServeDatatype(spec.dtype),
                                                     " ", DimsString(spec.shape), ") of model '",
                                                     expected.model_name, "'"));
    }
  }

  std::vector<NamedTensor> tensors;
  tensors.reserve(expected.inputs.size());
  for (const TensorSpec& spec : expected.inputs) {
    const Checked& c = checked.at(spec.name);
    const std::string what = absl::StrCat("input '", spec.name, "'");
    absl::StatusOr<Tensor> t =
        raw ? TensorFromRaw(what, c.header, request.raw_input_contents(c.request_index),
                            movable == nullptr ? nullptr : movable->mutable_raw_input_contents(c.request_index))
            : TensorFromTyped(what, c.header, request.inputs(c.request_index).contents());
    if (!t.ok()) return t.status();
    tensors.push_back(NamedTensor{spec.name, *std::move(t)});
  }
  return tensors;
}

}  // namespace

absl::StatusOr<std::vector<NamedTensor>> DecodeInferInputs(const inference::ModelInferRequest& request,
                                                           const ModelSignature& expected,
                                                           const KServeTensorOptions& options) {
  return Decode(request, nullptr, expected, options);
}

absl::StatusOr<std::vector<NamedTensor>> DecodeInferInputs(inference::ModelInferRequest* request,
                                                           const ModelSignature& expected,
                                                           const KServeTensorOptions& options) {
  return Decode(*request, request, expected, options);
}

namespace {

absl::string_view ParameterKind(const inference::InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kBoolParam:
      return "bool_param";
    case inference::InferParameter::kInt64Param:
      return "int64_param";
    case inference::InferParameter::kStringParam:
      return "string_param";
    case inference::InferParameter::kDoubleParam:
      return "double_param";
    case inference::InferParameter::kUint64Param:
      return "uint64_param";
    case inference::InferParameter::PARAMETER_CHOICE_NOT_SET:
      break;
  }
  return "no value";
}

// A non-negative integer parameter (int64_param >= 0 or uint64_param).
absl::StatusOr<uint64_t> NonNegativeInteger(const std::string& key, const inference::InferParameter& p) {
  if (p.parameter_choice_case() == inference::InferParameter::kUint64Param) return p.uint64_param();
  if (p.parameter_choice_case() == inference::InferParameter::kInt64Param && p.int64_param() >= 0) {
    return static_cast<uint64_t>(p.int64_param());
  }
  if (p.parameter_choice_case() == inference::InferParameter::kInt64Param) {
    return absl::InvalidArgumentError(
        absl::StrCat("request parameter '", key, "' is ", p.int64_param(), "; it must be >= 0"));
  }
  return absl::InvalidArgumentError(absl::StrCat("request parameter '", key, "' is a ", ParameterKind(p),
                                                 "; it must be an int64_param or uint64_param"));
}

}  // namespace

absl::StatusOr<InferRequestParameters> CheckInferRequestParameters(const inference::ModelInferRequest& request) {
  InferRequestParameters out;
  if (AsksForSharedMemory(request.parameters())) {
    return absl::UnimplementedError("request parameters ask for shared memory, which Tessera does not support");
  }
  for (const char* key : {"sequence_id", "sequence_start", "sequence_end"}) {
    if (request.parameters().count(key) != 0) {
      return absl::UnimplementedError(absl::StrCat("request parameter '", key,
                                                   "': sequence batching is not supported by Tessera"));
    }
  }
  if (auto it = request.parameters().find("timeout"); it != request.parameters().end()) {
    absl::StatusOr<uint64_t> us = NonNegativeInteger("timeout", it->second);
    if (!us.ok()) return us.status();
    out.timeout = absl::Microseconds(static_cast<int64_t>(std::min<uint64_t>(*us, uint64_t{1} << 62)));
  }
  if (auto it = request.parameters().find("priority"); it != request.parameters().end()) {
    absl::StatusOr<uint64_t> priority = NonNegativeInteger("priority", it->second);
    if (!priority.ok()) return priority.status();
  }
  if (auto it = request.parameters().find("binary_data_output"); it != request.parameters().end()) {
    if (it->second.parameter_choice_case() != inference::InferParameter::kBoolParam) {
      return absl::InvalidArgumentError(absl::StrCat("request parameter 'binary_data_output' is a ",
                                                     ParameterKind(it->second), "; it must be a bool_param"));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> RequestedOutputNames(const inference::ModelInferRequest& request,
                                                              const ModelSignature& expected) {
  std::vector<std::string> names;
  if (request.outputs().empty()) {
    for (const TensorSpec& spec : expected.outputs) names.push_back(spec.name);
    return names;
  }
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < request.outputs_size(); ++i) {
    const auto& out = request.outputs(i);
    if (out.name().empty()) return absl::InvalidArgumentError(absl::StrCat("requested output ", i, " has no name"));
    const std::string what = absl::StrCat("requested output '", out.name(), "'");
    if (expected.FindOutput(out.name()) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown ", what, "; model '", expected.model_name,
                                                     "' has outputs ", SpecNames(expected.outputs)));
    }
    if (!seen.insert(out.name()).second) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is requested more than once"));
    }
    if (AsksForSharedMemory(out.parameters())) {
      return absl::UnimplementedError(absl::StrCat(what, ": shared memory outputs are not supported by Tessera"));
    }
    if (out.parameters().count("classification") != 0) {
      return absl::UnimplementedError(absl::StrCat(what, ": classification outputs are not supported by Tessera"));
    }
    names.push_back(out.name());
  }
  return names;
}

namespace {

// EncodeInferOutputs; the bytes are moved out of `movable` (the same
// tensors as `outputs`) when it is given.
absl::Status Encode(const ModelSignature& signature, const inference::ModelInferRequest& request,
                    absl::Span<const NamedTensor> outputs, NamedTensor* movable,
                    inference::ModelInferResponse* response, const KServeTensorOptions& options) {
  response->Clear();
  response->set_model_name(signature.model_name);
  response->set_model_version(absl::StrCat(signature.version));
  response->set_id(request.id());
  int64_t total = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const NamedTensor& out = outputs[i];
    const TensorSpec* spec = signature.FindOutput(out.name);
    if (spec == nullptr) {
      return absl::InternalError(
          absl::StrCat("output '", out.name, "' is not an output of model '", signature.model_name, "'"));
    }
    if (!out.tensor.defined() || out.tensor.dtype() != spec->dtype) {
      return absl::InternalError(absl::StrCat("output '", out.name, "' is ", DataTypeName(out.tensor.dtype()),
                                              " but model '", signature.model_name, "' declares ",
                                              KServeDatatype(spec->dtype)));
    }
    const int64_t bytes = static_cast<int64_t>(out.tensor.byte_size());
    if (bytes > options.max_response_bytes - total) {
      return absl::ResourceExhaustedError(absl::StrCat("the outputs of model '", signature.model_name,
                                                       "' exceed the response limit of ", options.max_response_bytes,
                                                       " bytes (at output '", out.name, "')"));
    }
    total += bytes;
    auto* o = response->add_outputs();
    o->set_name(out.name);
    o->set_datatype(std::string(KServeDatatype(out.tensor.dtype())));
    for (int64_t d : out.tensor.shape()) o->add_shape(d);
    if (movable != nullptr) {
      response->add_raw_output_contents(std::move(movable[i].tensor).ReleaseBytes());
    } else {
      response->add_raw_output_contents()->assign(static_cast<const char*>(out.tensor.raw_data()),
                                                  static_cast<size_t>(bytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EncodeInferOutputs(const ModelSignature& signature, const inference::ModelInferRequest& request,
                                absl::Span<const NamedTensor> outputs, inference::ModelInferResponse* response,
                                const KServeTensorOptions& options) {
  return Encode(signature, request, outputs, /*movable=*/nullptr, response, options);
}

absl::Status EncodeInferOutputs(const ModelSignature& signature, const inference::ModelInferRequest& request,
                                std::vector<NamedTensor>&& outputs, inference::ModelInferResponse* response,
                                const KServeTensorOptions& options) {
  return Encode(signature, request, outputs, outputs.data(), response, options);
}

absl::StatusOr<std::vector<NamedTensor>> DecodeInferOutputs(const inference::ModelInferResponse& response,
                                                            const KServeTensorOptions& options) {
  const bool raw = response.raw_output_contents_size() > 0;
  if (raw && response.raw_output_contents_size() != response.outputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("raw_output_contents holds ", response.raw_output_contents_size(),
                                                   " buffers but the response has ", response.outputs_size(),
                                                   " outputs"));
  }
  std::vector<NamedTensor> tensors;
  int64_t total = 0;
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& out = response.outputs(i);
    const std::string what = absl::StrCat("output '", out.name(), "'");
    absl::StatusOr<TensorHeader> h = CheckHeader(what, out.datatype(), out.shape());
    if (!h.ok()) return h.status();
    if (h->bytes > options.max_response_bytes - total) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " takes the response over the limit of ", options.max_response_bytes, " bytes"));
    }
    total += h->bytes;
    absl::StatusOr<Tensor> t;
    if (raw) {
      if (HasTypedContents(out.contents())) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " has typed contents but the response uses raw_output_contents"));
      }
      absl::Status st = CheckRawSize(what, *h, response.raw_output_contents(i),
                                     absl::StrCat("raw_output_contents[", i, "]"));
      if (!st.ok()) return st;
      t = TensorFromRaw(what, *h, response.raw_output_contents(i), /*movable=*/nullptr);
    } else {
      absl::Status st = CheckTyped(what, out.datatype(), *h, out.contents());
      if (!st.ok()) return st;
      t = TensorFromTyped(what, *h, out.contents());
    }
    if (!t.ok()) return t.status();
    tensors.push_back(NamedTensor{out.name(), *std::move(t)});
  }
  return tensors;
}

inference::ModelMetadataResponse MakeModelMetadata(const LoadedModelVersion& model,
                                                   absl::Span<const int64_t> ready_versions) {
  inference::ModelMetadataResponse md;
  md.set_name(model.name);
  for (int64_t v : ready_versions) md.add_versions(absl::StrCat(v));
  md.set_platform(model.config.platform());
  auto fill = [](const TensorSpec& spec, inference::ModelMetadataResponse::TensorMetadata* t) {
    t->set_name(spec.name);
    t->set_datatype(std::string(KServeDatatype(spec.dtype)));
    for (int64_t d : spec.shape) t->add_shape(d);
  };
  for (const TensorSpec& spec : model.signature.inputs) fill(spec, md.add_inputs());
  for (const TensorSpec& spec : model.signature.outputs) fill(spec, md.add_outputs());
  return md;
}

}  // namespace tessera::coordinator
