// WorkerClient over a real gRPC channel (tessera.worker.Worker, usually over
// mutual TLS), with the gRPC callback client API.
//
// Every call carries the caller's deadline; a transport failure arrives as
// the gRPC status converted by FromGrpcStatus (UNAVAILABLE when the worker
// cannot be reached, DEADLINE_EXCEEDED when the deadline passes, the
// worker's own codes otherwise). LoadPartition streams the header, then the
// bytes in `chunk_bytes` pieces; when the worker answers early (already
// loaded, or refused at the header) the client stops writing and returns
// the worker's answer.
//
// Ownership: each call owns its ClientContext, response and request data in
// a heap state released after `done` runs; the state also shares the stub,
// so a GrpcWorkerClient may be destroyed while calls are in flight (they
// still complete and call `done`).
//
// Thread safety: all methods may be called concurrently from any thread;
// `done` runs on a gRPC thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls_credentials.h"
#include "coordinator/pool/worker_client.h"
#include "coordinator/pool/worker_endpoint.h"
#include "proto/worker.grpc.pb.h"

namespace tessera::coordinator {

class GrpcWorkerClient final : public WorkerClient {
 public:
  struct Options {
    // Largest message sent or received (Execute carries whole tensors).
    int max_message_bytes = 512 << 20;
    // Size of the LoadPartition chunks; well under gRPC's 4 MiB default.
    size_t chunk_bytes = 1 << 20;
    // Reconnection backoff after a worker went away: short, so a restarted
    // worker is reached again within about a health interval.
    absl::Duration min_reconnect_backoff = absl::Milliseconds(100);
    absl::Duration max_reconnect_backoff = absl::Seconds(2);
  };

  // A client over `channel` (shared; several clients may use one channel).
  GrpcWorkerClient(std::string address, std::shared_ptr<grpc::ChannelInterface> channel, const Options& options);

  // Channel arguments for `options`: message size limits, reconnect backoff.
  static grpc::ChannelArguments ChannelArguments(const Options& options);

  const std::string& address() const override { return address_; }

  void LoadPartition(const worker::PartitionHeader& header, std::shared_ptr<const std::string> onnx_bytes,
                     absl::Time deadline, Callback<worker::LoadPartitionResponse> done) override;
  void Execute(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
               Callback<worker::ExecuteResponse> done) override;
  // Cancels through grpc::ClientContext::TryCancel.
  void ExecuteCancellable(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                          std::shared_ptr<CallCanceller> canceller, Callback<worker::ExecuteResponse> done) override;
  void Status(absl::Time deadline, Callback<worker::StatusResponse> done) override;
  void Unload(const std::string& partition_id, absl::Time deadline, Callback<worker::UnloadResponse> done) override;
  void Profile(const worker::ProfileRequest& request, absl::Time deadline,
               Callback<worker::ProfileResponse> done) override;

 private:
  const std::string address_;
  const Options options_;
  const std::shared_ptr<worker::Worker::Stub> stub_;
};

// What the worker pool calls to reach a new worker endpoint
// (worker_pool.h's WorkerClientFactory has this signature).
using GrpcWorkerClientFactory =
    std::function<absl::StatusOr<std::unique_ptr<WorkerClient>>(const WorkerEndpoint&)>;

// A factory of GrpcWorkerClients sharing one set of channel credentials,
// made once here from `tls` (each set of credentials owns a file-watcher
// thread; see common/tls_credentials.h). Each endpoint gets its own channel
// to endpoint.address with `tls`'s security arguments and the message limits
// of `options`. An endpoint's tls_server_name, when set, is the name the
// worker's certificate is verified against (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
// in place of tls.expected_server_name): the certificate chain and the name
// are still checked, only the name differs from the dialled IP.
absl::StatusOr<GrpcWorkerClientFactory> MakeGrpcWorkerClientFactory(const TlsOptions& tls,
                                                                    const GrpcWorkerClient::Options& options);

}  // namespace tessera::coordinator
