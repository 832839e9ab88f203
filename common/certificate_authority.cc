#include "common/certificate_authority.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <climits>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_contents.h"
#include "common/status_macros.h"

namespace tessera {
namespace {

using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME_free>>;
using Asn1Ia5StringPtr = std::unique_ptr<ASN1_IA5STRING, OpenSslDeleter<ASN1_IA5STRING_free>>;
using Asn1OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, OpenSslDeleter<ASN1_OCTET_STRING_free>>;

constexpr mode_t kCertificateMode = 0644;
constexpr mode_t kKeyMode = 0600;
constexpr int kSerialBytes = 20;  // RFC 5280: at most 20 octets, positive

absl::StatusOr<EvpPkeyPtr> GenerateKey() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) return OpenSslError("generating an EC P-256 key (EVP_PKEY_Q_keygen)");
  return key;
}

absl::Status SetRandomSerial(X509* certificate) {
  unsigned char bytes[kSerialBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslError("RAND_bytes for the serial number");
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x40;  // and never short or zero
  BignumPtr serial(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (serial == nullptr) return OpenSslError("BN_bin2bn for the serial number");
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate)) == nullptr) {
    return OpenSslError("BN_to_ASN1_INTEGER for the serial number");
  }
  return absl::OkStatus();
}

absl::Status SetValidity(X509* certificate, const CertificateValidity& validity) {
  const long not_before = static_cast<long>(absl::ToInt64Seconds(validity.not_before_offset));
  const long not_after = static_cast<long>(absl::ToInt64Seconds(validity.not_after_offset));
  if (not_after <= not_before) {
    return absl::InvalidArgumentError("certificate validity: not_after must be later than not_before");
  }
  if (X509_gmtime_adj(X509_getm_notBefore(certificate), not_before) == nullptr) {
    return OpenSslError("setting notBefore (X509_gmtime_adj)");
  }
  if (X509_gmtime_adj(X509_getm_notAfter(certificate), not_after) == nullptr) {
    return OpenSslError("setting notAfter (X509_gmtime_adj)");
  }
  return absl::OkStatus();
}

absl::StatusOr<X509NamePtr> MakeName(absl::string_view common_name) {
  X509NamePtr name(X509_NAME_new());
  if (name == nullptr) return OpenSslError("X509_NAME_new");
  const std::string cn(common_name);
  if (X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Tessera"),
                                 -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                 -1, -1, 0) != 1) {
    return OpenSslError(absl::StrCat("building the subject name '", common_name, "'"));
  }
  return name;
}

// Adds an extension given in OpenSSL's configuration syntax; values are
// constants of this file, never user input.
absl::Status AddExtension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  if (extension == nullptr) return OpenSslError(absl::StrCat("building extension ", OBJ_nid2sn(nid), "=", value));
  if (X509_add_ext(certificate, extension.get(), -1) != 1) {
    return OpenSslError(absl::StrCat("adding extension ", OBJ_nid2sn(nid)));
  }
  return absl::OkStatus();
}

// Starts a version 3 certificate: serial, validity, subject, issuer, key.
absl::StatusOr<X509Ptr> NewCertificate(absl::string_view common_name, const X509_NAME* issuer_name,
                                       EVP_PKEY* subject_key, const CertificateValidity& validity) {
  X509Ptr certificate(X509_new());
  if (certificate == nullptr) return OpenSslError("X509_new");
  if (X509_set_version(certificate.get(), X509_VERSION_3) != 1) return OpenSslError("X509_set_version");
  TESSERA_RETURN_IF_ERROR(SetRandomSerial(certificate.get()));
  TESSERA_RETURN_IF_ERROR(SetValidity(certificate.get(), validity));
  TESSERA_ASSIGN_OR_RETURN(X509NamePtr subject, MakeName(common_name));
  if (X509_set_subject_name(certificate.get(), subject.get()) != 1) return OpenSslError("X509_set_subject_name");
  if (X509_set_issuer_name(certificate.get(), issuer_name == nullptr ? subject.get() : issuer_name) != 1) {
    return OpenSslError("X509_set_issuer_name");
  }
  if (X509_set_pubkey(certificate.get(), subject_key) != 1) return OpenSslError("X509_set_pubkey");
  return certificate;
}

bool IsValidDnsName(absl::string_view host) {
  if (absl::StartsWith(host, "*.")) host.remove_prefix(2);
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.') return false;
  if (absl::StrContains(host, "..")) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return true;
}

absl::Status AddIa5Name(GENERAL_NAMES* names, int type, absl::string_view text) {
  Asn1Ia5StringPtr value(ASN1_IA5STRING_new());
  if (value == nullptr || ASN1_STRING_set(value.get(), text.data(), static_cast<int>(text.size())) != 1) {
    return OpenSslError(absl::StrCat("encoding subject alternative name '", text, "'"));
  }
  GeneralNamePtr name(GENERAL_NAME_new());
  if (name == nullptr) return OpenSslError("GENERAL_NAME_new");
  GENERAL_NAME_set0_value(name.get(), type, value.release());
  if (sk_GENERAL_NAME_push(names, name.get()) == 0) return OpenSslError("sk_GENERAL_NAME_push");
  name.release();  // now owned by `names`
  return absl::OkStatus();
}

absl::Status AddIpName(GENERAL_NAMES* names, ASN1_OCTET_STRING* address_in) {
  Asn1OctetStringPtr address(address_in);
  GeneralNamePtr name(GENERAL_NAME_new());
  if (name == nullptr) return OpenSslError("GENERAL_NAME_new");
  GENERAL_NAME_set0_value(name.get(), GEN_IPADD, address.release());
  if (sk_GENERAL_NAME_push(names, name.get()) == 0) return OpenSslError("sk_GENERAL_NAME_push");
  name.release();
  return absl::OkStatus();
}

absl::Status AddSubjectAlternativeNames(X509* certificate, NodeRole role, const std::vector<std::string>& hosts) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return OpenSslError("sk_GENERAL_NAME_new_null");
  TESSERA_RETURN_IF_ERROR(AddIa5Name(names.get(), GEN_URI, RoleIdentity(role)));

  std::vector<std::string> all_hosts = {"localhost", "127.0.0.1", "::1"};
  all_hosts.insert(all_hosts.end(), hosts.begin(), hosts.end());
  std::set<std::string> seen;
  for (const std::string& host : all_hosts) {
    if (!seen.insert(host).second) continue;
    // a2i_IPADDRESS parses IPv4 and IPv6 text into the SAN's octet form.
    if (ASN1_OCTET_STRING* address = a2i_IPADDRESS(host.c_str()); address != nullptr) {
      TESSERA_RETURN_IF_ERROR(AddIpName(names.get(), address));
      continue;
    }
    ERR_clear_error();  // a2i_IPADDRESS queues an error for non-addresses
    if (!IsValidDnsName(host)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "host '", host, "' is neither an IP address nor a DNS name (letters, digits, '-', '.', optional '*.')"));
    }
    TESSERA_RETURN_IF_ERROR(AddIa5Name(names.get(), GEN_DNS, host));
  }
  if (X509_add1_ext_i2d(certificate, NID_subject_alt_name, names.get(), /*crit=*/0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("adding subjectAltName");
  }
  return absl::OkStatus();
}

absl::Status Sign(X509* certificate, EVP_PKEY* key) {
  if (X509_sign(certificate, key, EVP_sha256()) == 0) return OpenSslError("signing the certificate (X509_sign)");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Create(const Options& options) {
  TESSERA_ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateKey());
  TESSERA_ASSIGN_OR_RETURN(X509Ptr certificate,
                           NewCertificate(options.common_name, nullptr, key.get(), options.validity));
  X509* c = certificate.get();
  TESSERA_RETURN_IF_ERROR(AddExtension(c, c, NID_basic_constraints, "critical,CA:TRUE"));
  TESSERA_RETURN_IF_ERROR(AddExtension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign"));
  TESSERA_RETURN_IF_ERROR(AddExtension(c, c, NID_subject_key_identifier, "hash"));
  TESSERA_RETURN_IF_ERROR(Sign(c, key.get()));
  TESSERA_ASSIGN_OR_RETURN(std::string pem, CertificateToPem(c));
  return std::make_unique<CertificateAuthority>(ConstructionKey(), std::move(certificate), std::move(key),
                                                std::move(pem));
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::FromPem(absl::string_view certificate_pem,
                                                                                  absl::string_view key_pem,
                                                                                  absl::string_view source) {
  TESSERA_ASSIGN_OR_RETURN(X509Ptr certificate, ParseCertificatePem(certificate_pem, source));
  TESSERA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ParsePrivateKeyPem(key_pem, source));
  if (X509_check_private_key(certificate.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(source, ": the CA key does not belong to the CA certificate"));
  }
  if (X509_check_ca(certificate.get()) < 1) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the certificate is not a CA (basicConstraints)"));
  }
  TESSERA_ASSIGN_OR_RETURN(std::string pem, CertificateToPem(certificate.get()));
  return std::make_unique<CertificateAuthority>(ConstructionKey(), std::move(certificate), std::move(key),
                                                std::move(pem));
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::LoadFromFiles(
    const std::string& certificate_path, const std::string& key_path) {
  TESSERA_ASSIGN_OR_RETURN(std::string certificate_pem, ReadFileToString(certificate_path));
  TESSERA_ASSIGN_OR_RETURN(std::string key_pem, ReadFileToString(key_path));
  return FromPem(certificate_pem, key_pem, absl::StrCat(certificate_path, " + ", key_path));
}

absl::StatusOr<KeyAndCertificate> CertificateAuthority::IssueLeaf(const LeafOptions& options) const {
  TESSERA_ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateKey());
  TESSERA_ASSIGN_OR_RETURN(X509Ptr certificate,
                           NewCertificate(absl::StrCat("tessera-", RoleName(options.role)),
                                          X509_get_subject_name(certificate_.get()), key.get(), options.validity));
  X509* c = certificate.get();
  X509* issuer = certificate_.get();
  TESSERA_RETURN_IF_ERROR(AddExtension(c, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  TESSERA_RETURN_IF_ERROR(AddExtension(c, issuer, NID_key_usage, "critical,digitalSignature"));
  TESSERA_RETURN_IF_ERROR(AddExtension(c, issuer, NID_ext_key_usage, "serverAuth,clientAuth"));
  TESSERA_RETURN_IF_ERROR(AddExtension(c, issuer, NID_subject_key_identifier, "hash"));
  TESSERA_RETURN_IF_ERROR(AddExtension(c, issuer, NID_authority_key_identifier, "keyid:always"));
  TESSERA_RETURN_IF_ERROR(AddSubjectAlternativeNames(c, options.role, options.hosts));
  TESSERA_RETURN_IF_ERROR(Sign(c, key_.get()));
  KeyAndCertificate pair;
  TESSERA_ASSIGN_OR_RETURN(pair.key_pem, PrivateKeyToPem(key.get()));
  TESSERA_ASSIGN_OR_RETURN(pair.certificate_pem, CertificateToPem(c));
  return pair;
}

absl::Status CertificateAuthority::WriteFiles(const std::string& certificate_path, const std::string& key_path) const {
  TESSERA_ASSIGN_OR_RETURN(std::string key_pem, KeyPem());
  return WriteKeyAndCertificate({.key_pem = std::move(key_pem), .certificate_pem = certificate_pem_},
                                certificate_path, key_path);
}

absl::Status WriteKeyAndCertificate(const KeyAndCertificate& pair, const std::string& certificate_path,
                                    const std::string& key_path) {
  // The key first: a watcher that sees the new certificate also finds its key.
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(key_path, pair.key_pem, kKeyMode));
  return WriteFileAtomically(certificate_path, pair.certificate_pem, kCertificateMode);
}

absl::Status MakeClusterCertificates(const std::string& out_dir, const std::vector<std::string>& hosts) {
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create directory '", out_dir, "': ", error.message()));
  }
  const std::filesystem::path dir(out_dir);
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<CertificateAuthority> ca, CertificateAuthority::Create());
  TESSERA_RETURN_IF_ERROR(ca->WriteFiles(dir / "ca.pem", dir / "ca.key"));
  for (NodeRole role : {NodeRole::kCoordinator, NodeRole::kWorker, NodeRole::kClient}) {
    absl::StatusOr<KeyAndCertificate> pair = ca->IssueLeaf({.role = role, .hosts = hosts});
    if (!pair.ok()) {
      return absl::Status(pair.status().code(), absl::StrCat("issuing the ", RoleName(role),
                                                             " certificate: ", pair.status().message()));
    }
    const std::string stem(RoleName(role));
    TESSERA_RETURN_IF_ERROR(WriteKeyAndCertificate(*pair, dir / (stem + ".pem"), dir / (stem + ".key")));
  }
  return absl::OkStatus();
}

}  // namespace tessera
