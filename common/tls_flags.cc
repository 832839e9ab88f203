#include "common/tls_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, certs, "", "directory with ca.pem and <role>.pem/.key as `tessera certs` writes them");
ABSL_FLAG(std::string, ca, "", "cluster CA certificate (PEM); overrides --certs");
ABSL_FLAG(std::string, cert, "", "this node's certificate (PEM); overrides --certs");
ABSL_FLAG(std::string, key, "", "this node's private key (PEM); overrides --certs");
ABSL_FLAG(bool, insecure, false, "plaintext without authentication (local experiments only)");
ABSL_FLAG(int, tls_refresh_seconds, 60, "how often certificate and key files are re-read");

namespace tessera {

absl::StatusOr<TlsOptions> TlsOptionsFromFlags(NodeRole role) {
  TlsOptions options;
  options.insecure = absl::GetFlag(FLAGS_insecure);
  options.refresh_interval_seconds = static_cast<unsigned int>(std::max(1, absl::GetFlag(FLAGS_tls_refresh_seconds)));
  if (options.insecure) return options;
  const std::string dir = absl::GetFlag(FLAGS_certs);
  if (!dir.empty()) options.files = TlsFiles::InDirectory(dir, role);
  if (const std::string ca = absl::GetFlag(FLAGS_ca); !ca.empty()) options.files.ca = ca;
  if (const std::string cert = absl::GetFlag(FLAGS_cert); !cert.empty()) options.files.cert = cert;
  if (const std::string key = absl::GetFlag(FLAGS_key); !key.empty()) options.files.key = key;
  if (options.files.ca.empty() || options.files.cert.empty() || options.files.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mutual TLS needs --certs DIR (", RoleName(role), ".pem, ", RoleName(role),
        ".key and ca.pem from `tessera certs`) or all of --ca, --cert and --key; --insecure turns security off"));
  }
  return options;
}

}  // namespace tessera
