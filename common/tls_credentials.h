// gRPC credentials for Tessera's mutual TLS, from PEM files on disk.
//
// Servers present their certificate and require and verify a client
// certificate signed by the cluster CA
// (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY), except a
// coordinator in bearer-token mode (ClientAuthentication::kBearerToken,
// common/bearer_token_auth.h), which requests none. Channels
// present their certificate and verify the server's against the CA and its
// host name (DNS/IP SAN), optionally checked against an expected name other
// than the dialled host (TlsOptions::expected_server_name). Who may call what
// is decided afterwards by the role's policy (common/server_authorization.h,
// whose ConfigureServerSecurity is the usual way to get server credentials).
//
// Certificates, keys and the CA are read through gRPC's
// FileWatcherCertificateProvider, which re-reads them every
// refresh_interval_seconds: rotating the files on disk (write the key, then the
// certificate, each with an atomic rename; see WriteKeyAndCertificate) takes
// effect for new connections within about one interval, without a restart.
// gRPC checks that the key it read belongs to the certificate before using
// the pair, so a refresh that falls between the two renames keeps the old
// pair until the next one. Existing connections keep the certificate they
// were established with. Credentials made while the files are between those
// two renames start without an identity and fail their handshakes
// ("Failed to create security handshaker") until their first refresh; for a
// process that makes credentials often (a CLI client in a loop), swap a
// directory symlink in one rename instead, as Kubernetes does for secret
// volumes. tests/integration/security_test.cc rotates every node's files
// under load without a failed request.
//
// TLS version: gRPC 1.51 has no public setter for it (no
// TlsCredentialsOptions::set_min_tls_version, no C API either); its TLS
// credentials default to a minimum of TLS 1.2 and a maximum of TLS 1.3, which
// is what Tessera wants. tests/common/tls_credentials_test.cc checks that
// TLS 1.0 and 1.1 clients are refused, so a gRPC upgrade that changed the
// default would be noticed.
//
// Insecure mode (--insecure) returns gRPC's insecure credentials and writes a
// warning to stderr. Insecure peers have no identity, so the authorization
// policy must not be installed in that mode (it would deny every call).
//
// Cost: every set of credentials made here owns a file watcher with its own
// refresh thread. Make channel credentials once per process and share them
// across channels rather than once per channel.
//
// Thread safety: the functions are thread-safe; the returned credentials are
// shared, immutable handles.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/node_role.h"

namespace tessera {

// The three PEM files a node needs.
struct TlsFiles {
  std::string ca;    // the cluster CA certificate
  std::string cert;  // this node's certificate (chain)
  std::string key;   // this node's private key

  // DIR/ca.pem, DIR/<role>.pem, DIR/<role>.key: the layout `tessera certs`
  // writes.
  static TlsFiles InDirectory(absl::string_view dir, NodeRole role);
};

// How a server authenticates the peers that call it.
enum class ClientAuthentication {
  // Mutual TLS: a client certificate signed by the cluster CA is required;
  // the role in it decides what the caller may do. The default.
  kCertificate,
  // Server-side TLS only (no client certificate requested) plus a bearer
  // token on every call, from bearer_tokens_file (common/bearer_token_auth.h).
  // For the coordinator's client port; callers get the client role's paths.
  kBearerToken,
};

struct TlsOptions {
  // Channels may leave cert and key empty: the channel then presents no
  // certificate (a bearer-token client), and only the CA is read.
  TlsFiles files;
  // Plaintext, no authentication. For local experiments only.
  bool insecure = false;
  // How often the file watcher re-reads the files. At least 1.
  unsigned int refresh_interval_seconds = 60;
  // Channels only: the name the server certificate must carry instead of the
  // host in the target, e.g. "localhost" while dialling 127.0.0.1:PORT.
  // Empty: the target's host.
  std::string expected_server_name;
  // Servers only: see ClientAuthentication. The tokens file is re-read every
  // refresh_interval_seconds too.
  ClientAuthentication client_authentication = ClientAuthentication::kCertificate;
  std::string bearer_tokens_file;
  // Channels only: a file holding this client's bearer token
  // (ReadBearerTokenFile); when set, every call carries
  // "authorization: Bearer <token>". Needs TLS.
  std::string bearer_token_file;
};

// Checks up front, with a message naming the file, what gRPC would otherwise
// report vaguely at the first handshake: each file exists and is readable,
// the CA and certificate parse as PEM certificates, the key parses, and the
// key belongs to the certificate. With cert and key both empty (a channel
// without a certificate), only the CA.
absl::Status ValidateTlsFiles(const TlsFiles& files);

// Server credentials; InvalidArgument/NotFound from ValidateTlsFiles, or when
// the certificate or key is not given. In kBearerToken mode no client
// certificate is requested; the token check itself is installed by
// ConfigureServerSecurity (common/server_authorization.h).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsOptions& options);

// Channel credentials. With bearer_token_file, TLS credentials composed with
// the token as call credentials (read once, here). The expected server name is a channel argument, not
// part of the credentials: apply it with ApplyChannelSecurityArguments, or use
// MakeChannel which does both.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsOptions& options);

// Sets GRPC_SSL_TARGET_NAME_OVERRIDE_ARG from expected_server_name (secure
// mode, non-empty name only).
void ApplyChannelSecurityArguments(const TlsOptions& options, grpc::ChannelArguments* arguments);

// A channel to `target` ("host:port") with the credentials and arguments
// above added to `arguments`.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target, const TlsOptions& options,
                                                            grpc::ChannelArguments arguments = {});

}  // namespace tessera
