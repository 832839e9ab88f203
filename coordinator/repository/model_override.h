// RepositoryModelLoad's parameters (Triton's load overrides) as a
// ModelOverride for ModelRepository::LoadOverride:
//
//   "config"                    string_param: the model configuration as
//                               JSON of the ModelConfig proto (Triton's
//                               form); required when files are given
//   "file:<version>/<filename>" bytes_param: that version's model file;
//                               <version> a positive decimal number,
//                               <filename> the config's
//                               default_model_filename or "model.onnx"
//
// No parameters: nullopt (load from the repository directory). Refused
// with InvalidArgument naming the parameter: an unknown key, a value of the
// wrong type, JSON that is not a ModelConfig, a file path of another form,
// files without a config, a file over `max_file_bytes`. A config without
// files (Triton re-reads the directory's files with it) is Unimplemented.
//
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/repository/model_repository.h"
#include "google/protobuf/map.h"
#include "proto/inference.pb.h"

namespace tessera::coordinator {

absl::StatusOr<std::optional<ModelOverride>> ModelOverrideFromParameters(
    const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters,
    int64_t max_file_bytes);

}  // namespace tessera::coordinator
