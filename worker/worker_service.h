// The tessera.worker.Worker gRPC service (proto/worker.proto): thin
// callback-API handlers over WorkerCore. Each handler translates the
// request, hands the work to the core (which runs it off the gRPC threads)
// and converts the status; nothing blocks a gRPC thread.
//
// Access control is not here: the server's authorization policy admits
// coordinators to every method and other workers to Execute only (DIRECT
// stage forwarding; common/authorization_policy.h).
#pragma once

#include "proto/worker.grpc.pb.h"
#include "worker/worker_core.h"

namespace tessera::worker {

class WorkerService final : public Worker::CallbackService {
 public:
  // `core` is borrowed and must outlive the server.
  explicit WorkerService(WorkerCore* core) : core_(core) {}

  grpc::ServerReadReactor<LoadPartitionRequest>* LoadPartition(grpc::CallbackServerContext* context,
                                                               LoadPartitionResponse* response) override;
  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context, const ExecuteRequest* request,
                                    ExecuteResponse* response) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context, const StatusRequest* request,
                                   StatusResponse* response) override;
  grpc::ServerUnaryReactor* Unload(grpc::CallbackServerContext* context, const UnloadRequest* request,
                                   UnloadResponse* response) override;
  grpc::ServerUnaryReactor* Profile(grpc::CallbackServerContext* context, const ProfileRequest* request,
                                    ProfileResponse* response) override;

 private:
  WorkerCore* const core_;
};

}  // namespace tessera::worker
