// inference.GRPCInferenceService (KServe v2 / Open Inference Protocol, as
// Triton serves it) over an InferenceBackend: thin callback-API handlers
// that translate, pass the client's deadline, and convert the status.
// ModelStreamInfer answers each request of the stream in order of
// completion; a failed request becomes a response with error_message and
// the stream goes on, as Triton does.
//
// Access control is the server's authorization policy
// (common/authorization_policy.h), not here.
#pragma once

#include "coordinator/frontend/inference_backend.h"
#include "proto/inference.grpc.pb.h"

namespace tessera::coordinator {

// ModelInfer and ModelStreamInfer take their requests as bytes and parse
// them themselves, so that bytes which are not a ModelInferRequest get
// INVALID_ARGUMENT (in a stream: an error_message, and the stream goes on)
// saying so; gRPC's own parsing answers UNIMPLEMENTED without a message, or
// silently ends the stream.
// The base is GRPCInferenceService::CallbackService with those two methods
// raw (a method added to the proto must be added here).
namespace internal {
using G = inference::GRPCInferenceService;
using InferenceServiceBase = G::WithCallbackMethod_ServerLive<G::WithCallbackMethod_ServerReady<
    G::WithCallbackMethod_ModelReady<G::WithCallbackMethod_ServerMetadata<G::WithCallbackMethod_ModelMetadata<
        G::WithRawCallbackMethod_ModelInfer<G::WithRawCallbackMethod_ModelStreamInfer<G::WithCallbackMethod_ModelConfig<
            G::WithCallbackMethod_ModelStatistics<G::WithCallbackMethod_RepositoryIndex<
                G::WithCallbackMethod_RepositoryModelLoad<G::WithCallbackMethod_RepositoryModelUnload<G::Service>>>>>>>>>>>>;
}  // namespace internal

class InferenceService final : public internal::InferenceServiceBase {
 public:
  // `backend` is borrowed and must outlive the server.
  explicit InferenceService(InferenceBackend* backend) : backend_(backend) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ModelStreamInfer(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                const inference::RepositoryModelLoadRequest* request,
                                                inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(grpc::CallbackServerContext* context,
                                                  const inference::RepositoryModelUnloadRequest* request,
                                                  inference::RepositoryModelUnloadResponse* response) override;

 private:
  InferenceBackend* const backend_;
};

}  // namespace tessera::coordinator
