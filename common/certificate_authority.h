// A small X.509 certificate authority for a Tessera cluster (OpenSSL 3).
//
// The CA is self-signed (basicConstraints CA:TRUE, keyUsage keyCertSign and
// cRLSign) with an EC P-256 key. It issues one leaf certificate per role:
//   - subject CN "tessera-<role>", O "Tessera"
//   - URI SAN spiffe://tessera/<role>: the identity authorization uses
//   - DNS SANs for the given hosts plus "localhost"; hosts that parse as IPv4
//     or IPv6 addresses become IP SANs instead; 127.0.0.1 and ::1 always
//   - extendedKeyUsage serverAuth + clientAuth (every node both serves and
//     calls over TLS), keyUsage digitalSignature, basicConstraints CA:FALSE
//   - a random 159-bit serial number; validity from CertificateValidity
//
// Thread safety: a CertificateAuthority is immutable after construction;
// IssueLeaf may be called from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/node_role.h"
#include "common/openssl_objects.h"

namespace tessera {

// Validity window relative to the moment of issue. Tests use a window that
// ended in the past (expired) or starts in the future (not yet valid).
struct CertificateValidity {
  absl::Duration not_before_offset = -absl::Minutes(5);  // tolerates clock skew
  absl::Duration not_after_offset = absl::Hours(24 * 365);
};

// A private key and its certificate, both PEM.
struct KeyAndCertificate {
  std::string key_pem;
  std::string certificate_pem;
};

class CertificateAuthority {
 public:
  struct Options {
    std::string common_name = "Tessera cluster CA";
    CertificateValidity validity = {.not_after_offset = absl::Hours(24 * 365 * 10)};
  };

  struct LeafOptions {
    NodeRole role = NodeRole::kClient;
    // Host names or IP addresses the node is reached at. "localhost",
    // 127.0.0.1 and ::1 are always added. Names may hold letters, digits,
    // '-' and '.', with an optional leading "*." wildcard.
    std::vector<std::string> hosts;
    CertificateValidity validity;
  };

  // A new CA with a fresh key.
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> Create(const Options& options);
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> Create() { return Create(Options()); }

  // An existing CA; fails unless the key belongs to the certificate and the
  // certificate is a CA. `source` names where the PEM came from in messages.
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> FromPem(absl::string_view certificate_pem,
                                                                       absl::string_view key_pem,
                                                                       absl::string_view source);
  static absl::StatusOr<std::unique_ptr<CertificateAuthority>> LoadFromFiles(const std::string& certificate_path,
                                                                             const std::string& key_path);

  // Issues a key and certificate for one node.
  absl::StatusOr<KeyAndCertificate> IssueLeaf(const LeafOptions& options) const;

  const std::string& certificate_pem() const { return certificate_pem_; }
  absl::StatusOr<std::string> KeyPem() const { return PrivateKeyToPem(key_.get()); }

  // Writes the CA's certificate (mode 0644) and key (mode 0600).
  absl::Status WriteFiles(const std::string& certificate_path, const std::string& key_path) const;

 private:
  // Only Create and FromPem, which check the invariants, can make one.
  struct ConstructionKey {
    explicit ConstructionKey() = default;
  };

 public:
  CertificateAuthority(ConstructionKey, X509Ptr certificate, EvpPkeyPtr key, std::string certificate_pem)
      : certificate_(std::move(certificate)), key_(std::move(key)), certificate_pem_(std::move(certificate_pem)) {}

 private:

  X509Ptr certificate_;
  EvpPkeyPtr key_;
  std::string certificate_pem_;
};

// Writes a certificate (mode 0644) and its key (mode 0600), each atomically
// (common/file_contents.h).
absl::Status WriteKeyAndCertificate(const KeyAndCertificate& pair, const std::string& certificate_path,
                                    const std::string& key_path);

// Creates `out_dir` if needed and writes a new CA and one leaf per role:
//   ca.pem ca.key coordinator.pem coordinator.key worker.pem worker.key
//   client.pem client.key
// Every leaf carries `hosts` (see LeafOptions::hosts). Existing files are
// replaced. Keys are mode 0600.
absl::Status MakeClusterCertificates(const std::string& out_dir, const std::vector<std::string>& hosts);

}  // namespace tessera
