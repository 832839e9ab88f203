#include "coordinator/repository/model_override.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "coordinator/repository/model_config_loader.h"
#include "coordinator/repository/version_policy.h"
#include "google/protobuf/util/json_util.h"

namespace tessera::coordinator {
namespace {

constexpr absl::string_view kFilePrefix = "file:";

absl::string_view Kind(const inference::ModelRepositoryParameter& p) {
  switch (p.parameter_choice_case()) {
    case inference::ModelRepositoryParameter::kBoolParam:
      return "bool_param";
    case inference::ModelRepositoryParameter::kInt64Param:
      return "int64_param";
    case inference::ModelRepositoryParameter::kStringParam:
      return "string_param";
    case inference::ModelRepositoryParameter::kBytesParam:
      return "bytes_param";
    case inference::ModelRepositoryParameter::PARAMETER_CHOICE_NOT_SET:
      break;
  }
  return "parameter without a value";
}

}  // namespace

absl::StatusOr<std::optional<ModelOverride>> ModelOverrideFromParameters(
    const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters,
    int64_t max_file_bytes) {
  if (parameters.empty()) return std::nullopt;
  ModelOverride model;
  bool has_config = false;
  std::vector<std::pair<std::string, const std::string*>> files;  // filename, bytes
  for (const auto& [key, value] : parameters) {
    if (key == "config") {
      if (value.parameter_choice_case() != inference::ModelRepositoryParameter::kStringParam) {
        return absl::InvalidArgumentError(
            absl::StrCat("load parameter 'config' is a ", Kind(value), "; it must be a string_param (JSON)"));
      }
      google::protobuf::util::JsonParseOptions options;
      options.ignore_unknown_fields = false;
      const auto parsed = google::protobuf::util::JsonStringToMessage(value.string_param(), &model.config, options);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("load parameter 'config' is not a model configuration: ",
                                                       std::string(parsed.message())));
      }
      has_config = true;
      continue;
    }
    if (!absl::StartsWith(key, kFilePrefix)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown load parameter '", key, "'; RepositoryModelLoad takes 'config' and 'file:<version>/<filename>'"));
    }
    if (value.parameter_choice_case() != inference::ModelRepositoryParameter::kBytesParam) {
      return absl::InvalidArgumentError(
          absl::StrCat("load parameter '", key, "' is a ", Kind(value), "; it must be a bytes_param"));
    }
    const absl::string_view path = absl::string_view(key).substr(kFilePrefix.size());
    const size_t slash = path.find('/');
    std::optional<int64_t> version =
        slash == absl::string_view::npos ? std::nullopt : ParseVersionDirectoryName(std::string(path.substr(0, slash)));
    const absl::string_view filename = slash == absl::string_view::npos ? "" : path.substr(slash + 1);
    if (!version.has_value() || filename.empty() || filename.find('/') != absl::string_view::npos ||
        filename[0] == '.') {
      return absl::InvalidArgumentError(absl::StrCat("load parameter '", key,
                                                     "' is not of the form 'file:<version>/<filename>' with "
                                                     "<version> 1, 2, ..."));
    }
    if (static_cast<int64_t>(value.bytes_param().size()) > max_file_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("load parameter '", key, "' holds ", value.bytes_param().size(),
                                                     " bytes, above the limit of ", max_file_bytes));
    }
    if (model.files.contains(*version)) {
      return absl::InvalidArgumentError(
          absl::StrCat("load parameters give version ", *version, " more than one file ('", key, "')"));
    }
    model.files[*version] = value.bytes_param();
    files.emplace_back(std::string(filename), &value.bytes_param());
  }
  if (!has_config) {
    return absl::InvalidArgumentError(
        "load parameters give model files but no 'config'; files need the model configuration (JSON) with them");
  }
  if (model.files.empty()) {
    return absl::UnimplementedError(
        "a 'config' load parameter without model files is not supported: send the files too "
        "('file:<version>/<filename>'), or edit the repository and load without parameters");
  }
  const std::string expected =
      model.config.default_model_filename().empty() ? kDefaultModelFilename : model.config.default_model_filename();
  for (const auto& [filename, unused] : files) {
    if (filename != expected) {
      return absl::InvalidArgumentError(absl::StrCat("load parameter 'file:.../", filename,
                                                     "' is not the model file; the config's model file is '",
                                                     expected, "'"));
    }
  }
  return model;
}

}  // namespace tessera::coordinator
