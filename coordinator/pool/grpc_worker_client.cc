#include "coordinator/pool/grpc_worker_client.h"

#include <algorithm>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/client_callback.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace tessera::coordinator {
namespace {

void SetDeadline(grpc::ClientContext* context, absl::Time deadline) {
  if (deadline != absl::InfiniteFuture()) context->set_deadline(absl::ToChronoTime(deadline));
}

template <typename Response>
absl::StatusOr<Response> Result(const grpc::Status& status, Response* response) {
  if (!status.ok()) return FromGrpcStatus(status);
  return std::move(*response);
}

// One unary call: everything gRPC reads or writes until the callback runs.
template <typename Request, typename Response>
struct UnaryCall {
  std::shared_ptr<worker::Worker::Stub> stub;  // keeps the channel alive
  grpc::ClientContext context;
  std::shared_ptr<const Request> request;
  Response response;
  WorkerClient::Callback<Response> done;
};

// Starts a unary call through `method`(stub, context, request, response,
// callback) on a heap state that the completion callback owns and releases.
// `canceller` (may be null) can cancel the call (TryCancel) while it runs.
template <typename Request, typename Response, typename Method>
void StartUnary(const std::shared_ptr<worker::Worker::Stub>& stub, Method method,
                std::shared_ptr<const Request> request, absl::Time deadline, WorkerClient::Callback<Response> done,
                std::shared_ptr<CallCanceller> canceller = nullptr) {
  auto call = std::make_shared<UnaryCall<Request, Response>>();
  call->stub = stub;
  call->request = std::move(request);
  call->done = std::move(done);
  SetDeadline(&call->context, deadline);
  UnaryCall<Request, Response>* raw = call.get();
  // Held weakly: a cancel that comes after the call ended finds nothing.
  std::weak_ptr<UnaryCall<Request, Response>> weak = call;
  method(stub.get(), &raw->context, raw->request.get(), &raw->response,
         [call = std::move(call), canceller](grpc::Status status) mutable {
           if (canceller != nullptr) canceller->Detach();
           // The call's state (context, stub) goes before the caller hears
           // the answer, so nothing of it is left once `done` returns.
           WorkerClient::Callback<Response> done = std::move(call->done);
           absl::StatusOr<Response> result = Result(status, &call->response);
           call.reset();
           done(std::move(result));
         });
  // Attached once the call started (TryCancel before that would be lost).
  if (canceller != nullptr) {
    canceller->Attach([weak] {
      if (auto live = weak.lock()) live->context.TryCancel();
    });
  }
}

// One LoadPartition stream: the header, then chunks of the bytes. gRPC calls
// the reactions in order and OnDone last; the reactor owns itself (`self_`)
// until OnDone, which releases it after calling `done`.
class LoadPartitionCall final : public grpc::ClientWriteReactor<worker::LoadPartitionRequest> {
 public:
  static void Start(std::shared_ptr<worker::Worker::Stub> stub, const worker::PartitionHeader& header,
                    std::shared_ptr<const std::string> bytes, size_t chunk_bytes, absl::Time deadline,
                    WorkerClient::Callback<worker::LoadPartitionResponse> done) {
    auto call = std::make_unique<LoadPartitionCall>(std::move(stub), std::move(bytes), chunk_bytes, std::move(done));
    LoadPartitionCall* raw = call.get();
    raw->self_ = std::move(call);
    SetDeadline(&raw->context_, deadline);
    raw->stub_->async()->LoadPartition(&raw->context_, &raw->response_, raw);
    *raw->request_.mutable_header() = header;
    raw->StartWrite(&raw->request_);
    raw->StartCall();
  }

  // Use Start.
  LoadPartitionCall(std::shared_ptr<worker::Worker::Stub> stub, std::shared_ptr<const std::string> bytes,
                    size_t chunk_bytes, WorkerClient::Callback<worker::LoadPartitionResponse> done)
      : stub_(std::move(stub)),
        bytes_(std::move(bytes)),
        chunk_bytes_(std::max<size_t>(chunk_bytes, 1)),
        done_(std::move(done)) {}

  void OnWriteDone(bool ok) override {
    // A failed write means the stream is over (the worker answered early, or
    // the call failed); OnDone brings the status.
    if (!ok) return;
    const size_t size = bytes_ == nullptr ? 0 : bytes_->size();
    if (offset_ >= size) {
      StartWritesDone();
      return;
    }
    const size_t n = std::min(chunk_bytes_, size - offset_);
    request_.set_chunk(bytes_->data() + offset_, n);
    offset_ += n;
    StartWrite(&request_);
  }

  void OnDone(const grpc::Status& status) override {
    // Released before the caller hears the answer (see StartUnary).
    WorkerClient::Callback<worker::LoadPartitionResponse> done = std::move(done_);
    absl::StatusOr<worker::LoadPartitionResponse> result = Result(status, &response_);
    self_.reset();  // `this` is gone from here on
    done(std::move(result));
  }

 private:
  const std::shared_ptr<worker::Worker::Stub> stub_;
  const std::shared_ptr<const std::string> bytes_;
  const size_t chunk_bytes_;
  WorkerClient::Callback<worker::LoadPartitionResponse> done_;
  grpc::ClientContext context_;
  worker::LoadPartitionRequest request_;
  worker::LoadPartitionResponse response_;
  size_t offset_ = 0;
  std::unique_ptr<LoadPartitionCall> self_;
};

}  // namespace

GrpcWorkerClient::GrpcWorkerClient(std::string address, std::shared_ptr<grpc::ChannelInterface> channel,
                                   const Options& options)
    : address_(std::move(address)), options_(options), stub_(worker::Worker::NewStub(std::move(channel))) {}

grpc::ChannelArguments GrpcWorkerClient::ChannelArguments(const Options& options) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(options.max_message_bytes);
  arguments.SetMaxSendMessageSize(options.max_message_bytes);
  const int min_backoff_ms = static_cast<int>(absl::ToInt64Milliseconds(options.min_reconnect_backoff));
  const int max_backoff_ms =
      std::max(min_backoff_ms, static_cast<int>(absl::ToInt64Milliseconds(options.max_reconnect_backoff)));
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, min_backoff_ms);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, min_backoff_ms);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  return arguments;
}

void GrpcWorkerClient::LoadPartition(const worker::PartitionHeader& header,
                                     std::shared_ptr<const std::string> onnx_bytes, absl::Time deadline,
                                     Callback<worker::LoadPartitionResponse> done) {
  LoadPartitionCall::Start(stub_, header, std::move(onnx_bytes), options_.chunk_bytes, deadline, std::move(done));
}

void GrpcWorkerClient::Execute(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                               Callback<worker::ExecuteResponse> done) {
  ExecuteCancellable(std::move(request), deadline, nullptr, std::move(done));
}

void GrpcWorkerClient::ExecuteCancellable(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                                          std::shared_ptr<CallCanceller> canceller,
                                          Callback<worker::ExecuteResponse> done) {
  StartUnary<worker::ExecuteRequest, worker::ExecuteResponse>(
      stub_,
      [](worker::Worker::Stub* stub, grpc::ClientContext* context, const worker::ExecuteRequest* request,
         worker::ExecuteResponse* response, std::function<void(grpc::Status)> callback) {
        stub->async()->Execute(context, request, response, std::move(callback));
      },
      std::move(request), deadline, std::move(done), std::move(canceller));
}

void GrpcWorkerClient::Status(absl::Time deadline, Callback<worker::StatusResponse> done) {
  StartUnary<worker::StatusRequest, worker::StatusResponse>(
      stub_,
      [](worker::Worker::Stub* stub, grpc::ClientContext* context, const worker::StatusRequest* request,
         worker::StatusResponse* response, std::function<void(grpc::Status)> callback) {
        stub->async()->Status(context, request, response, std::move(callback));
      },
      std::make_shared<const worker::StatusRequest>(),
      deadline, std::move(done));
}

void GrpcWorkerClient::Unload(const std::string& partition_id, absl::Time deadline,
                              Callback<worker::UnloadResponse> done) {
  auto request = std::make_shared<worker::UnloadRequest>();
  request->set_partition_id(partition_id);
  StartUnary<worker::UnloadRequest, worker::UnloadResponse>(
      stub_,
      [](worker::Worker::Stub* stub, grpc::ClientContext* context, const worker::UnloadRequest* request,
         worker::UnloadResponse* response, std::function<void(grpc::Status)> callback) {
        stub->async()->Unload(context, request, response, std::move(callback));
      },
      std::move(request), deadline, std::move(done));
}

void GrpcWorkerClient::Profile(const worker::ProfileRequest& request, absl::Time deadline,
                               Callback<worker::ProfileResponse> done) {
  StartUnary<worker::ProfileRequest, worker::ProfileResponse>(
      stub_,
      [](worker::Worker::Stub* stub, grpc::ClientContext* context, const worker::ProfileRequest* request,
         worker::ProfileResponse* response, std::function<void(grpc::Status)> callback) {
        stub->async()->Profile(context, request, response, std::move(callback));
      },
      std::make_shared<worker::ProfileRequest>(request), deadline, std::move(done));
}

absl::StatusOr<GrpcWorkerClientFactory> MakeGrpcWorkerClientFactory(const TlsOptions& tls,
                                                                    const GrpcWorkerClient::Options& options) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  return GrpcWorkerClientFactory(
      [credentials = *std::move(credentials), tls, options](
          const WorkerEndpoint& endpoint) -> absl::StatusOr<std::unique_ptr<WorkerClient>> {
        const std::string& address = endpoint.address;
        grpc::ChannelArguments arguments = GrpcWorkerClient::ChannelArguments(options);
        TlsOptions channel_tls = tls;
        if (!endpoint.tls_server_name.empty()) channel_tls.expected_server_name = endpoint.tls_server_name;
        ApplyChannelSecurityArguments(channel_tls, &arguments);
        std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(address, credentials, arguments);
        if (channel == nullptr) return absl::InternalError(absl::StrCat("no channel to ", address));
        return std::make_unique<GrpcWorkerClient>(address, std::move(channel), options);
      });
}

}  // namespace tessera::coordinator
