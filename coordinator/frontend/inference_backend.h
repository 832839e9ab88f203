// What the KServe frontend asks of the coordinator: one method per RPC of
// inference.GRPCInferenceService, in absl terms. The gRPC handlers
// (inference_service.h) only translate; the Coordinator implements this;
// frontend tests use a fake.
//
// Asynchronous methods call `done` exactly once, on any thread; the request
// they were given stays valid until then. Implementations are thread-safe.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/inference.pb.h"

namespace tessera::coordinator {

class InferenceBackend {
 public:
  template <typename T>
  using Done = std::function<void(absl::StatusOr<T>)>;

  virtual ~InferenceBackend() = default;

  virtual bool ServerReady() = 0;
  virtual inference::ServerMetadataResponse ServerMetadata() = 0;
  // NOT_FOUND for an unknown model or version.
  virtual absl::StatusOr<bool> ModelReady(const inference::ModelReadyRequest& request) = 0;
  virtual absl::StatusOr<inference::ModelMetadataResponse> ModelMetadata(
      const inference::ModelMetadataRequest& request) = 0;
  virtual absl::StatusOr<inference::ModelConfigResponse> ModelConfig(const inference::ModelConfigRequest& request) = 0;
  virtual absl::StatusOr<inference::ModelStatisticsResponse> ModelStatistics(
      const inference::ModelStatisticsRequest& request) = 0;
  virtual absl::StatusOr<inference::RepositoryIndexResponse> RepositoryIndex(
      const inference::RepositoryIndexRequest& request) = 0;

  // `request` stays alive until `done` runs. The backend may move the
  // bytes of raw_input_contents out of it (no copy); the other fields stay.
  virtual void ModelInfer(inference::ModelInferRequest* request, absl::Time deadline,
                          Done<inference::ModelInferResponse> done) = 0;
  virtual void RepositoryModelLoad(const inference::RepositoryModelLoadRequest* request,
                                   Done<inference::RepositoryModelLoadResponse> done) = 0;
  virtual void RepositoryModelUnload(const inference::RepositoryModelUnloadRequest* request,
                                     Done<inference::RepositoryModelUnloadResponse> done) = 0;
};

}  // namespace tessera::coordinator
