#include "common/server_authorization.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/bearer_token_auth.h"
#include "common/status_macros.h"

namespace tessera {

absl::StatusOr<std::shared_ptr<grpc::experimental::AuthorizationPolicyProviderInterface>>
MakeAuthorizationPolicyProvider(const AuthorizationPolicy& policy) {
  grpc::Status status;
  std::shared_ptr<grpc::experimental::StaticDataAuthorizationPolicyProvider> provider =
      grpc::experimental::StaticDataAuthorizationPolicyProvider::Create(policy.ToJson(), &status);
  if (!status.ok() || provider == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("gRPC rejected authorization policy ", policy.name, ": ", status.error_message()));
  }
  return provider;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ConfigureServerSecurity(NodeRole server_role,
                                                                                const TlsOptions& options,
                                                                                grpc::ServerBuilder* builder) {
  const bool tokens = options.client_authentication == ClientAuthentication::kBearerToken;
  if (tokens) {
    if (server_role != NodeRole::kCoordinator) {
      return absl::InvalidArgumentError(
          absl::StrCat("bearer tokens are for the coordinator's client port, not a ", RoleName(server_role)));
    }
    if (options.insecure) return absl::InvalidArgumentError("bearer tokens need TLS; drop --insecure");
  }
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, MakeServerCredentials(options));
  if (options.insecure) return credentials;
  AuthorizationPolicy policy;
  if (tokens) {
    TESSERA_ASSIGN_OR_RETURN(
        std::shared_ptr<BearerTokenAuthenticator> authenticator,
        BearerTokenAuthenticator::Create({.tokens_file = options.bearer_tokens_file,
                                          .refresh_interval = absl::Seconds(options.refresh_interval_seconds)}));
    credentials->SetAuthMetadataProcessor(authenticator);
    policy = CoordinatorTokenAuthorizationPolicy();
  } else {
    TESSERA_ASSIGN_OR_RETURN(policy, AuthorizationPolicyFor(server_role));
  }
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<grpc::experimental::AuthorizationPolicyProviderInterface> provider,
                           MakeAuthorizationPolicyProvider(policy));
  builder->experimental().SetAuthorizationPolicyProvider(std::move(provider));
  return credentials;
}

}  // namespace tessera
