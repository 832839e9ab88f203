#include "worker/worker_service.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace tessera::worker {
namespace {

// The caller's deadline (forwarded to the next hop of a chained Execute).
absl::Time CallDeadline(const grpc::CallbackServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

// Reads one LoadPartition stream: the header, then chunks into a
// PartitionUpload; at the end of the stream the core checks and loads it.
// gRPC owns the reactor's lifetime contract: OnDone is the last call, and
// the reactor releases itself there through `self_`.
class LoadPartitionReactor final : public grpc::ServerReadReactor<LoadPartitionRequest> {
 public:
  static LoadPartitionReactor* Start(WorkerCore* core, LoadPartitionResponse* response) {
    auto reactor = std::make_unique<LoadPartitionReactor>(core, response);
    LoadPartitionReactor* raw = reactor.get();
    raw->self_ = std::move(reactor);
    raw->StartRead(&raw->request_);
    return raw;
  }

  void OnReadDone(bool ok) override {
    if (!ok) return EndOfStream();
    core_->metrics().load_bytes_received().Increment(static_cast<double>(request_.ByteSizeLong()));
    if (!upload_.has_value()) {
      if (!request_.has_header()) {
        return Finish(ToGrpcStatus(absl::InvalidArgumentError(
            "the first LoadPartition message must carry the header, not a chunk")));
      }
      bool done = false;
      absl::Status begun = core_->BeginLoad(request_.header(), response_, &done);
      if (!begun.ok()) return Finish(ToGrpcStatus(begun));
      if (done) return Finish(grpc::Status::OK);  // already loaded
      upload_.emplace(request_.header());
    } else {
      if (request_.has_header()) {
        return Finish(ToGrpcStatus(absl::InvalidArgumentError(
            absl::StrCat("partition ", upload_->header().partition_id(), ": a second header in the stream"))));
      }
      absl::Status appended = upload_->Append(request_.chunk());
      if (!appended.ok()) return Finish(ToGrpcStatus(appended));
    }
    StartRead(&request_);
  }

  void OnDone() override { self_.reset(); }

  // Use Start.
  LoadPartitionReactor(WorkerCore* core, LoadPartitionResponse* response) : core_(core), response_(response) {}

 private:
  void EndOfStream() {
    if (!upload_.has_value()) {
      return Finish(ToGrpcStatus(absl::InvalidArgumentError("LoadPartition stream ended without a header")));
    }
    core_->FinishLoad(*std::move(upload_), response_, [this](absl::Status status) { Finish(ToGrpcStatus(status)); });
  }

  WorkerCore* const core_;
  LoadPartitionResponse* const response_;
  LoadPartitionRequest request_;
  std::optional<PartitionUpload> upload_;
  std::unique_ptr<LoadPartitionReactor> self_;
};

}  // namespace

grpc::ServerReadReactor<LoadPartitionRequest>* WorkerService::LoadPartition(grpc::CallbackServerContext* /*context*/,
                                                                            LoadPartitionResponse* response) {
  return LoadPartitionReactor::Start(core_, response);
}

grpc::ServerUnaryReactor* WorkerService::Execute(grpc::CallbackServerContext* context, const ExecuteRequest* request,
                                                 ExecuteResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  WorkerMetrics& metrics = core_->metrics();
  metrics.execute_bytes_received().Increment(static_cast<double>(request->ByteSizeLong()));
  // gRPC made the request for this call alone and does not read it again:
  // its tensor contents may be moved into the engine instead of copied.
  core_->Execute(
      const_cast<ExecuteRequest*>(request), response, [context] { return context->IsCancelled(); },
      CallDeadline(*context), [reactor, response, &metrics](absl::Status status) {
        if (status.ok()) metrics.execute_bytes_sent().Increment(static_cast<double>(response->ByteSizeLong()));
        reactor->Finish(ToGrpcStatus(status));
      });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::Status(grpc::CallbackServerContext* context,
                                                const StatusRequest* /*request*/, StatusResponse* response) {
  *response = core_->Status();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::Unload(grpc::CallbackServerContext* context, const UnloadRequest* request,
                                                UnloadResponse* response) {
  *response = core_->Unload(*request);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::Profile(grpc::CallbackServerContext* context, const ProfileRequest* request,
                                                 ProfileResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->Profile(*request, response, [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

}  // namespace tessera::worker
