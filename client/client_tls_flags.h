// The TLS flags of the CLI commands that call a server (tessera infer,
// tessera status): --certs DIR | --ca F --cert F --key F | --insecure, and
// --server-name NAME. One of the three modes exactly; --ca, --cert and --key
// go together; --server-name needs TLS. Certificates are the client role's.
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

  // Stores the value of --certs, --ca, --cert, --key or --server-name and
  // returns true; false (nothing stored) for any other flag.
  bool SetValue(absl::string_view flag, const std::string& value);
  // InvalidArgument naming the rule above that the flags break.
  absl::Status Check() const;
  // The client-role TLS options the flags describe.
  TlsOptions ToTlsOptions() const;
};

}  // namespace tessera::client
