// tessera.status.ClusterStatus (proto/cluster_status.proto): a thin
// callback-API handler that returns the snapshot its source builds
// (BuildClusterStatus over the backend and the pool, in the coordinator's
// main).
//
// Access control is the server's authorization policy
// (common/authorization_policy.h: client and coordinator identities).
// Thread-safe if the source is.
#pragma once

#include <functional>

#include "proto/cluster_status.grpc.pb.h"

namespace tessera::coordinator {

class ClusterStatusService final : public status::ClusterStatus::CallbackService {
 public:
  using Source = std::function<status::GetStatusResponse()>;

  explicit ClusterStatusService(Source source) : source_(std::move(source)) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context, const status::GetStatusRequest* request,
                                      status::GetStatusResponse* response) override;

 private:
  const Source source_;
};

}  // namespace tessera::coordinator
