#include "coordinator/repository/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/repository/model_config_loader.h"
#include "coordinator/repository/version_policy.h"

namespace tessera::coordinator {
namespace fs = std::filesystem;
namespace {

// A model name is one plain directory name: no separators, no "."/"..",
// nothing hidden.
absl::Status ValidateModelName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("model name is empty");
  if (name[0] == '.' || name.find('/') != absl::string_view::npos || name.find('\\') != absl::string_view::npos ||
      name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("model name '", name, "' is not a plain directory name of the repository"));
  }
  return absl::OkStatus();
}

absl::Status Prefixed(const absl::Status& st, absl::string_view prefix) {
  return absl::Status(st.code(), absl::StrCat(prefix, st.message()));
}

}  // namespace

std::string LoadedModelVersion::version_string() const { return absl::StrCat(version); }

absl::string_view ModelVersionStateName(ModelVersionState state) {
  switch (state) {
    case ModelVersionState::kReady:
      return "READY";
    case ModelVersionState::kUnavailable:
      return "UNAVAILABLE";
    case ModelVersionState::kUnloading:
      return "UNLOADING";
  }
  return "UNAVAILABLE";
}

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(ModelRepositoryOptions options) {
  std::error_code ec;
  if (options.root.empty() || !fs::is_directory(options.root, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model repository '", options.root, "' is not a directory"));
  }
  return std::unique_ptr<ModelRepository>(new ModelRepository(std::move(options)));
}

std::vector<std::string> ModelRepository::ModelDirectories() const {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(options_.root, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !it->is_directory(type_ec)) continue;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool ModelRepository::ModelDirectoryExists(const std::string& name) const {
  std::error_code ec;
  return fs::is_directory(fs::path(options_.root) / name, ec);
}

absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> ModelRepository::ReadVersion(
    const std::string& name, int64_t version, const std::string& version_dir,
    const inference::ModelConfig& config) const {
  const std::string where = absl::StrCat("model '", name, "' version ", version, ": ");
  const std::string filename =
      config.default_model_filename().empty() ? kDefaultModelFilename : config.default_model_filename();
  const fs::path path = fs::path(version_dir) / filename;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(where, "model file '", path.string(), "' does not exist"));
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(where, "cannot stat '", path.string(), "': ", ec.message()));
  if (size > static_cast<std::uintmax_t>(options_.max_model_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(where, "model file '", path.string(), "' is ", size,
                                                   " bytes, above the limit of ", options_.max_model_bytes));
  }

  std::string bytes(static_cast<size_t>(size), '\0');
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::UnavailableError(absl::StrCat(where, "cannot open '", path.string(), "'"));
    in.read(bytes.data(), static_cast<std::streamsize>(size));
    if (static_cast<std::uintmax_t>(in.gcount()) != size) {
      return absl::UnavailableError(absl::StrCat(where, "short read of '", path.string(), "'"));
    }
  }
  return VersionFromBytes(name, version, path.string(), std::move(bytes), config);
}

absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> ModelRepository::VersionFromBytes(
    const std::string& name, int64_t version, const std::string& path, std::string bytes,
    const inference::ModelConfig& config) const {
  const std::string where = absl::StrCat("model '", name, "' version ", version, ": ");
  if (static_cast<int64_t>(bytes.size()) > options_.max_model_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(where, "model file '", path, "' is ", bytes.size(),
                                                   " bytes, above the limit of ", options_.max_model_bytes));
  }
  auto loaded = std::make_shared<LoadedModelVersion>();
  loaded->name = name;
  loaded->version = version;
  loaded->model_path = path;
  loaded->model_bytes = std::move(bytes);

  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      engine::Engine::LoadFromBytes(loaded->model_bytes, options_.engine_options);
  if (!engine.ok()) {
    return Prefixed(engine.status(), absl::StrCat(where, "cannot load '", path, "': "));
  }
  loaded->onnx_inputs = (*engine)->inputs();
  loaded->onnx_outputs = (*engine)->outputs();
  engine->reset();

  loaded->config = config;
  absl::Status st = CompleteModelConfig(loaded->onnx_inputs, loaded->onnx_outputs, &loaded->config);
  if (!st.ok()) {
    // "model 'm': input 'x': ..." becomes "model 'm' version 2: input 'x': ...".
    absl::string_view message = st.message();
    absl::ConsumePrefix(&message, absl::StrCat("model '", name, "': "));
    return absl::Status(st.code(), absl::StrCat(where, message));
  }
  absl::StatusOr<ModelSignature> sig = SignatureFromConfig(loaded->config, version);
  if (!sig.ok()) return Prefixed(sig.status(), where);
  loaded->signature = *std::move(sig);
  return std::shared_ptr<const LoadedModelVersion>(std::move(loaded));
}

absl::StatusOr<std::map<int64_t, std::shared_ptr<const LoadedModelVersion>>> ModelRepository::ReadModel(
    const std::string& name) const {
  const fs::path dir = fs::path(options_.root) / name;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' is not in the model repository '", options_.root, "'"));
  }
  absl::StatusOr<inference::ModelConfig> config = ReadModelConfig(dir.string());
  if (!config.ok()) return config.status();

  std::vector<int64_t> available;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) continue;
    std::optional<int64_t> v = ParseVersionDirectoryName(it->path().filename().string());
    if (v.has_value()) available.push_back(*v);
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list '", dir.string(), "': ", ec.message()));
  absl::StatusOr<std::vector<int64_t>> selected = SelectVersions(config->version_policy(), available);
  if (!selected.ok()) return Prefixed(selected.status(), absl::StrCat("model '", name, "': "));

  std::map<int64_t, std::shared_ptr<const LoadedModelVersion>> versions;
  for (int64_t v : *selected) {
    absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> loaded =
        ReadVersion(name, v, (dir / absl::StrCat(v)).string(), *config);
    if (!loaded.ok()) return loaded.status();
    versions.emplace(v, *std::move(loaded));
  }
  return versions;
}

absl::Status ModelRepository::LoadAll() {
  std::vector<std::string> failures;
  const std::vector<std::string> names = ModelDirectories();
  for (const std::string& name : names) {
    absl::Status st = Load(name);
    if (!st.ok()) failures.push_back(std::string(st.message()));
  }
  if (failures.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(failures.size(), " of ", names.size(),
                                                    " models failed to load: ", absl::StrJoin(failures, "; ")));
}

absl::Status ModelRepository::Load(absl::string_view name_view) {
  absl::Status valid = ValidateModelName(name_view);
  if (!valid.ok()) return valid;
  const std::string name(name_view);
  absl::MutexLock load_lock(&load_mu_);
  absl::StatusOr<std::map<int64_t, std::shared_ptr<const LoadedModelVersion>>> read = ReadModel(name);
  const bool on_disk = read.ok() || ModelDirectoryExists(name);
  return Commit(name, std::move(read), on_disk);
}

absl::Status ModelRepository::LoadOverride(absl::string_view name_view, ModelOverride model) {
  absl::Status valid = ValidateModelName(name_view);
  if (!valid.ok()) return valid;
  const std::string name(name_view);
  absl::MutexLock load_lock(&load_mu_);
  absl::StatusOr<std::map<int64_t, std::shared_ptr<const LoadedModelVersion>>> read =
      ReadOverride(name, std::move(model));
  return Commit(name, std::move(read), /*on_disk=*/false);
}

absl::StatusOr<std::map<int64_t, std::shared_ptr<const LoadedModelVersion>>> ModelRepository::ReadOverride(
    const std::string& name, ModelOverride model) const {
  if (model.files.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("model '", name, "': no model file given"));
  }
  absl::Status valid = ValidateModelConfig(name, &model.config);
  if (!valid.ok()) return valid;
  std::vector<int64_t> available;
  for (const auto& [v, unused] : model.files) {
    if (v <= 0) return absl::InvalidArgumentError(absl::StrCat("model '", name, "': version ", v, " is not >= 1"));
    available.push_back(v);
  }
  absl::StatusOr<std::vector<int64_t>> selected = SelectVersions(model.config.version_policy(), available);
  if (!selected.ok()) return Prefixed(selected.status(), absl::StrCat("model '", name, "': "));
  const std::string filename = model.config.default_model_filename().empty()
                                   ? kDefaultModelFilename
                                   : model.config.default_model_filename();
  std::map<int64_t, std::shared_ptr<const LoadedModelVersion>> versions;
  for (int64_t v : *selected) {
    absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> loaded =
        VersionFromBytes(name, v, absl::StrCat("file:", v, "/", filename), std::move(model.files[v]), model.config);
    if (!loaded.ok()) return loaded.status();
    versions.emplace(v, *std::move(loaded));
  }
  return versions;
}

absl::Status ModelRepository::Commit(const std::string& name,
                                     absl::StatusOr<std::map<int64_t, std::shared_ptr<const LoadedModelVersion>>> read,
                                     bool on_disk) {
  std::map<int64_t, std::shared_ptr<const LoadedModelVersion>> previous;  // destroyed after unlocking
  {
    absl::MutexLock lock(&mu_);
    if (!read.ok()) {
      auto it = models_.find(name);
      if (it == models_.end()) {
        if (!on_disk) return read.status();
        it = models_.emplace(name, ModelState{}).first;
      }
      // A failed reload keeps the previous versions serving.
      if (it->second.ready.empty()) it->second.reason = std::string(read.status().message());
      return read.status();
    }
    ModelState& state = models_[name];
    previous = std::move(state.ready);
    for (const auto& [v, old] : previous) state.retired[v] = old;
    state.ready = *std::move(read);
    for (const auto& [v, unused] : state.ready) state.retired.erase(v);
    state.reason.clear();
  }
  return absl::OkStatus();
}

absl::Status ModelRepository::Unload(absl::string_view name_view) {
  absl::Status valid = ValidateModelName(name_view);
  if (!valid.ok()) return valid;
  const std::string name(name_view);
  absl::MutexLock load_lock(&load_mu_);
  const bool on_disk = ModelDirectoryExists(name);
  std::map<int64_t, std::shared_ptr<const LoadedModelVersion>> previous;  // destroyed after unlocking
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    if (on_disk) return absl::OkStatus();  // nothing loaded: nothing to do
    return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  }
  previous = std::move(it->second.ready);
  it->second.ready.clear();
  for (const auto& [v, old] : previous) it->second.retired[v] = old;
  it->second.reason = "unloaded";
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> ModelRepository::Get(absl::string_view name,
                                                                               absl::string_view version) const {
  int64_t wanted = 0;
  if (!version.empty() && (!absl::SimpleAtoi(version, &wanted) || wanted < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", name, "': version '", version, "' is not a version number (1, 2, ...)"));
  }
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  const ModelState& state = it->second;
  if (state.ready.empty()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not ready: ",
                                            state.reason.empty() ? "not loaded" : state.reason));
  }
  if (version.empty()) return state.ready.rbegin()->second;
  auto v = state.ready.find(wanted);
  if (v == state.ready.end()) {
    std::vector<int64_t> ready;
    for (const auto& [k, unused] : state.ready) ready.push_back(k);
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no ready version ", wanted,
                                            "; ready versions: ", absl::StrJoin(ready, ", ")));
  }
  return v->second;
}

std::vector<int64_t> ModelRepository::ReadyVersions(absl::string_view name) const {
  std::vector<int64_t> versions;
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return versions;
  for (const auto& [v, unused] : it->second.ready) versions.push_back(v);
  return versions;
}

std::vector<ModelIndexEntry> ModelRepository::Index(bool ready_only) const {
  const std::vector<std::string> on_disk = ModelDirectories();
  std::vector<ModelIndexEntry> rows;
  absl::MutexLock lock(&mu_);
  std::set<std::string> names(on_disk.begin(), on_disk.end());
  for (const auto& [name, unused] : models_) names.insert(name);
  for (const std::string& name : names) {
    auto it = models_.find(name);
    if (it == models_.end()) {
      if (!ready_only) rows.push_back({name, "", ModelVersionState::kUnavailable, "not loaded"});
      continue;
    }
    const ModelState& state = it->second;
    // A model-level row says why nothing is served (after an unload the
    // version rows below say it already).
    if (state.ready.empty() && !ready_only && (state.retired.empty() || state.reason != "unloaded")) {
      rows.push_back({name, "", ModelVersionState::kUnavailable, state.reason.empty() ? "not loaded" : state.reason});
    }
    // Ready and retired versions, ascending.
    std::set<int64_t> versions;
    for (const auto& [v, unused2] : state.ready) versions.insert(v);
    for (const auto& [v, unused2] : state.retired) versions.insert(v);
    for (int64_t v : versions) {
      if (state.ready.count(v) != 0) {
        rows.push_back({name, absl::StrCat(v), ModelVersionState::kReady, ""});
      } else if (!ready_only) {
        const bool in_use = !state.retired.at(v).expired();
        rows.push_back({name, absl::StrCat(v),
                        in_use ? ModelVersionState::kUnloading : ModelVersionState::kUnavailable,
                        in_use ? "unloading: in use by requests in flight" : "unloaded"});
      }
    }
  }
  return rows;
}

}  // namespace tessera::coordinator
