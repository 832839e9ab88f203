#include "client/kserve_request.h"

#include <string>

#include "common/kserve_datatype.h"

namespace tessera::client {
namespace {

template <typename T, typename Field>
void CopyValues(const Tensor& tensor, Field* field) {
  const absl::Span<const T> values = tensor.values<T>();
  field->Reserve(static_cast<int>(values.size()));
  for (const T& v : values) field->Add(v);
}

void FillTyped(const Tensor& tensor, inference::InferTensorContents* contents) {
  switch (tensor.dtype()) {
    case DataType::kBool: {
      const uint8_t* bytes = static_cast<const uint8_t*>(tensor.raw_data());
      for (int64_t i = 0; i < tensor.num_elements(); ++i) contents->add_bool_contents(bytes[i] != 0);
      break;
    }
    case DataType::kUint8:
      CopyValues<uint8_t>(tensor, contents->mutable_uint_contents());
      break;
    case DataType::kInt8:
      CopyValues<int8_t>(tensor, contents->mutable_int_contents());
      break;
    case DataType::kInt32:
      CopyValues<int32_t>(tensor, contents->mutable_int_contents());
      break;
    case DataType::kInt64:
      CopyValues<int64_t>(tensor, contents->mutable_int64_contents());
      break;
    case DataType::kFloat32:
      CopyValues<float>(tensor, contents->mutable_fp32_contents());
      break;
    case DataType::kFloat64:
      CopyValues<double>(tensor, contents->mutable_fp64_contents());
      break;
    case DataType::kUndefined:
      break;
  }
}

}  // namespace

void AddInferInput(absl::string_view name, const Tensor& tensor, InferContents contents,
                   inference::ModelInferRequest* request) {
  inference::ModelInferRequest::InferInputTensor* input = request->add_inputs();
  input->set_name(std::string(name));
  input->set_datatype(std::string(KServeDatatype(tensor.dtype())));
  for (int64_t d : tensor.shape()) input->add_shape(d);
  if (contents == InferContents::kTyped) {
    FillTyped(tensor, input->mutable_contents());
  } else {
    request->add_raw_input_contents(static_cast<const char*>(tensor.raw_data()), tensor.byte_size());
  }
}

}  // namespace tessera::client
