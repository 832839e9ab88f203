// ModelRepository: the models the coordinator serves, read from a Triton-style
// directory tree
//
//   <root>/<model>/config.pbtxt
//   <root>/<model>/<version>/model.onnx     (or config's default_model_filename)
//
// Several models, each with several versions; which versions are served is
// the config's version_policy (version_policy.h; default: the latest one).
//
// Load(name) (re)reads the model's config and files and loads every version
// the policy selects: each is parsed and validated by loading it with the
// engine (operators, types, opsets), and its config is completed from the
// ONNX graph (model_config_loader.h). A load is all or nothing: if any
// selected version fails, the model keeps what it served before (nothing,
// or the previous versions) and the error is returned, naming the model,
// the version and the file; other models are never touched.
//
// Unload(name) stops serving the model. Versions that were replaced or
// unloaded but are still held by in-flight requests show as UNLOADING in
// the index until the last holder lets go.
//
// Index() lists every model directory on disk plus every model still loaded
// (one row per served version; a model with no served version gets one row
// with an empty version, state UNAVAILABLE and the reason).
//
// LoadOverride(name, model) is Triton's RepositoryModelLoad with "config"
// and "file:" overrides: the config and the model bytes come from the
// caller instead of the directory, and go through the same checks (config
// validation with `name`, the version policy over the versions given, the
// engine's validation, completion), all or nothing like Load; the directory
// is neither read nor written, and a later Load(name) reads it again. There
// is no
// --model-control-mode: the coordinator calls LoadAll() at start, and
// RepositoryModelLoad / RepositoryModelUnload call Load / Unload.
//
// Thread safety: all methods may be called from any thread. Get and Index
// never wait for a load in progress (file reading and engine validation
// happen outside the state lock); a reader sees the previous set of
// versions or the new one, never a mix. Load and Unload are serialised
// with one another. A LoadedModelVersion is immutable and shared; holding
// the shared_ptr keeps it valid after an unload or reload.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/repository/model_signature.h"
#include "proto/model_config.pb.h"
#include "worker/engine/engine.h"

namespace tessera::coordinator {

struct ModelRepositoryOptions {
  // The repository directory.
  std::string root;
  // How each version is validated (the engine instance is then dropped).
  engine::EngineOptions engine_options = {.intra_op_threads = 1};
  // Largest model file accepted; protobuf cannot parse 2 GiB or more.
  int64_t max_model_bytes = (int64_t{2} << 30) - 1;
};

// One served version of a model. Immutable.
struct LoadedModelVersion {
  std::string name;
  int64_t version = 0;
  std::string version_string() const;  // "3"
  // config.pbtxt, validated and completed from the ONNX model.
  inference::ModelConfig config;
  // The model file and its contents.
  std::string model_path;
  std::string model_bytes;
  // The ONNX graph's inputs and outputs (full shapes, -1 dynamic), as the
  // engine reports them.
  std::vector<engine::TensorInfo> onnx_inputs;
  std::vector<engine::TensorInfo> onnx_outputs;
  // What requests are checked against (derived from `config`).
  ModelSignature signature;
};

enum class ModelVersionState { kReady, kUnavailable, kUnloading };

// "READY", "UNAVAILABLE", "UNLOADING": the strings of Triton's index.
absl::string_view ModelVersionStateName(ModelVersionState state);

// A model given by a client rather than read from the repository.
struct ModelOverride {
  inference::ModelConfig config;         // as given; validated by LoadOverride
  std::map<int64_t, std::string> files;  // version -> model file bytes
};

struct ModelIndexEntry {
  std::string name;
  std::string version;  // "" for a model-level row
  ModelVersionState state = ModelVersionState::kUnavailable;
  std::string reason;
};

class ModelRepository {
 public:
  // InvalidArgument when options.root is not a directory.
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(ModelRepositoryOptions options);

  // Loads every model directory. Returns OK when all loaded, else
  // FailedPrecondition listing the failures (the others are served
  // regardless). A model loaded earlier whose directory has since
  // disappeared keeps serving until Unload (there is no polling).
  absl::Status LoadAll();

  // (Re)loads one model; see the contract above. InvalidArgument for a name
  // that is not a plain directory name; NotFound when the repository has no
  // such directory (a model still loaded from before keeps serving).
  absl::Status Load(absl::string_view name);

  // Loads `name` from `model` (see the contract above): InvalidArgument
  // for a bad name, no file, a version < 1; the errors of Load otherwise (a
  // failure keeps what `name` served before).
  absl::Status LoadOverride(absl::string_view name, ModelOverride model);

  // Stops serving `name`. NotFound when it is neither loaded nor on disk.
  absl::Status Unload(absl::string_view name);

  // A served version: `version` "" is the highest ready version. NotFound
  // for an unknown or not-ready model or version (the message says which),
  // InvalidArgument for a version that is not a number.
  absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> Get(absl::string_view name,
                                                                absl::string_view version) const;

  // The ready versions of `name`, ascending (empty when none).
  std::vector<int64_t> ReadyVersions(absl::string_view name) const;

  // Models sorted by name, versions ascending. ready_only: READY rows only.
  std::vector<ModelIndexEntry> Index(bool ready_only = false) const;

  const std::string& root() const { return options_.root; }

 private:
  struct ModelState {
    std::map<int64_t, std::shared_ptr<const LoadedModelVersion>> ready;
    // Versions no longer served; UNLOADING while someone still holds them.
    std::map<int64_t, std::weak_ptr<const LoadedModelVersion>> retired;
    // Why the model serves nothing (last load error, "unloaded").
    std::string reason;
  };

  explicit ModelRepository(ModelRepositoryOptions options) : options_(std::move(options)) {}

  // Reads and validates every selected version; touches no state.
  absl::StatusOr<std::map<int64_t, std::shared_ptr<const LoadedModelVersion>>> ReadModel(
      const std::string& name) const;
  absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> ReadVersion(const std::string& name, int64_t version,
                                                                        const std::string& version_dir,
                                                                        const inference::ModelConfig& config) const;
  // ReadVersion's checks on bytes already read; `path` names them in errors.
  absl::StatusOr<std::shared_ptr<const LoadedModelVersion>> VersionFromBytes(const std::string& name, int64_t version,
                                                                             const std::string& path, std::string bytes,
                                                                             const inference::ModelConfig& config) const;
  absl::StatusOr<std::map<int64_t, std::shared_ptr<const LoadedModelVersion>>> ReadOverride(const std::string& name,
                                                                                            ModelOverride model) const;
  // Serves what `read` holds, or records its failure (see Load); under
  // load_mu_. `on_disk`: the model has a directory.
  absl::Status Commit(const std::string& name,
                      absl::StatusOr<std::map<int64_t, std::shared_ptr<const LoadedModelVersion>>> read, bool on_disk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(load_mu_);
  std::vector<std::string> ModelDirectories() const;
  bool ModelDirectoryExists(const std::string& name) const;

  const ModelRepositoryOptions options_;
  // Serialises Load and Unload (held across file reading; never taken by
  // readers).
  absl::Mutex load_mu_;
  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(load_mu_);
  absl::flat_hash_map<std::string, ModelState> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::coordinator
