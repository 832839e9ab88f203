#include "common/server_authorization.h"

#include <utility>

#include "absl/strings/str_cat.h"
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
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, MakeServerCredentials(options));
  if (options.insecure) return credentials;
  TESSERA_ASSIGN_OR_RETURN(AuthorizationPolicy policy, AuthorizationPolicyFor(server_role));
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<grpc::experimental::AuthorizationPolicyProviderInterface> provider,
                           MakeAuthorizationPolicyProvider(policy));
  builder->experimental().SetAuthorizationPolicyProvider(std::move(provider));
  return credentials;
}

}  // namespace tessera
