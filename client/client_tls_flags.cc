#include "client/client_tls_flags.h"

#include "common/node_role.h"

namespace tessera::client {

bool ClientTlsFlags::SetValue(absl::string_view flag, const std::string& value) {
  std::string* target = flag == "--certs"         ? &certs_dir
                        : flag == "--ca"          ? &ca
                        : flag == "--cert"        ? &cert
                        : flag == "--key"         ? &key
                        : flag == "--server-name" ? &server_name
                        : flag == "--token-file"  ? &token_file
                                                  : nullptr;
  if (target == nullptr) return false;
  *target = value;
  return true;
}

absl::Status ClientTlsFlags::Check() const {
  if (!token_file.empty()) {
    if (insecure)
      return absl::InvalidArgumentError("--token-file needs TLS: a bearer token is never sent in plaintext");
    if (!cert.empty() || !key.empty()) {
      return absl::InvalidArgumentError("--token-file replaces the client certificate: drop --cert and --key");
    }
    if (certs_dir.empty() == ca.empty()) {
      return absl::InvalidArgumentError("--token-file needs exactly one of --ca F or --certs DIR to trust the server");
    }
    return absl::OkStatus();
  }
  const int named_files = !ca.empty() + !cert.empty() + !key.empty();
  if (named_files != 0 && named_files != 3) return absl::InvalidArgumentError("--ca, --cert and --key go together");
  const int modes = !certs_dir.empty() + (named_files == 3) + insecure;
  if (modes == 0) return absl::InvalidArgumentError("one of --certs DIR, --ca/--cert/--key or --insecure is required");
  if (modes > 1) return absl::InvalidArgumentError("--certs, --ca/--cert/--key and --insecure exclude each other");
  if (insecure && !server_name.empty()) return absl::InvalidArgumentError("--server-name needs TLS");
  return absl::OkStatus();
}

TlsOptions ClientTlsFlags::ToTlsOptions() const {
  TlsOptions tls;
  tls.insecure = insecure;
  if (!certs_dir.empty()) tls.files = TlsFiles::InDirectory(certs_dir, NodeRole::kClient);
  if (!ca.empty()) tls.files = TlsFiles{.ca = ca, .cert = cert, .key = key};
  tls.expected_server_name = server_name;
  if (!token_file.empty()) {
    tls.files.cert.clear();  // a token client presents no certificate
    tls.files.key.clear();
    tls.bearer_token_file = token_file;
  }
  return tls;
}

}  // namespace tessera::client
