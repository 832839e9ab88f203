// The echo chain: the floor any coordinator stands on. A KServe v2
// inference.GRPCInferenceService that answers every input back as an output
// (the echo server, in a worker's place), and one that forwards to such a
// server over one mutual-TLS hop (the relay, in a coordinator's place). With
// the real certificates and authorization policies, a client -> relay ->
// server round trip costs what the cluster's transport costs before any
// scheduling or compute; bench/cluster/ measures the coordinator against it.
//
// Roles: the server presents the worker certificate and enforces
// EchoServerAuthorizationPolicy (the worker policy with the inference service
// in place of tessera.worker.Worker: same rules, same principals); the relay
// presents the coordinator certificate, enforces the real coordinator
// policy, and calls the server with coordinator client credentials.
//
// Thread safety: the services are immutable after construction; the relay's
// stub is thread-safe. Handlers never block: the relay uses gRPC's callback
// client API (no thread per request).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/authorization_policy.h"
#include "common/tls_credentials.h"
#include "grpcpp/grpcpp.h"
#include "proto/inference.grpc.pb.h"

namespace tessera::bench {

// Input name -> output name.
using EchoMapping = std::vector<std::pair<std::string, std::string>>;

// "x=y,a=b" -> {{"x","y"},{"a","b"}}. InvalidArgument names the bad entry
// (empty names, a missing '=', an input or output named twice, nothing at all).
absl::StatusOr<EchoMapping> ParseEchoMapping(absl::string_view text);

struct EchoModel {
  std::string name = "echo";
  EchoMapping mapping = {{"x", "y"}};
  int64_t features = 16;  // metadata dims [-1, features], datatype FP32
};

// The echo server. ModelInfer: every input becomes an output named by the
// mapping (an input the mapping does not name keeps its name) with the same
// datatype, shape, typed contents and raw bytes (copied: the request is
// const). ModelMetadata / ModelConfig describe the model; ServerLive /
// ServerReady are true. A request for another model name is NOT_FOUND.
// Every other method is UNIMPLEMENTED.
class EchoInferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit EchoInferenceService(EchoModel model) : model_(std::move(model)) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

 private:
  const EchoModel model_;
};

// The relay. ModelInfer, ModelMetadata and ModelConfig go to the upstream
// stub unchanged (the request is passed by pointer and the upstream answer
// is written straight into the response: no copies), with the caller's
// deadline; the upstream status comes back as is. ServerLive / ServerReady
// are answered locally (true). Every other method is UNIMPLEMENTED.
class RelayInferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit RelayInferenceService(std::unique_ptr<inference::GRPCInferenceService::Stub> upstream)
      : upstream_(std::move(upstream)) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

 private:
  std::unique_ptr<inference::GRPCInferenceService::Stub> upstream_;
};

// The worker's policy (common/authorization_policy.h) with its
// coordinator_calls_worker rule allowing /inference.GRPCInferenceService/*
// instead of /tessera.worker.Worker/*: only coordinator certificates may
// call the echo server (plus health and reflection for anyone authenticated).
AuthorizationPolicy EchoServerAuthorizationPolicy();

// A channel to the upstream echo server as the coordinator dials a worker:
// `tls` (the coordinator's files) for credentials, the coordinator's message
// size limit, `expected_server_name` when set.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeRelayChannel(const std::string& upstream, const TlsOptions& tls,
                                                                 int max_message_bytes);

}  // namespace tessera::bench
