// Puts a server behind mutual TLS and its role's authorization policy
// (common/authorization_policy.h), so no handler ever sees a call the policy
// refuses.
//
// Enforcement uses gRPC's authorization policy engine when the build has it:
// the policy's JSON goes to grpc::experimental::StaticDataAuthorizationPolicyProvider
// and ServerBuilder::experimental().SetAuthorizationPolicyProvider. That
// provider lives in upstream's libgrpcpp_authz, which Debian 12's gRPC 1.51
// packages do not ship (libgrpc.so has the authz filter but neither the
// provider nor the policy translator). CMake looks for the library and defines
// TESSERA_HAVE_GRPCPP_AUTHZ when it is found. Without it, the same policy is
// enforced inside gRPC's server auth filter: an AuthMetadataProcessor on the
// server credentials evaluates it (IsAllowed) for every call, after the TLS
// handshake and before any service (health included) runs, from the verified
// peer's auth context and the call's :path, and refuses with
// PERMISSION_DENIED. Both paths evaluate the same rules with the same
// matching semantics.
//
// Thread safety: the installed policy is immutable and evaluated concurrently.
#pragma once

#include <memory>

#include <grpcpp/security/auth_context.h>
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
// `server_role`'s policy installed. The one call a server's main needs:
//   auto credentials = ConfigureServerSecurity(NodeRole::kWorker, tls, &builder);
//   builder.AddListeningPort(address, *credentials);
// In insecure mode: insecure credentials and no policy (peers have no
// identity; the policy would refuse everything).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ConfigureServerSecurity(NodeRole server_role,
                                                                                const TlsOptions& options,
                                                                                grpc::ServerBuilder* builder);

// Installs `policy` for calls arriving through `tls_credentials`, which must
// be TLS credentials from MakeServerCredentials (never insecure ones), before
// builder->BuildAndStart().
absl::Status InstallAuthorizationPolicy(const AuthorizationPolicy& policy,
                                        const std::shared_ptr<grpc::ServerCredentials>& tls_credentials,
                                        grpc::ServerBuilder* builder);

// True when gRPC's own engine enforces policies (TESSERA_HAVE_GRPCPP_AUTHZ).
bool UsesGrpcAuthorizationEngine();

// gRPC's provider for `policy`; Unimplemented without libgrpcpp_authz,
// InvalidArgument if gRPC rejects the policy.
absl::StatusOr<std::shared_ptr<grpc::experimental::AuthorizationPolicyProviderInterface>>
MakeAuthorizationPolicyProvider(const AuthorizationPolicy& policy);

// The caller's identity as the TLS handshake established it.
PeerIdentity PeerIdentityFromAuthContext(const grpc::AuthContext& context);

}  // namespace tessera
