// Who may call what on a Tessera server, written in gRPC's authorization
// policy language (the "gRPC authz policy" JSON: name, deny_rules,
// allow_rules; each rule a source.principals list and a request.paths list).
// common/server_authorization.h installs a policy on a server.
//
// gRPC's engine evaluates it (common/server_authorization.h): principals are
// matched against the verified peer certificate's URI SANs
// (spiffe://tessera/<role>, see common/node_role.h), then its DNS SANs, then
// its subject; "*" means any authenticated peer. Paths are full method names;
// a trailing "*" matches a prefix, e.g. "/tessera.worker.Worker/*" every
// method of the service. Deny rules win over allow rules; a call that no allow
// rule matches is refused with PERMISSION_DENIED. A rule without principals
// matches any peer, one without paths any method.
//
// Worker server ("tessera_worker"):
//   allow coordinator_calls_worker: spiffe://tessera/coordinator ->
//         /tessera.worker.Worker/*
//   allow worker_forwards_to_worker: spiffe://tessera/worker ->
//         /tessera.worker.Worker/Execute only (DIRECT stage forwarding: a
//         worker hands a micro-batch to the next stage's worker; loading,
//         unloading and Status stay the coordinator's)
//   allow health_and_reflection:    any authenticated peer ->
//         /grpc.health.v1.Health/*, /grpc.reflection.v1alpha.ServerReflection/*,
//         /grpc.reflection.v1.ServerReflection/*
//   everything else is denied: clients may not drive workers, and workers
//   may not load, unload or inspect each other.
//
// Coordinator server ("tessera_coordinator"):
//   deny  repository_changes_by_operators_only: spiffe://tessera/coordinator ->
//         /inference.GRPCInferenceService/RepositoryModelLoad and
//         /inference.GRPCInferenceService/RepositoryModelUnload
//         (a coordinator replica may forward inference but never changes what
//         a peer serves; operators change the repository with client
//         certificates)
//   allow inference: spiffe://tessera/client, spiffe://tessera/coordinator ->
//         /inference.GRPCInferenceService/*
//   allow cluster_status: spiffe://tessera/client, spiffe://tessera/coordinator ->
//         /tessera.status.ClusterStatus/* (read-only, `tessera status`)
//   allow health_and_reflection: as on workers
//   everything else is denied; worker certificates in particular get nothing
//   but health and reflection.
//
// Coordinator server with bearer tokens ("tessera_coordinator_bearer_tokens",
// --client-auth=token; common/bearer_token_auth.h): no client certificate is
// requested, so callers have no principal; every call has already passed the
// token check when the policy runs. Token holders are clients:
//   allow token_clients: any peer -> /inference.GRPCInferenceService/*,
//         /tessera.status.ClusterStatus/*, health and reflection
//   everything else (the worker service, any other path) is denied.
//
// Thread safety: the types are plain values; the functions are pure.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/node_role.h"

namespace tessera {

struct AuthorizationRule {
  std::string name;
  std::vector<std::string> principals;  // empty: any peer
  std::vector<std::string> paths;       // empty: any method
};

struct AuthorizationPolicy {
  std::string name;
  std::vector<AuthorizationRule> deny_rules;
  std::vector<AuthorizationRule> allow_rules;

  // The policy in gRPC's authz policy JSON, as
  // grpc::experimental::StaticDataAuthorizationPolicyProvider::Create takes it.
  std::string ToJson() const;
};

AuthorizationPolicy WorkerAuthorizationPolicy();
AuthorizationPolicy CoordinatorAuthorizationPolicy();
AuthorizationPolicy CoordinatorTokenAuthorizationPolicy();

// The policy for a server of `server_role`; InvalidArgument for kClient
// (clients serve nothing).
absl::StatusOr<AuthorizationPolicy> AuthorizationPolicyFor(NodeRole server_role);

}  // namespace tessera
