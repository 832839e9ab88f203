#include "coordinator/repository/model_config_loader.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/kserve_datatype.h"
#include "common/tensor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace tessera::coordinator {
namespace {

// A config.pbtxt larger than this is not a config file.
constexpr std::uintmax_t kMaxConfigBytes = 4 << 20;
// Upper bound for parallelism.stages / replicas: far above any real cluster,
// low enough that a typo (or -1 read as uint32) is caught here.
constexpr uint32_t kMaxParallelism = 4096;

class CollectingErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectingErrors(absl::string_view source) : source_(source) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (!errors_.empty()) errors_ += "; ";
    // The parser counts lines and columns from 0.
    absl::StrAppend(&errors_, source_, ":", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  const std::string& errors() const { return errors_; }

 private:
  std::string source_;
  std::string errors_;
};

std::string DimsString(absl::Span<const int64_t> dims) { return absl::StrCat("[", absl::StrJoin(dims, ","), "]"); }

std::string TypeName(inference::DataType type) { return inference::DataType_Name(type); }

// Checks one config input/output on its own.
template <typename ConfigTensor>
absl::Status ValidateTensorSection(const std::string& model, absl::string_view kind, const ConfigTensor& t,
                                   absl::flat_hash_set<std::string>* seen) {
  const std::string where = absl::StrCat("model '", model, "': ", kind, " '", t.name(), "'");
  if (t.name().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("model '", model, "': an ", kind, " has no name"));
  }
  if (!seen->insert(t.name()).second) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is listed more than once"));
  }
  if (t.data_type() == inference::TYPE_INVALID) {
    return absl::InvalidArgumentError(absl::StrCat(where, " has no data_type"));
  }
  absl::StatusOr<DataType> dtype = DataTypeFromTriton(t.data_type());
  if (!dtype.ok()) return absl::Status(dtype.status().code(), absl::StrCat(where, ": ", dtype.status().message()));
  for (int64_t d : t.dims()) {
    if (d < -1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": dims ", DimsString(t.dims()), " has ", d, "; a dim is -1 (any size) or >= 0"));
    }
  }
  if (t.has_reshape()) {
    return absl::UnimplementedError(absl::StrCat(where, ": reshape is not supported by Tessera"));
  }
  if (t.is_shape_tensor()) {
    return absl::UnimplementedError(absl::StrCat(where, ": is_shape_tensor is not supported by Tessera"));
  }
  return absl::OkStatus();
}

// Model dims the config describes: without the batch axis when batching.
absl::StatusOr<std::vector<int64_t>> ConfigVisibleDims(const std::string& model, absl::string_view kind,
                                                       const engine::TensorInfo& info, int32_t max_batch_size,
                                                       bool config_gives_dims) {
  if (max_batch_size == 0) return info.shape;
  const std::string where = absl::StrCat("model '", model, "': ", kind, " '", info.name, "'");
  if (info.shape.empty()) {
    if (config_gives_dims) return std::vector<int64_t>{};  // unknown rank: see the header
    return absl::InvalidArgumentError(absl::StrCat(
        where, " has no batch dimension in the model (a scalar or a tensor of unknown rank) but max_batch_size is ",
        max_batch_size, "; set max_batch_size: 0 or give its dims in config.pbtxt"));
  }
  const int64_t batch = info.shape[0];
  if (batch != -1 && !(batch == 1 && max_batch_size == 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " has shape ", DimsString(info.shape), " in the model; with max_batch_size ", max_batch_size,
        " its first dimension is the batch and must be dynamic (-1)",
        batch == 1 ? " (or max_batch_size must be 1)" : "", "; set max_batch_size: 0 to serve the model's shapes"));
  }
  return std::vector<int64_t>(info.shape.begin() + 1, info.shape.end());
}

// Checks config dims against the model's (both without the batch axis).
absl::Status CheckDimsCompatible(const std::string& where, absl::Span<const int64_t> config_dims,
                                 absl::Span<const int64_t> model_dims, bool model_rank_known) {
  if (!model_rank_known) return absl::OkStatus();
  if (config_dims.size() != model_dims.size()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": config dims ", DimsString(config_dims), " have rank ",
                                                   config_dims.size(), " but the model's dims ",
                                                   DimsString(model_dims), " have rank ", model_dims.size()));
  }
  for (size_t i = 0; i < config_dims.size(); ++i) {
    const int64_t c = config_dims[i];
    const int64_t m = model_dims[i];
    if (m == -1 || c == m) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": config dims ", DimsString(config_dims), " do not match the model's dims ", DimsString(model_dims),
        " at dim ", i, " (", c == -1 ? "-1 in the config, but the model only accepts " : "config ",
        c == -1 ? absl::StrCat(m) : absl::StrCat(c, ", model ", m), ")"));
  }
  return absl::OkStatus();
}

const engine::TensorInfo* FindInfo(absl::Span<const engine::TensorInfo> infos, absl::string_view name) {
  for (const auto& i : infos) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

std::string Names(absl::Span<const engine::TensorInfo> infos) {
  std::vector<std::string> names;
  for (const auto& i : infos) names.push_back(absl::StrCat("'", i.name, "'"));
  return absl::StrJoin(names, ", ");
}

// Completes or checks one section (input or output).
template <typename ConfigTensor>
absl::Status CompleteSection(const std::string& model, absl::string_view kind,
                             absl::Span<const engine::TensorInfo> model_tensors, int32_t max_batch_size,
                             bool require_all,
                             google::protobuf::RepeatedPtrField<ConfigTensor>* section) {
  if (section->empty()) {
    for (const engine::TensorInfo& info : model_tensors) {
      const std::string where = absl::StrCat("model '", model, "': ", kind, " '", info.name, "'");
      if (info.dtype == DataType::kUndefined) {
        return absl::InvalidArgumentError(absl::StrCat(where, " has no element type in the model"));
      }
      absl::StatusOr<std::vector<int64_t>> dims = ConfigVisibleDims(model, kind, info, max_batch_size, false);
      if (!dims.ok()) return dims.status();
      ConfigTensor* t = section->Add();
      t->set_name(info.name);
      t->set_data_type(TritonDataType(info.dtype));
      for (int64_t d : *dims) t->add_dims(d);
    }
    return absl::OkStatus();
  }
  for (ConfigTensor& t : *section) {
    const std::string where = absl::StrCat("model '", model, "': ", kind, " '", t.name(), "'");
    const engine::TensorInfo* info = FindInfo(model_tensors, t.name());
    if (info == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, " in config.pbtxt is not an ", kind,
                                                     " of the ONNX model, whose ", kind, "s are ",
                                                     Names(model_tensors)));
    }
    const inference::DataType model_type = TritonDataType(info->dtype);
    if (t.data_type() != model_type) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has data_type ", TypeName(t.data_type()),
                                                     " in config.pbtxt but ", TypeName(model_type),
                                                     " in the ONNX model"));
    }
    absl::StatusOr<std::vector<int64_t>> dims = ConfigVisibleDims(model, kind, *info, max_batch_size, true);
    if (!dims.ok()) return dims.status();
    const bool rank_known = !info->shape.empty();
    std::vector<int64_t> config_dims(t.dims().begin(), t.dims().end());
    absl::Status st = CheckDimsCompatible(where, config_dims, *dims, rank_known);
    if (!st.ok()) return st;
  }
  if (require_all) {
    for (const engine::TensorInfo& info : model_tensors) {
      bool listed = false;
      for (const ConfigTensor& t : *section) listed = listed || t.name() == info.name;
      if (!listed) {
        return absl::InvalidArgumentError(absl::StrCat("model '", model, "': the ONNX model's ", kind, " '",
                                                       info.name, "' is missing from config.pbtxt's ", kind,
                                                       " list; list every ", kind, " or omit the section"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<inference::ModelConfig> ParseModelConfig(absl::string_view text, absl::string_view source) {
  CollectingErrors errors(source);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  // Strict: unknown fields, unknown enum values and a (set) singular field
  // given twice are errors.
  parser.AllowUnknownField(false);
  parser.AllowUnknownExtension(false);
  parser.AllowFieldNumber(false);
  inference::ModelConfig config;
  const std::string copy(text);
  if (!parser.ParseFromString(copy, &config)) {
    return absl::InvalidArgumentError(
        errors.errors().empty() ? absl::StrCat(source, ": cannot parse model config") : errors.errors());
  }
  return config;
}

absl::StatusOr<inference::ModelConfig> ReadModelConfig(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  const fs::path path = dir / kModelConfigFilename;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model configuration '", path.string(), "' does not exist"));
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot stat '", path.string(), "': ", ec.message()));
  if (size > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path.string(), "' is ", size, " bytes; a model configuration is at most ", kMaxConfigBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot open '", path.string(), "'"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(absl::StrCat("error reading '", path.string(), "'"));
  absl::StatusOr<inference::ModelConfig> config = ParseModelConfig(text.str(), path.string());
  if (!config.ok()) return config.status();
  std::string name = dir.filename().string();
  if (name.empty()) name = dir.parent_path().filename().string();  // "repo/model/"
  absl::Status st = ValidateModelConfig(name, &*config);
  if (!st.ok()) return absl::Status(st.code(), absl::StrCat(path.string(), ": ", st.message()));
  return config;
}

absl::Status ValidateModelConfig(absl::string_view directory_name, inference::ModelConfig* config) {
  if (config->name().empty()) config->set_name(std::string(directory_name));
  if (config->name() != directory_name) {
    return absl::InvalidArgumentError(absl::StrCat("config.pbtxt names the model '", config->name(),
                                                   "' but its directory is '", directory_name,
                                                   "'; the name must match the directory (or be omitted)"));
  }
  const std::string model = config->name();
  const std::string& platform = config->platform();
  const std::string& backend = config->backend();
  const bool platform_ok = platform.empty() || platform == "onnx" || platform == kOnnxPlatform;
  const bool backend_ok = backend.empty() || backend == kOnnxBackend;
  if (!platform_ok || !backend_ok || (platform.empty() && backend.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", model, "': platform '", platform, "' / backend '", backend,
        "' is not served; Tessera runs ONNX models: set platform: \"onnxruntime_onnx\" (or \"onnx\") or "
        "backend: \"onnxruntime\""));
  }
  config->set_platform(kOnnxPlatform);
  config->set_backend(kOnnxBackend);

  const int32_t mbs = config->max_batch_size();
  if (mbs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model, "': max_batch_size is ", mbs, "; it must be >= 0"));
  }

  const inference::ModelVersionPolicy& policy = config->version_policy();
  if (policy.has_latest() && policy.latest().num_versions() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model, "': version_policy.latest.num_versions must be >= 1"));
  }
  if (policy.has_specific()) {
    if (policy.specific().versions().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", model, "': version_policy.specific lists no versions"));
    }
    for (int64_t v : policy.specific().versions()) {
      if (v < 1) {
        return absl::InvalidArgumentError(absl::StrCat("model '", model, "': version_policy.specific names version ",
                                                       v, "; versions are >= 1"));
      }
    }
  }

  if (config->has_dynamic_batching()) {
    if (mbs == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", model, "': dynamic_batching needs max_batch_size > 0 (it is 0)"));
    }
    for (int32_t p : config->dynamic_batching().preferred_batch_size()) {
      if (p < 1 || p > mbs) {
        return absl::InvalidArgumentError(absl::StrCat("model '", model,
                                                       "': dynamic_batching.preferred_batch_size ", p,
                                                       " is outside 1..max_batch_size (", mbs, ")"));
      }
    }
  }

  if (config->has_parallelism()) {
    const inference::ModelParallelism& par = config->parallelism();
    if (par.stages() > kMaxParallelism || par.replicas() > kMaxParallelism) {
      return absl::InvalidArgumentError(absl::StrCat("model '", model, "': parallelism stages ", par.stages(),
                                                     " / replicas ", par.replicas(), " exceed ", kMaxParallelism));
    }
    if (!inference::ModelParallelism::Forwarding_IsValid(par.forwarding())) {
      return absl::InvalidArgumentError(absl::StrCat("model '", model, "': parallelism.forwarding ",
                                                     static_cast<int>(par.forwarding()),
                                                     " is not FORWARDING_DEFAULT, RELAY or DIRECT"));
    }
    if (par.micro_batch_size() > 0) {
      if (mbs == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "model '", model, "': parallelism.micro_batch_size needs max_batch_size > 0 (it is 0)"));
      }
      if (par.micro_batch_size() > static_cast<uint32_t>(mbs)) {
        return absl::InvalidArgumentError(absl::StrCat("model '", model, "': parallelism.micro_batch_size ",
                                                       par.micro_batch_size(), " exceeds max_batch_size ", mbs));
      }
    }
  }

  for (const auto& group : config->instance_group()) {
    if (group.count() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", model, "': instance_group count ", group.count(), " is negative"));
    }
    if (group.kind() == inference::ModelInstanceGroup::KIND_GPU || !group.gpus().empty()) {
      return absl::UnimplementedError(
          absl::StrCat("model '", model, "': instance_group asks for GPUs; Tessera runs on CPUs (KIND_CPU)"));
    }
  }
  if (config->model_transaction_policy().decoupled()) {
    return absl::UnimplementedError(
        absl::StrCat("model '", model, "': decoupled models are not supported by Tessera"));
  }

  const std::string& file = config->default_model_filename();
  if (!file.empty() && (file == "." || file == ".." || file.find('/') != std::string::npos ||
                        file.find('\0') != std::string::npos)) {
    return absl::InvalidArgumentError(absl::StrCat("model '", model, "': default_model_filename '", file,
                                                   "' must be a plain file name inside the version directory"));
  }

  absl::flat_hash_set<std::string> seen_inputs;
  for (const auto& in : config->input()) {
    absl::Status st = ValidateTensorSection(model, "input", in, &seen_inputs);
    if (!st.ok()) return st;
    if (in.allow_ragged_batch()) {
      return absl::UnimplementedError(
          absl::StrCat("model '", model, "': input '", in.name(), "': allow_ragged_batch is not supported"));
    }
    if (in.optional()) {
      return absl::UnimplementedError(
          absl::StrCat("model '", model, "': input '", in.name(), "': optional inputs are not supported"));
    }
  }
  absl::flat_hash_set<std::string> seen_outputs;
  for (const auto& out : config->output()) {
    absl::Status st = ValidateTensorSection(model, "output", out, &seen_outputs);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status CompleteModelConfig(absl::Span<const engine::TensorInfo> model_inputs,
                                 absl::Span<const engine::TensorInfo> model_outputs,
                                 inference::ModelConfig* config) {
  const std::string model = config->name();
  const int32_t mbs = config->max_batch_size();
  absl::Status st = CompleteSection(model, "input", model_inputs, mbs, /*require_all=*/true, config->mutable_input());
  if (!st.ok()) return st;
  return CompleteSection(model, "output", model_outputs, mbs, /*require_all=*/false, config->mutable_output());
}

}  // namespace tessera::coordinator
