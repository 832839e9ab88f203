#include "common/wire_tensor.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/kserve_datatype.h"
#include "common/status_macros.h"

namespace tessera {

namespace {

// The tensor `wire` describes, with its content not yet attached.
absl::StatusOr<std::pair<DataType, Shape>> CheckWire(const worker::Tensor& wire) {
  absl::StatusOr<DataType> type = DataTypeFromKServe(wire.datatype());
  if (!type.ok()) {
    return absl::Status(type.status().code(), absl::StrCat("tensor '", wire.name(), "': ", type.status().message()));
  }
  Shape shape(wire.shape().begin(), wire.shape().end());
  absl::Status valid = ValidateShape(shape, *type);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", wire.name(), "': ", valid.message()));
  }
  const size_t bytes = static_cast<size_t>(NumElements(shape)) * DataTypeSize(*type);
  if (wire.content().size() != bytes) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", wire.name(), "': ", wire.datatype(), " shape ",
                                                   ShapeToString(shape), " needs ", bytes,
                                                   " bytes of content, got ", wire.content().size()));
  }
  return std::make_pair(*type, std::move(shape));
}

}  // namespace

absl::StatusOr<Tensor> TensorFromWire(const worker::Tensor& wire) {
  absl::StatusOr<std::pair<DataType, Shape>> header = CheckWire(wire);
  if (!header.ok()) return header.status();
  Tensor tensor = Tensor::Allocate(header->first, std::move(header->second));
  if (tensor.byte_size() > 0) std::memcpy(tensor.raw_data(), wire.content().data(), tensor.byte_size());
  return tensor;
}

absl::StatusOr<Tensor> TensorFromWire(worker::Tensor* wire) {
  absl::StatusOr<std::pair<DataType, Shape>> header = CheckWire(*wire);
  if (!header.ok()) return header.status();
  return Tensor::FromBytes(header->first, std::move(header->second), std::move(*wire->mutable_content()));
}

void TensorToWire(absl::string_view name, const Tensor& tensor, worker::Tensor* wire) {
  wire->set_name(std::string(name));
  wire->set_datatype(std::string(KServeDatatype(tensor.dtype())));
  wire->clear_shape();
  for (int64_t d : tensor.shape()) wire->add_shape(d);
  wire->set_content(static_cast<const char*>(tensor.raw_data()), tensor.byte_size());
}

void TensorToWire(absl::string_view name, Tensor&& tensor, worker::Tensor* wire) {
  wire->set_name(std::string(name));
  wire->set_datatype(std::string(KServeDatatype(tensor.dtype())));
  wire->clear_shape();
  for (int64_t d : tensor.shape()) wire->add_shape(d);
  wire->set_content(std::move(tensor).ReleaseBytes());
}

}  // namespace tessera
