// Bearer tokens for clients that cannot present a certificate (off by
// default; `tessera-coordinator --client-auth=token --client-tokens-file F`).
//
// In this mode the coordinator's port is server-side TLS only (no client
// certificate is requested) and every call must carry the metadata
//   authorization: Bearer <token>
// with a token listed in the tokens file. The check runs in gRPC's server
// auth filter, for every call, before authorization and before any handler:
// BearerTokenAuthenticator is a grpc::AuthMetadataProcessor installed on the
// server credentials (common/server_authorization.h does it). A call without
// the header, with another scheme, with more than one authorization value or
// with a token not in the file is refused with UNAUTHENTICATED; the message
// says which of these it was and never repeats what the client sent. The
// header is consumed: handlers never see it, so it cannot reach a log. A
// streaming call (ModelStreamInfer) is checked once, when it starts. Token
// clients are clients: the coordinator's token-mode policy
// (CoordinatorTokenAuthorizationPolicy) gives them the client role's paths
// and nothing else.
//
// Tokens file: UTF-8 text, one token per line. Blank lines and lines whose
// first non-blank character is '#' are ignored; leading and trailing spaces
// and tabs are trimmed. A token is 16 to 4096 printable ASCII characters
// without spaces (what gRPC allows in metadata values, and long enough to
// guess at no better than chance), e.g. `openssl rand -hex 32`. Errors name
// the file and the line number, never a line's contents. Only the tokens'
// SHA-256 digests are kept in memory; a presented token is hashed and
// compared with every digest in constant time (CRYPTO_memcmp, no early exit).
//
// Rotation: the file is re-read every refresh interval (like the certificates,
// common/tls_credentials.h); a token added becomes valid and a token removed
// is refused from then on, for calls on existing connections too. Replace the
// file atomically (write a new file and rename it over the old one). If a
// re-read fails (file missing, unreadable, a bad line), the tokens read last
// stay in force and a warning naming the file is logged; a file that has no
// token at all refuses every call (revocation). At start-up the file must
// hold at least one token.
//
// Thread safety: Process and Authenticate may run on many threads at once
// while the refresh thread swaps the token set.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/security/auth_metadata_processor.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace tessera {

// The metadata key (lower case, as gRPC delivers it) and the scheme.
inline constexpr char kAuthorizationMetadataKey[] = "authorization";
inline constexpr char kBearerScheme[] = "Bearer";
inline constexpr size_t kMinBearerTokenLength = 16;
inline constexpr size_t kMaxBearerTokenLength = 4096;

// The SHA-256 digests of a tokens file's tokens.
class BearerTokenSet {
 public:
  // Parses a tokens file's contents (format above). `source` (the path)
  // names the file in errors: InvalidArgument with the line number.
  static absl::StatusOr<BearerTokenSet> Parse(absl::string_view contents, absl::string_view source);

  // Whether `token` is one of the set; time independent of where (or
  // whether) it matches.
  bool Contains(absl::string_view token) const;
  size_t size() const { return digests_.size(); }

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

// The token of a client's token file (`tessera infer --token-file F`): the
// first line that is not blank or a '#' comment, trimmed; the same rules as a
// line of the server's file. Errors name the file, never its contents.
absl::StatusOr<std::string> ReadBearerTokenFile(const std::string& path);

class BearerTokenAuthenticator : public grpc::AuthMetadataProcessor {
 public:
  struct Options {
    std::string tokens_file;
    // How often the file is re-read; at least one second.
    absl::Duration refresh_interval = absl::Seconds(60);
    // Tests: no refresh thread; Reload() re-reads on demand.
    bool start_refresh_thread = true;
  };

  // Reads the file (it must hold at least one token) and starts the refresh
  // thread. NotFound / InvalidArgument name the file.
  static absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> Create(Options options);

  ~BearerTokenAuthenticator() override;
  BearerTokenAuthenticator(const BearerTokenAuthenticator&) = delete;
  BearerTokenAuthenticator& operator=(const BearerTokenAuthenticator&) = delete;

  // The check on the values of the authorization metadata of one call: OK, or
  // Unauthenticated with a message that does not contain the values.
  absl::Status Authenticate(const std::vector<absl::string_view>& authorization_values) const;

  // Re-reads the file now. On error the previous tokens stay in force and the
  // error is returned (the refresh thread logs it).
  absl::Status Reload();

  // How many tokens are in force.
  size_t token_count() const;

  // grpc::AuthMetadataProcessor: cheap (a hash and a few compares), so it
  // runs inline on gRPC's thread.
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

 private:
  explicit BearerTokenAuthenticator(Options options, BearerTokenSet tokens);
  void RefreshLoop();

  const Options options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const BearerTokenSet> tokens_ ABSL_GUARDED_BY(mu_);
  std::string last_contents_digest_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace tessera
