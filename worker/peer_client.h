// How a worker calls Execute on another worker, for DIRECT stage forwarding
// (proto/worker.proto, ExecuteRequest.forward): the worker that ran one
// pipeline stage hands the tensors the next stage needs straight to that
// stage's worker instead of returning them to the coordinator.
//
// GrpcPeerClient dials peers over mutual TLS with the worker's own
// certificate as client identity (the worker's authorization policy admits
// worker identities to Execute only, common/authorization_policy.h) and
// keeps one channel per (address, TLS server name), made on first use and
// kept for the process's life (a worker talks to a handful of peers). Tests
// use a fake (tests/worker/fake_peer_client.h).
//
// Execute returns at once; `done` is called exactly once, on a gRPC thread,
// with the peer's answer or the failure (UNAVAILABLE / DEADLINE_EXCEEDED for
// transport problems, the peer's own status otherwise).
//
// Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tls_credentials.h"
#include "proto/worker.grpc.pb.h"

namespace tessera::worker {

class PeerClient {
 public:
  using Done = std::function<void(absl::StatusOr<ExecuteResponse>)>;

  virtual ~PeerClient() = default;

  // Execute `request` on the worker at `address` ("host:port");
  // `tls_server_name`: the name its certificate must carry when it is not
  // the host of `address` (empty: that host). `request` stays alive until
  // `done` runs.
  virtual void Execute(const std::string& address, const std::string& tls_server_name,
                       std::shared_ptr<const ExecuteRequest> request, absl::Time deadline, Done done) = 0;
};

class GrpcPeerClient final : public PeerClient {
 public:
  // `tls`: the worker's own files (its certificate is the client identity);
  // insecure when the worker serves insecurely. `max_message_bytes` bounds
  // messages both ways.
  static absl::StatusOr<std::unique_ptr<GrpcPeerClient>> Create(const TlsOptions& tls, int max_message_bytes);

  void Execute(const std::string& address, const std::string& tls_server_name,
               std::shared_ptr<const ExecuteRequest> request, absl::Time deadline, Done done) override;

  // Use Create.
  GrpcPeerClient(TlsOptions tls, std::shared_ptr<grpc::ChannelCredentials> credentials, int max_message_bytes)
      : tls_(std::move(tls)), credentials_(std::move(credentials)), max_message_bytes_(max_message_bytes) {}

 private:
  std::shared_ptr<Worker::Stub> StubFor(const std::string& address, const std::string& tls_server_name);

  const TlsOptions tls_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const int max_message_bytes_;
  absl::Mutex mu_;
  // Key: address + '\n' + tls_server_name.
  absl::flat_hash_map<std::string, std::shared_ptr<Worker::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::worker
