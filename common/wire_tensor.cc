#include "common/wire_tensor.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/kserve_datatype.h"
#include "common/status_macros.h"

namespace tessera {

absl::StatusOr<Tensor> TensorFromWire(const worker::Tensor& wire) {
  absl::StatusOr<DataType> type = DataTypeFromKServe(wire.datatype());
  if (!type.ok()) {
    return absl::Status(type.status().code(), absl::StrCat("tensor '", wire.name(), "': ", type.status().message()));
  }
  const Shape shape(wire.shape().begin(), wire.shape().end());
  absl::Status valid = ValidateShape(shape, *type);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", wire.name(), "': ", valid.message()));
  }
  Tensor tensor = Tensor::Allocate(*type, shape);
  if (wire.content().size() != tensor.byte_size()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", wire.name(), "': ", wire.datatype(), " shape ",
                                                   ShapeToString(shape), " needs ", tensor.byte_size(),
                                                   " bytes of content, got ", wire.content().size()));
  }
  if (tensor.byte_size() > 0) std::memcpy(tensor.raw_data(), wire.content().data(), tensor.byte_size());
  return tensor;
}

void TensorToWire(absl::string_view name, const Tensor& tensor, worker::Tensor* wire) {
  wire->set_name(std::string(name));
  wire->set_datatype(std::string(KServeDatatype(tensor.dtype())));
  wire->clear_shape();
  for (int64_t d : tensor.shape()) wire->add_shape(d);
  wire->set_content(static_cast<const char*>(tensor.raw_data()), tensor.byte_size());
}

}  // namespace tessera
