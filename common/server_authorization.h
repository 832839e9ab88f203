// Puts a server behind mutual TLS and its role's authorization policy
// (common/authorization_policy.h), so no handler ever sees a call the policy
// refuses.
//
// Enforcement is gRPC's authorization policy engine: the policy's JSON goes to
// grpc::experimental::StaticDataAuthorizationPolicyProvider and
// ServerBuilder::experimental().SetAuthorizationPolicyProvider, so gRPC's
// server authz filter evaluates it for every call, after the TLS handshake and
// before any service (health included) runs, and refuses with
// PERMISSION_DENIED. The provider is upstream's libgrpcpp_authz; Debian 12
// ships its header but not the library, so scripts/build-grpc-authz.sh builds
// it from Debian's source package of the installed gRPC.
//
// Thread safety: the installed policy is immutable and evaluated concurrently.
#pragma once

#include <memory>

#include <grpcpp/security/authorization_policy_provider.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/authorization_policy.h"
#include "common/node_role.h"
#include "common/tls_credentials.h"

namespace tessera {

// Server credentials for `options` (common/tls_credentials.h) with
// `server_role`'s policy installed on `builder`. The one call a server's main
// needs:
//   auto credentials = ConfigureServerSecurity(NodeRole::kWorker, tls, &builder);
//   builder.AddListeningPort(address, *credentials);
// In insecure mode: insecure credentials and no policy (peers have no
// identity; the policy would refuse everything).
// With options.client_authentication == kBearerToken (coordinators only):
// server-side TLS, a BearerTokenAuthenticator on the credentials (it lives as
// long as they do) and CoordinatorTokenAuthorizationPolicy; InvalidArgument
// for another role, with --insecure, or without a tokens file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ConfigureServerSecurity(NodeRole server_role,
                                                                                const TlsOptions& options,
                                                                                grpc::ServerBuilder* builder);

// gRPC's provider for `policy`; InvalidArgument, with gRPC's reason, if gRPC
// rejects the policy.
absl::StatusOr<std::shared_ptr<grpc::experimental::AuthorizationPolicyProviderInterface>>
MakeAuthorizationPolicyProvider(const AuthorizationPolicy& policy);

}  // namespace tessera
