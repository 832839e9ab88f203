#include "coordinator/status/cluster_status_service.h"

namespace tessera::coordinator {

grpc::ServerUnaryReactor* ClusterStatusService::GetStatus(grpc::CallbackServerContext* context,
                                                          const status::GetStatusRequest* /*request*/,
                                                          status::GetStatusResponse* response) {
  *response = source_();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace tessera::coordinator
