#include "worker/engine/node_attributes.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera::engine {

const onnx::AttributeProto* NodeAttributes::Find(absl::string_view name) const {
  for (const auto& a : node_->attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

int64_t NodeAttributes::GetInt(absl::string_view name, int64_t default_value) const {
  const auto* a = Find(name);
  return a ? a->i() : default_value;
}

float NodeAttributes::GetFloat(absl::string_view name, float default_value) const {
  const auto* a = Find(name);
  return a ? a->f() : default_value;
}

std::string NodeAttributes::GetString(absl::string_view name, std::string default_value) const {
  const auto* a = Find(name);
  return a ? a->s() : default_value;
}

std::vector<int64_t> NodeAttributes::GetInts(absl::string_view name) const {
  const auto* a = Find(name);
  if (!a) return {};
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> NodeAttributes::GetFloats(absl::string_view name) const {
  const auto* a = Find(name);
  if (!a) return {};
  return {a->floats().begin(), a->floats().end()};
}

std::vector<std::string> NodeAttributes::GetStrings(absl::string_view name) const {
  const auto* a = Find(name);
  if (!a) return {};
  return {a->strings().begin(), a->strings().end()};
}

absl::StatusOr<Tensor> NodeAttributes::GetTensor(absl::string_view name) const {
  const auto* a = Find(name);
  if (!a) return absl::NotFoundError(absl::StrCat("attribute '", name, "' is missing"));
  if (!a->has_t()) return absl::InvalidArgumentError(absl::StrCat("attribute '", name, "' is not a tensor"));
  return TensorFromProto(a->t());
}

namespace {

template <typename T, typename Field>
void CopyTyped(const Field& field, Tensor& t) {
  T* out = t.data<T>();
  int64_t i = 0;
  for (const auto& v : field) out[i++] = static_cast<T>(v);
}

}  // namespace

absl::StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto) {
  const std::string& name = proto.name();
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    return absl::UnimplementedError(absl::StrCat("tensor '", name, "' uses external data, which is not supported"));
  }
  auto type_or = DataTypeFromOnnx(proto.data_type());
  if (!type_or.ok()) {
    return absl::UnimplementedError(absl::StrCat("tensor '", name, "': ", type_or.status().message()));
  }
  DataType type = *type_or;
  Shape shape(proto.dims().begin(), proto.dims().end());
  TESSERA_RETURN_IF_ERROR(ValidateShape(shape, type));
  const int64_t n = NumElements(shape);
  // The data present must match the declared shape before anything is
  // allocated: a few bytes must not claim gigabytes.
  const size_t byte_size = static_cast<size_t>(n) * DataTypeSize(type);
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != byte_size) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has ", proto.raw_data().size(),
                                                     " bytes of raw data, shape ", ShapeToString(shape),
                                                     " needs ", byte_size));
    }
    Tensor t = Tensor::Allocate(type, shape);
    if (byte_size > 0) std::memcpy(t.raw_data(), proto.raw_data().data(), byte_size);
    return t;
  }
  int64_t have = 0;
  switch (type) {
    case DataType::kFloat32: have = proto.float_data_size(); break;
    case DataType::kFloat64: have = proto.double_data_size(); break;
    case DataType::kInt64: have = proto.int64_data_size(); break;
    default: have = proto.int32_data_size(); break;
  }
  if (have != n) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has ", have, " values, shape ",
                                                   ShapeToString(shape), " needs ", n));
  }
  Tensor t = Tensor::Allocate(type, shape);
  switch (type) {
    case DataType::kFloat32: CopyTyped<float>(proto.float_data(), t); break;
    case DataType::kFloat64: CopyTyped<double>(proto.double_data(), t); break;
    case DataType::kInt64: CopyTyped<int64_t>(proto.int64_data(), t); break;
    case DataType::kInt32: CopyTyped<int32_t>(proto.int32_data(), t); break;
    case DataType::kUint8: CopyTyped<uint8_t>(proto.int32_data(), t); break;
    case DataType::kInt8: CopyTyped<int8_t>(proto.int32_data(), t); break;
    case DataType::kBool: CopyTyped<bool>(proto.int32_data(), t); break;
    case DataType::kUndefined: break;
  }
  return t;
}

onnx::TensorProto TensorToProto(const Tensor& tensor, const std::string& name) {
  onnx::TensorProto proto;
  proto.set_name(name);
  proto.set_data_type(static_cast<int32_t>(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto.add_dims(d);
  proto.set_raw_data(tensor.raw_data(), tensor.byte_size());
  return proto;
}

}  // namespace tessera::engine
