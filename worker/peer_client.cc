#include "worker/peer_client.h"

#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/client_callback.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace tessera::worker {
namespace {

// Everything one call needs until its callback runs.
struct Call {
  std::shared_ptr<Worker::Stub> stub;
  grpc::ClientContext context;
  std::shared_ptr<const ExecuteRequest> request;
  ExecuteResponse response;
  PeerClient::Done done;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcPeerClient>> GrpcPeerClient::Create(const TlsOptions& tls,
                                                                       int max_message_bytes) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  return std::make_unique<GrpcPeerClient>(tls, *std::move(credentials), max_message_bytes);
}

std::shared_ptr<Worker::Stub> GrpcPeerClient::StubFor(const std::string& address,
                                                      const std::string& tls_server_name) {
  const std::string key = absl::StrCat(address, "\n", tls_server_name);
  absl::MutexLock lock(&mu_);
  auto it = stubs_.find(key);
  if (it != stubs_.end()) return it->second;
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(max_message_bytes_);
  arguments.SetMaxSendMessageSize(max_message_bytes_);
  TlsOptions channel_tls = tls_;
  channel_tls.expected_server_name = tls_server_name;
  ApplyChannelSecurityArguments(channel_tls, &arguments);
  std::shared_ptr<Worker::Stub> stub = Worker::NewStub(grpc::CreateCustomChannel(address, credentials_, arguments));
  stubs_.emplace(key, stub);
  return stub;
}

void GrpcPeerClient::Execute(const std::string& address, const std::string& tls_server_name,
                             std::shared_ptr<const ExecuteRequest> request, absl::Time deadline, Done done) {
  auto call = std::make_shared<Call>();
  call->stub = StubFor(address, tls_server_name);
  call->request = std::move(request);
  call->done = std::move(done);
  if (deadline != absl::InfiniteFuture()) call->context.set_deadline(absl::ToChronoTime(deadline));
  Call* raw = call.get();
  raw->stub->async()->Execute(&raw->context, raw->request.get(), &raw->response,
                              [call = std::move(call)](grpc::Status status) mutable {
                                Done done = std::move(call->done);
                                absl::StatusOr<ExecuteResponse> result =
                                    status.ok() ? absl::StatusOr<ExecuteResponse>(std::move(call->response))
                                                : absl::StatusOr<ExecuteResponse>(FromGrpcStatus(status));
                                call.reset();
                                done(std::move(result));
                              });
}

}  // namespace tessera::worker
