#include "coordinator/repository/model_signature.h"

#include "absl/strings/str_cat.h"
#include "common/kserve_datatype.h"

namespace tessera::coordinator {
namespace {

template <typename ConfigTensor>
absl::StatusOr<TensorSpec> SpecFromConfig(const ConfigTensor& t, int32_t max_batch_size, absl::string_view kind) {
  TensorSpec spec;
  spec.name = t.name();
  absl::StatusOr<DataType> dtype = DataTypeFromTriton(t.data_type());
  if (!dtype.ok()) {
    return absl::Status(dtype.status().code(),
                        absl::StrCat(kind, " '", t.name(), "': ", dtype.status().message()));
  }
  spec.dtype = *dtype;
  if (max_batch_size > 0) spec.shape.push_back(-1);
  spec.shape.insert(spec.shape.end(), t.dims().begin(), t.dims().end());
  return spec;
}

const TensorSpec* Find(const std::vector<TensorSpec>& specs, absl::string_view name) {
  for (const TensorSpec& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace

const TensorSpec* ModelSignature::FindInput(absl::string_view name) const { return Find(inputs, name); }
const TensorSpec* ModelSignature::FindOutput(absl::string_view name) const { return Find(outputs, name); }

absl::StatusOr<ModelSignature> SignatureFromConfig(const inference::ModelConfig& config, int64_t version) {
  ModelSignature sig;
  sig.model_name = config.name();
  sig.version = version;
  sig.max_batch_size = config.max_batch_size();
  for (const auto& in : config.input()) {
    absl::StatusOr<TensorSpec> spec = SpecFromConfig(in, config.max_batch_size(), "input");
    if (!spec.ok()) return spec.status();
    sig.inputs.push_back(*std::move(spec));
  }
  for (const auto& out : config.output()) {
    absl::StatusOr<TensorSpec> spec = SpecFromConfig(out, config.max_batch_size(), "output");
    if (!spec.ok()) return spec.status();
    sig.outputs.push_back(*std::move(spec));
  }
  return sig;
}

}  // namespace tessera::coordinator
