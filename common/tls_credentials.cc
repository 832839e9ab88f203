#include "common/tls_credentials.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/bearer_token_auth.h"
#include "common/file_contents.h"
#include "common/logging.h"
#include "common/openssl_objects.h"
#include "common/status_macros.h"

namespace tessera {
namespace {

// The one place insecure mode announces itself.
void WarnInsecure(absl::string_view side) {
  TESSERA_LOG(kWarning,
              "--insecure: plaintext gRPC without authentication or authorization; "
              "anyone who can reach the port can call it",
              {{"side", side}});
}

absl::StatusOr<std::string> ReadTlsFile(absl::string_view what, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("no ", what, " file given"));
  absl::StatusOr<std::string> contents = ReadFileToString(path);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(), absl::StrCat(what, ": ", contents.status().message()));
  }
  return contents;
}

std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> MakeProvider(const TlsOptions& options) {
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.files.key, options.files.cert, options.files.ca,
      std::max(1u, options.refresh_interval_seconds));
}

}  // namespace

TlsFiles TlsFiles::InDirectory(absl::string_view dir, NodeRole role) {
  std::string prefix(dir);
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  return {.ca = absl::StrCat(prefix, "ca.pem"),
          .cert = absl::StrCat(prefix, RoleName(role), ".pem"),
          .key = absl::StrCat(prefix, RoleName(role), ".key")};
}

absl::Status ValidateTlsFiles(const TlsFiles& files) {
  TESSERA_ASSIGN_OR_RETURN(std::string ca_pem, ReadTlsFile("CA certificate", files.ca));
  if (files.cert.empty() && files.key.empty()) return ParseCertificatePem(ca_pem, files.ca).status();
  TESSERA_ASSIGN_OR_RETURN(std::string cert_pem, ReadTlsFile("certificate", files.cert));
  TESSERA_ASSIGN_OR_RETURN(std::string key_pem, ReadTlsFile("private key", files.key));
  TESSERA_ASSIGN_OR_RETURN(X509Ptr ca, ParseCertificatePem(ca_pem, files.ca));
  TESSERA_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificatePem(cert_pem, files.cert));
  TESSERA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ParsePrivateKeyPem(key_pem, files.key));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(files.key, ": this private key does not belong to the certificate in ", files.cert));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsOptions& options) {
  if (options.insecure) {
    WarnInsecure("server");
    return grpc::InsecureServerCredentials();
  }
  if (options.files.cert.empty() || options.files.key.empty()) {
    return absl::InvalidArgumentError("a TLS server needs its certificate and private key files");
  }
  TESSERA_RETURN_IF_ERROR(ValidateTlsFiles(options.files));
  grpc::experimental::TlsServerCredentialsOptions tls(MakeProvider(options));
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_cert_request_type(options.client_authentication == ClientAuthentication::kBearerToken
                                ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::experimental::TlsServerCredentials(tls);
  if (credentials == nullptr) return absl::InternalError("grpc::experimental::TlsServerCredentials failed");
  return credentials;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsOptions& options) {
  if (options.insecure) {
    if (!options.bearer_token_file.empty()) {
      return absl::InvalidArgumentError("a bearer token is only sent over TLS, not with --insecure");
    }
    WarnInsecure("client");
    return grpc::InsecureChannelCredentials();
  }
  TESSERA_RETURN_IF_ERROR(ValidateTlsFiles(options.files));
  const bool has_identity = !options.files.cert.empty();
  grpc::experimental::TlsChannelCredentialsOptions tls;
  if (has_identity) {
    tls.set_certificate_provider(MakeProvider(options));
    tls.watch_identity_key_cert_pairs();
  } else {
    tls.set_certificate_provider(std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        options.files.ca, std::max(1u, options.refresh_interval_seconds)));
  }
  tls.watch_root_certs();
  tls.set_verify_server_certs(true);
  // Chain verification against the CA, then the server's DNS/IP SANs against
  // the target name (or GRPC_SSL_TARGET_NAME_OVERRIDE_ARG).
  tls.set_certificate_verifier(std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::experimental::TlsCredentials(tls);
  if (credentials == nullptr) return absl::InternalError("grpc::experimental::TlsCredentials failed");
  if (options.bearer_token_file.empty()) return credentials;
  TESSERA_ASSIGN_OR_RETURN(std::string token, ReadBearerTokenFile(options.bearer_token_file));
  return grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(token));
}

void ApplyChannelSecurityArguments(const TlsOptions& options, grpc::ChannelArguments* arguments) {
  if (options.insecure || options.expected_server_name.empty()) return;
  arguments->SetSslTargetNameOverride(options.expected_server_name);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target, const TlsOptions& options,
                                                            grpc::ChannelArguments arguments) {
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials, MakeChannelCredentials(options));
  ApplyChannelSecurityArguments(options, &arguments);
  return grpc::CreateCustomChannel(target, credentials, arguments);
}

}  // namespace tessera
