// The TLS flags of the CLI commands that call a server (tessera infer,
// tessera bench, tessera status): --certs DIR | --ca F --cert F --key F |
// --insecure, --server-name NAME and --token-file F. One of the three modes
// exactly; --ca, --cert and --key go together; --server-name needs TLS.
// Certificates are the client role's.
//
// --token-file F (a coordinator started with --client-auth=token): the client
// presents no certificate and sends "authorization: Bearer <token>" with the
// token read from F (common/bearer_token_auth.h; never from the command line,
// where other users could read it). It needs TLS to trust the server: either
// --ca F alone or --certs DIR (its ca.pem; its client certificate is not
// used). --cert/--key and --insecure do not go with it.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/tls_credentials.h"

namespace tessera::client {

struct ClientTlsFlags {
  std::string certs_dir;    // --certs
  std::string ca, cert, key;  // --ca/--cert/--key
  bool insecure = false;    // --insecure
  std::string server_name;  // --server-name: expected name in the server certificate
  std::string token_file;   // --token-file: bearer token instead of a client certificate

  // Stores the value of --certs, --ca, --cert, --key, --server-name or
  // --token-file and
  // returns true; false (nothing stored) for any other flag.
  bool SetValue(absl::string_view flag, const std::string& value);
  // InvalidArgument naming the rule above that the flags break.
  absl::Status Check() const;
  // The client-role TLS options the flags describe.
  TlsOptions ToTlsOptions() const;
};

}  // namespace tessera::client
