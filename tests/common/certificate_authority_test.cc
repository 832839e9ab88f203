#include "common/certificate_authority.h"

#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_contents.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::UnorderedElementsAre;

using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;

X509Ptr Parse(const std::string& pem) {
  absl::StatusOr<X509Ptr> certificate = ParseCertificatePem(pem, "test");
  EXPECT_TRUE(certificate.ok()) << certificate.status();
  return certificate.ok() ? *std::move(certificate) : nullptr;
}

// X509_verify_cert of `leaf` against a store holding only `ca`; returns the
// OpenSSL verification result (X509_V_OK when the chain verifies).
int VerifyAgainst(const std::string& ca_pem, const std::string& leaf_pem) {
  X509Ptr ca = Parse(ca_pem);
  X509Ptr leaf = Parse(leaf_pem);
  X509StorePtr store(X509_STORE_new());
  EXPECT_EQ(X509_STORE_add_cert(store.get(), ca.get()), 1);
  X509StoreCtxPtr context(X509_STORE_CTX_new());
  EXPECT_EQ(X509_STORE_CTX_init(context.get(), store.get(), leaf.get(), nullptr), 1);
  const int verified = X509_verify_cert(context.get());
  const int error = X509_STORE_CTX_get_error(context.get());
  EXPECT_EQ(verified == 1, error == X509_V_OK) << X509_verify_cert_error_string(error);
  return error;
}

struct SubjectAlternativeNames {
  std::vector<std::string> uris;
  std::vector<std::string> dns;
  std::vector<std::string> ips;  // raw octets as hex
};

std::string Hex(const unsigned char* bytes, int length) {
  std::string out;
  for (int i = 0; i < length; ++i) absl::StrAppend(&out, absl::Hex(bytes[i], absl::kZeroPad2));
  return out;
}

SubjectAlternativeNames NamesOf(X509* certificate) {
  SubjectAlternativeNames result;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return result;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_URI || name->type == GEN_DNS) {
      const ASN1_IA5STRING* text = name->type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.dNSName;
      std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)), ASN1_STRING_length(text));
      (name->type == GEN_URI ? result.uris : result.dns).push_back(value);
    } else if (name->type == GEN_IPADD) {
      result.ips.push_back(Hex(ASN1_STRING_get0_data(name->d.iPAddress), ASN1_STRING_length(name->d.iPAddress)));
    }
  }
  return result;
}

std::unique_ptr<CertificateAuthority> NewCa() {
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca = CertificateAuthority::Create();
  EXPECT_TRUE(ca.ok()) << ca.status();
  return ca.ok() ? *std::move(ca) : nullptr;
}

KeyAndCertificate Issue(const CertificateAuthority& ca, CertificateAuthority::LeafOptions options) {
  absl::StatusOr<KeyAndCertificate> pair = ca.IssueLeaf(options);
  EXPECT_TRUE(pair.ok()) << pair.status();
  return pair.ok() ? *std::move(pair) : KeyAndCertificate();
}

class CertificateAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("certificate_authority_test_", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                        "_", ::getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(CertificateAuthorityTest, CaIsSelfSignedCertificateAuthority) {
  std::unique_ptr<CertificateAuthority> ca = NewCa();
  ASSERT_NE(ca, nullptr);
  X509Ptr certificate = Parse(ca->certificate_pem());
  EXPECT_GE(X509_check_ca(certificate.get()), 1);
  EXPECT_TRUE(X509_get_key_usage(certificate.get()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_check_issued(certificate.get(), certificate.get()), X509_V_OK);
  EXPECT_EQ(VerifyAgainst(ca->certificate_pem(), ca->certificate_pem()), X509_V_OK);
}

TEST_F(CertificateAuthorityTest, LeafChainVerifiesAndCarriesRoleHostsAndUsages) {
  std::unique_ptr<CertificateAuthority> ca = NewCa();
  ASSERT_NE(ca, nullptr);
  KeyAndCertificate leaf =
      Issue(*ca, {.role = NodeRole::kWorker, .hosts = {"worker-1.tessera.internal", "10.1.2.3", "fd00::7"}});
  EXPECT_EQ(VerifyAgainst(ca->certificate_pem(), leaf.certificate_pem), X509_V_OK);

  X509Ptr certificate = Parse(leaf.certificate_pem);
  SubjectAlternativeNames names = NamesOf(certificate.get());
  EXPECT_THAT(names.uris, UnorderedElementsAre("spiffe://tessera/worker"));
  EXPECT_THAT(names.dns, UnorderedElementsAre("localhost", "worker-1.tessera.internal"));
  EXPECT_THAT(names.ips, UnorderedElementsAre("7f000001", "00000000000000000000000000000001", "0a010203",
                                              "fd000000000000000000000000000007"));
  EXPECT_EQ(X509_check_host(certificate.get(), "worker-1.tessera.internal", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(certificate.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(certificate.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(certificate.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(certificate.get(), "other.example", 0, 0, nullptr), 0);

  const uint32_t extended = X509_get_extended_key_usage(certificate.get());
  EXPECT_TRUE(extended & XKU_SSL_SERVER);
  EXPECT_TRUE(extended & XKU_SSL_CLIENT);
  EXPECT_EQ(X509_check_purpose(certificate.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_purpose(certificate.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_TRUE(X509_get_key_usage(certificate.get()) & KU_DIGITAL_SIGNATURE);
  EXPECT_FALSE(X509_get_key_usage(certificate.get()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_check_ca(certificate.get()), 0);

  // The key is an EC P-256 key belonging to the certificate.
  absl::StatusOr<EvpPkeyPtr> key = ParsePrivateKeyPem(leaf.key_pem, "leaf key");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(X509_check_private_key(certificate.get(), key->get()), 1);
  EXPECT_TRUE(EVP_PKEY_is_a(key->get(), "EC"));
  EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 256);
}

TEST_F(CertificateAuthorityTest, SerialNumbersAreRandom) {
  std::unique_ptr<CertificateAuthority> ca = NewCa();
  ASSERT_NE(ca, nullptr);
  X509Ptr first = Parse(Issue(*ca, {.role = NodeRole::kClient}).certificate_pem);
  X509Ptr second = Parse(Issue(*ca, {.role = NodeRole::kClient}).certificate_pem);
  EXPECT_NE(SerialNumberHex(first.get()), SerialNumberHex(second.get()));
  EXPECT_GE(SerialNumberHex(first.get()).size(), 32u);
}

TEST_F(CertificateAuthorityTest, ExpiredAndNotYetValidCertificatesFailVerification) {
  std::unique_ptr<CertificateAuthority> ca = NewCa();
  ASSERT_NE(ca, nullptr);
  KeyAndCertificate expired =
      Issue(*ca, {.role = NodeRole::kClient,
                  .validity = {.not_before_offset = -absl::Hours(48), .not_after_offset = -absl::Hours(24)}});
  KeyAndCertificate future =
      Issue(*ca, {.role = NodeRole::kClient,
                  .validity = {.not_before_offset = absl::Hours(24), .not_after_offset = absl::Hours(48)}});
  EXPECT_EQ(VerifyAgainst(ca->certificate_pem(), expired.certificate_pem), X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(VerifyAgainst(ca->certificate_pem(), future.certificate_pem), X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST_F(CertificateAuthorityTest, LeafOfAnotherCaDoesNotVerify) {
  std::unique_ptr<CertificateAuthority> ca = NewCa();
  std::unique_ptr<CertificateAuthority> other = NewCa();
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(other, nullptr);
  KeyAndCertificate foreign = Issue(*other, {.role = NodeRole::kCoordinator});
  EXPECT_NE(VerifyAgainst(ca->certificate_pem(), foreign.certificate_pem), X509_V_OK);
  EXPECT_EQ(VerifyAgainst(other->certificate_pem(), foreign.certificate_pem), X509_V_OK);
}

TEST_F(CertificateAuthorityTest, RejectsBadHostsAndEmptyValidity) {
  std::unique_ptr<CertificateAuthority> ca = NewCa();
  ASSERT_NE(ca, nullptr);
  for (const char* host : {"bad host", "a,b", "", "x/y", "a..b"}) {
    absl::StatusOr<KeyAndCertificate> pair = ca->IssueLeaf({.role = NodeRole::kWorker, .hosts = {host}});
    EXPECT_EQ(pair.status().code(), absl::StatusCode::kInvalidArgument) << "host '" << host << "'";
  }
  absl::StatusOr<KeyAndCertificate> pair = ca->IssueLeaf(
      {.role = NodeRole::kWorker, .validity = {.not_before_offset = absl::Hours(1), .not_after_offset = absl::Hours(1)}});
  EXPECT_EQ(pair.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ca->IssueLeaf({.role = NodeRole::kWorker, .hosts = {"*.workers.example", "node-7"}}).ok());
}

TEST_F(CertificateAuthorityTest, ClusterCertificatesAreWrittenWithPrivateKeys) {
  ASSERT_TRUE(MakeClusterCertificates(dir_.string(), {"coord.example", "192.168.0.10"}).ok());
  absl::StatusOr<std::string> ca_pem = ReadFileToString((dir_ / "ca.pem").string());
  ASSERT_TRUE(ca_pem.ok()) << ca_pem.status();
  for (NodeRole role : {NodeRole::kCoordinator, NodeRole::kWorker, NodeRole::kClient}) {
    const std::string stem(RoleName(role));
    absl::StatusOr<std::string> pem = ReadFileToString((dir_ / (stem + ".pem")).string());
    ASSERT_TRUE(pem.ok()) << pem.status();
    EXPECT_EQ(VerifyAgainst(*ca_pem, *pem), X509_V_OK) << stem;
    X509Ptr certificate = Parse(*pem);
    SubjectAlternativeNames names = NamesOf(certificate.get());
    EXPECT_THAT(names.uris, UnorderedElementsAre(RoleIdentity(role)));
    EXPECT_THAT(names.dns, IsSupersetOf({"localhost", "coord.example"}));
    EXPECT_THAT(names.ips, IsSupersetOf({"c0a8000a", "7f000001"}));
  }
  for (const char* key : {"ca.key", "coordinator.key", "worker.key", "client.key"}) {
    struct stat info;
    ASSERT_EQ(::stat((dir_ / key).c_str(), &info), 0) << key;
    EXPECT_EQ(info.st_mode & 0777, 0600u) << key;
  }
  for (const char* certificate : {"ca.pem", "coordinator.pem", "worker.pem", "client.pem"}) {
    struct stat info;
    ASSERT_EQ(::stat((dir_ / certificate).c_str(), &info), 0) << certificate;
    EXPECT_EQ(info.st_mode & 0600, 0600u) << certificate;
    EXPECT_EQ(info.st_mode & 0022, 0u) << certificate;
  }
  // No temporary files are left behind.
  int files = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 8);
}

TEST_F(CertificateAuthorityTest, ExistingCaLoadsFromFilesAndIssues) {
  ASSERT_TRUE(MakeClusterCertificates(dir_.string(), {}).ok());
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca =
      CertificateAuthority::LoadFromFiles((dir_ / "ca.pem").string(), (dir_ / "ca.key").string());
  ASSERT_TRUE(ca.ok()) << ca.status();
  KeyAndCertificate leaf = Issue(**ca, {.role = NodeRole::kWorker});
  absl::StatusOr<std::string> ca_pem = ReadFileToString((dir_ / "ca.pem").string());
  ASSERT_TRUE(ca_pem.ok());
  EXPECT_EQ(VerifyAgainst(*ca_pem, leaf.certificate_pem), X509_V_OK);

  // A leaf and its key are not a CA; a CA with the wrong key is refused.
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> not_ca =
      CertificateAuthority::LoadFromFiles((dir_ / "worker.pem").string(), (dir_ / "worker.key").string());
  EXPECT_EQ(not_ca.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_ca.status().message(), HasSubstr("not a CA"));
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> wrong_key =
      CertificateAuthority::LoadFromFiles((dir_ / "ca.pem").string(), (dir_ / "client.key").string());
  EXPECT_EQ(wrong_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_key.status().message(), HasSubstr("does not belong"));
}

TEST_F(CertificateAuthorityTest, ErrorsNameTheFile) {
  const std::string missing = (dir_ / "missing.pem").string();
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca =
      CertificateAuthority::LoadFromFiles(missing, (dir_ / "missing.key").string());
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ca.status().message(), HasSubstr(missing));

  fs::create_directories(dir_);
  const std::string garbage = (dir_ / "garbage.pem").string();
  ASSERT_TRUE(WriteFileAtomically(garbage, "not a certificate", 0644).ok());
  absl::StatusOr<X509Ptr> parsed = ParseCertificatePem("not a certificate", garbage);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr(garbage));

  // An output directory that cannot be created: a regular file is in the way.
  const absl::Status status = MakeClusterCertificates((dir_ / "garbage.pem" / "sub").string(), {});
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("garbage.pem"));
}

}  // namespace
}  // namespace tessera
