#include "common/openssl_objects.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <climits>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

// OPENSSL_free is a macro, so it needs a function to be a deleter.
void FreeOpenSslString(char* text) { OPENSSL_free(text); }
using OpenSslStringPtr = std::unique_ptr<char, OpenSslDeleter<FreeOpenSslString>>;

absl::StatusOr<BioPtr> MemoryBio(absl::string_view bytes) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) return absl::InvalidArgumentError("PEM text too large");
  BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  if (bio == nullptr) return OpenSslError("BIO_new_mem_buf");
  return bio;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace

absl::Status OpenSslError(absl::string_view step) {
  std::string reasons;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    absl::StrAppend(&reasons, reasons.empty() ? "" : "; ", buffer);
  }
  if (reasons.empty()) reasons = "no reason given by OpenSSL";
  return absl::InternalError(absl::StrCat(step, " failed: ", reasons));
}

absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem, absl::string_view source) {
  absl::StatusOr<BioPtr> bio = MemoryBio(pem);
  if (!bio.ok()) return bio.status();
  X509Ptr certificate(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (certificate == nullptr) {
    const absl::Status reason = OpenSslError("PEM_read_bio_X509");
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a PEM certificate (", reason.message(), ")"));
  }
  return certificate;
}

absl::StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(absl::string_view pem, absl::string_view source) {
  absl::StatusOr<BioPtr> bio = MemoryBio(pem);
  if (!bio.ok()) return bio.status();
  // An empty passphrase callback result makes an encrypted key fail instead of
  // prompting on the terminal.
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(
      bio->get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (key == nullptr) {
    const absl::Status reason = OpenSslError("PEM_read_bio_PrivateKey");
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not an unencrypted PEM private key (", reason.message(), ")"));
  }
  return key;
}

absl::StatusOr<std::string> CertificateToPem(X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return OpenSslError("BIO_new");
  if (PEM_write_bio_X509(bio.get(), certificate) != 1) return OpenSslError("PEM_write_bio_X509");
  return BioContents(bio.get());
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return OpenSslError("BIO_new");
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  return BioContents(bio.get());
}

std::string SerialNumberHex(const X509* certificate) {
  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr));
  if (serial == nullptr) return "";
  OpenSslStringPtr hex(BN_bn2hex(serial.get()));
  return hex == nullptr ? "" : std::string(hex.get());
}

}  // namespace tessera
