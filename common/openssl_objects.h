// Owning handles for OpenSSL 3 objects, PEM conversion, and OpenSSL's error
// queue turned into absl::Status.
//
// Every OpenSSL object Tessera holds lives in one of the unique_ptr aliases
// below, so no path (including early error returns) leaks one. Functions here
// are thread-safe (OpenSSL 3 initialises itself and keeps its error queue per
// thread).
#pragma once

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

template <auto FreeFunction>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* object) const {
    FreeFunction(object);
  }
};

using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OpenSslDeleter<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;

// Internal error "<step>: <OpenSSL's reasons>", draining this thread's error
// queue so that a later failure does not report a stale reason.
absl::Status OpenSslError(absl::string_view step);

// Parses the first certificate in `pem`. `source` (a file name, usually)
// goes into the message of the InvalidArgument returned on failure.
absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem, absl::string_view source);

// Parses a private key in PEM (PKCS#8 or the traditional EC/RSA forms).
absl::StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(absl::string_view pem, absl::string_view source);

absl::StatusOr<std::string> CertificateToPem(X509* certificate);
// Unencrypted PKCS#8 ("BEGIN PRIVATE KEY").
absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key);

// The serial number in upper-case hexadecimal, e.g. "3F1A...".
std::string SerialNumberHex(const X509* certificate);

}  // namespace tessera
