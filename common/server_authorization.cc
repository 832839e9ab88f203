#include "common/server_authorization.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera {
namespace {

std::vector<std::string> PropertyValues(const grpc::AuthContext& context, const char* name) {
  std::vector<std::string> values;
  for (const grpc::string_ref& value : context.FindPropertyValues(name)) values.emplace_back(value.data(), value.size());
  return values;
}

// Evaluates the policy in gRPC's server auth filter, once per call.
class PolicyEnforcingProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit PolicyEnforcingProcessor(AuthorizationPolicy policy) : policy_(std::move(policy)) {}

  // Cheap and non-blocking: runs inline on the transport's thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context, OutputMetadata* /*consumed*/,
                       OutputMetadata* /*response*/) override {
    auto path = metadata.find(":path");
    if (path == metadata.end()) return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "call without a method path");
    const absl::string_view method(path->second.data(), path->second.size());
    if (!IsAllowed(policy_, PeerIdentityFromAuthContext(*context), method)) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          absl::StrCat("Unauthorized RPC request rejected by policy ", policy_.name));
    }
    return grpc::Status::OK;
  }

 private:
  const AuthorizationPolicy policy_;
};

}  // namespace

PeerIdentity PeerIdentityFromAuthContext(const grpc::AuthContext& context) {
  PeerIdentity peer;
  const std::vector<std::string> security = PropertyValues(context, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  peer.authenticated = context.IsPeerAuthenticated() && !security.empty() &&
                       (security[0] == GRPC_SSL_TRANSPORT_SECURITY_TYPE || security[0] == GRPC_TLS_TRANSPORT_SECURITY_TYPE);
  peer.uri_sans = PropertyValues(context, GRPC_PEER_URI_PROPERTY_NAME);
  peer.dns_sans = PropertyValues(context, GRPC_PEER_DNS_PROPERTY_NAME);
  const std::vector<std::string> subject = PropertyValues(context, GRPC_X509_SUBJECT_PROPERTY_NAME);
  if (!subject.empty()) peer.subject = subject[0];
  return peer;
}

bool UsesGrpcAuthorizationEngine() {
#if TESSERA_HAVE_GRPCPP_AUTHZ
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::shared_ptr<grpc::experimental::AuthorizationPolicyProviderInterface>>
MakeAuthorizationPolicyProvider(const AuthorizationPolicy& policy) {
#if TESSERA_HAVE_GRPCPP_AUTHZ
  grpc::Status status;
  std::shared_ptr<grpc::experimental::StaticDataAuthorizationPolicyProvider> provider =
      grpc::experimental::StaticDataAuthorizationPolicyProvider::Create(policy.ToJson(), &status);
  if (!status.ok() || provider == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("gRPC rejected authorization policy ", policy.name, ": ", status.error_message()));
  }
  return provider;
#else
  return absl::UnimplementedError(absl::StrCat("authorization policy ", policy.name,
                                               ": this gRPC build has no libgrpcpp_authz (StaticDataAuthorization"
                                               "PolicyProvider); the policy is enforced by the auth filter instead"));
#endif
}

absl::Status InstallAuthorizationPolicy(const AuthorizationPolicy& policy,
                                        const std::shared_ptr<grpc::ServerCredentials>& tls_credentials,
                                        grpc::ServerBuilder* builder) {
  if (UsesGrpcAuthorizationEngine()) {
    TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<grpc::experimental::AuthorizationPolicyProviderInterface> provider,
                             MakeAuthorizationPolicyProvider(policy));
    builder->experimental().SetAuthorizationPolicyProvider(std::move(provider));
    return absl::OkStatus();
  }
  tls_credentials->SetAuthMetadataProcessor(std::make_shared<PolicyEnforcingProcessor>(policy));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ConfigureServerSecurity(NodeRole server_role,
                                                                                const TlsOptions& options,
                                                                                grpc::ServerBuilder* builder) {
  TESSERA_ASSIGN_OR_RETURN(AuthorizationPolicy policy, AuthorizationPolicyFor(server_role));
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, MakeServerCredentials(options));
  if (options.insecure) return credentials;
  TESSERA_RETURN_IF_ERROR(InstallAuthorizationPolicy(policy, credentials, builder));
  return credentials;
}

}  // namespace tessera
