#include "coordinator/frontend/inference_service.h"

#include <chrono>
#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace tessera::coordinator {
namespace {

absl::Time Deadline(const grpc::CallbackServerContext* context) {
  const auto deadline = context->deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// Finishes a unary call with a synchronous result.
template <typename Response>
grpc::ServerUnaryReactor* FinishWith(grpc::CallbackServerContext* context, absl::StatusOr<Response> result,
                                     Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

// Finishes a unary call when an asynchronous backend call is done.
template <typename Response>
InferenceBackend::Done<Response> FinishLater(grpc::ServerUnaryReactor* reactor, Response* response) {
  return [reactor, response](absl::StatusOr<Response> result) {
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  };
}

// Parses a request received as bytes (as gRPC would, without a copy).
bool ParseInferRequest(grpc::ByteBuffer* bytes, inference::ModelInferRequest* request) {
  grpc::ProtoBufferReader reader(bytes);
  return request->ParseFromZeroCopyStream(&reader);
}

std::string NotARequest(size_t bytes) {
  return absl::StrCat("the request (", bytes, " bytes) is not a valid inference.ModelInferRequest protobuf");
}

// ModelStreamInfer: reads requests, runs each through the backend as it
// arrives (several in flight), writes the answers one at a time in order of
// completion, and finishes once the client is done sending and every answer
// is written. gRPC calls OnDone last; the reactor releases itself there.
class StreamInferReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public std::enable_shared_from_this<StreamInferReactor> {
 public:
  static StreamInferReactor* Start(InferenceBackend* backend, grpc::CallbackServerContext* context) {
    auto reactor = std::make_shared<StreamInferReactor>(backend, Deadline(context));
    reactor->self_ = reactor;
    reactor->StartRead(&reactor->request_);
    return reactor.get();
  }

  StreamInferReactor(InferenceBackend* backend, absl::Time deadline) : backend_(backend), deadline_(deadline) {}

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    auto request = std::make_shared<inference::ModelInferRequest>();
    const bool parsed = ParseInferRequest(&request_, request.get());
    const size_t length = request_.Length();
    request_.Clear();
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
    }
    if (!parsed) {
      // Answered like any failed request; the stream goes on.
      inference::ModelStreamInferResponse response;
      response.set_error_message(NotARequest(length));
      Enqueue(std::move(response));
      StartRead(&request_);
      return;
    }
    backend_->ModelInfer(request.get(), deadline_,
                         [self = shared_from_this(), request](absl::StatusOr<inference::ModelInferResponse> result) {
                           inference::ModelStreamInferResponse response;
                           if (result.ok()) {
                             *response.mutable_infer_response() = *std::move(result);
                           } else {
                             response.set_error_message(ToGrpcStatus(result.status()).error_message());
                             response.mutable_infer_response()->set_id(request->id());
                             response.mutable_infer_response()->set_model_name(request->model_name());
                           }
                           self->Enqueue(std::move(response));
                         });
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writes_.pop_front();
    --in_flight_;
    if (!ok) broken_ = true;
    if (!writes_.empty() && !broken_) {
      StartWrite(&writes_.front());
      return;
    }
    writing_ = false;
    MaybeFinishLocked();
  }

  void OnDone() override {
    std::shared_ptr<StreamInferReactor> self;
    {
      absl::MutexLock lock(&mu_);
      self = std::move(self_);
    }
    // Answers still being computed keep the reactor alive until they arrive.
  }

 private:
  void Enqueue(const inference::ModelStreamInferResponse& response) {
    grpc::ByteBuffer bytes;
    bool own_buffer = false;
    const grpc::Status serialized =
        grpc::SerializationTraits<inference::ModelStreamInferResponse>::Serialize(response, &bytes, &own_buffer);
    absl::MutexLock lock(&mu_);
    if (broken_ || !serialized.ok()) {
      --in_flight_;
      MaybeFinishLocked();
      return;
    }
    writes_.push_back(std::move(bytes));
    if (!writing_) {
      writing_ = true;
      StartWrite(&writes_.front());
    }
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || writing_ || in_flight_ > 0 || !(reads_done_ || broken_)) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  InferenceBackend* const backend_;
  const absl::Time deadline_;
  grpc::ByteBuffer request_;  // the read in progress
  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> writes_ ABSL_GUARDED_BY(mu_);  // serialized responses; front: being written
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // requests read whose answer is not yet written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // a write failed: the client is gone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<StreamInferReactor> self_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* context,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* context,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  response->set_ready(backend_->ServerReady());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* context,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  absl::StatusOr<bool> ready = backend_->ModelReady(*request);
  if (!ready.ok()) return FinishWith<inference::ModelReadyResponse>(context, ready.status(), response);
  inference::ModelReadyResponse result;
  result.set_ready(*ready);
  return FinishWith(context, absl::StatusOr<inference::ModelReadyResponse>(std::move(result)), response);
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(grpc::CallbackServerContext* context,
                                                           const inference::ServerMetadataRequest*,
                                                           inference::ServerMetadataResponse* response) {
  return FinishWith(context, absl::StatusOr<inference::ServerMetadataResponse>(backend_->ServerMetadata()),
                    response);
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(grpc::CallbackServerContext* context,
                                                          const inference::ModelMetadataRequest* request,
                                                          inference::ModelMetadataResponse* response) {
  return FinishWith(context, backend_->ModelMetadata(*request), response);
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request_bytes,
                                                       grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto request = std::make_shared<inference::ModelInferRequest>();
  // ByteBuffer is read through a const-less API; this call's buffer is ours.
  if (!ParseInferRequest(const_cast<grpc::ByteBuffer*>(request_bytes), request.get())) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, NotARequest(request_bytes->Length())));
    return reactor;
  }
  // The request is ours alone: the backend may move the input bytes out
  // instead of copying them.
  backend_->ModelInfer(request.get(), Deadline(context),
                       [reactor, response_bytes, request](absl::StatusOr<inference::ModelInferResponse> result) {
                         if (!result.ok()) return reactor->Finish(ToGrpcStatus(result.status()));
                         bool own_buffer = false;
                         grpc::Status serialized = grpc::SerializationTraits<inference::ModelInferResponse>::Serialize(
                             *result, response_bytes, &own_buffer);
                         reactor->Finish(serialized);
                       });
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* InferenceService::ModelStreamInfer(
    grpc::CallbackServerContext* context) {
  return StreamInferReactor::Start(backend_, context);
}

grpc::ServerUnaryReactor* InferenceService::ModelConfig(grpc::CallbackServerContext* context,
                                                        const inference::ModelConfigRequest* request,
                                                        inference::ModelConfigResponse* response) {
  return FinishWith(context, backend_->ModelConfig(*request), response);
}

grpc::ServerUnaryReactor* InferenceService::ModelStatistics(grpc::CallbackServerContext* context,
                                                            const inference::ModelStatisticsRequest* request,
                                                            inference::ModelStatisticsResponse* response) {
  return FinishWith(context, backend_->ModelStatistics(*request), response);
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(grpc::CallbackServerContext* context,
                                                            const inference::RepositoryIndexRequest* request,
                                                            inference::RepositoryIndexResponse* response) {
  return FinishWith(context, backend_->RepositoryIndex(*request), response);
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                                const inference::RepositoryModelLoadRequest* request,
                                                                inference::RepositoryModelLoadResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  backend_->RepositoryModelLoad(request, FinishLater(reactor, response));
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  backend_->RepositoryModelUnload(request, FinishLater(reactor, response));
  return reactor;
}

}  // namespace tessera::coordinator
