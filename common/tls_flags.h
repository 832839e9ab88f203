// The transport-security flags every Tessera server binary accepts:
//   --certs DIR        DIR/ca.pem, DIR/<role>.pem, DIR/<role>.key (`tessera certs`)
//   --ca F --cert F --key F   the same files named one by one (override --certs)
//   --insecure         plaintext, no authentication (a warning is logged)
//   --tls-refresh-seconds N   how often rotated files are re-read (default 60)
// Without --insecure one of --certs or all of --ca/--cert/--key is required.
#pragma once

#include "absl/status/statusor.h"
#include "common/node_role.h"
#include "common/tls_credentials.h"

namespace tessera {

// TLS options for a node of `role` from the flags above (after
// absl::ParseCommandLine). InvalidArgument names the missing flag.
absl::StatusOr<TlsOptions> TlsOptionsFromFlags(NodeRole role);

}  // namespace tessera
