#include "client/certs_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/exit_codes.h"
#include "common/file_contents.h"
#include "common/openssl_objects.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class CertsCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("certs_command_test_", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_",
                        ::getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  int Run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return RunCli(args, out_, err_);
  }

  X509Ptr Certificate(const std::string& name) {
    absl::StatusOr<std::string> pem = ReadFileToString((dir_ / name).string());
    EXPECT_TRUE(pem.ok()) << pem.status();
    if (!pem.ok()) return nullptr;
    absl::StatusOr<X509Ptr> certificate = ParseCertificatePem(*pem, name);
    EXPECT_TRUE(certificate.ok()) << certificate.status();
    return certificate.ok() ? *std::move(certificate) : nullptr;
  }

  fs::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(CertsCommandTest, WritesTheClusterFilesForEveryRole) {
  const std::string out = (dir_ / "certs").string();
  ASSERT_EQ(Run({"certs", "--out", out, "--hosts", "coord.example, 10.0.0.7,worker-3"}), kExitOk) << err_.str();
  EXPECT_THAT(err_.str(), IsEmpty());
  EXPECT_THAT(out_.str(), HasSubstr(out));
  dir_ /= "certs";

  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names, ElementsAre("ca.key", "ca.pem", "client.key", "client.pem", "coordinator.key", "coordinator.pem",
                                 "worker.key", "worker.pem"));
  for (const char* key : {"ca.key", "client.key", "coordinator.key", "worker.key"}) {
    struct stat info;
    ASSERT_EQ(::stat((dir_ / key).c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u) << key;
  }
  for (NodeRole role : {NodeRole::kCoordinator, NodeRole::kWorker, NodeRole::kClient}) {
    // Every role's files are a usable TLS identity under the cluster CA.
    EXPECT_TRUE(ValidateTlsFiles(TlsFiles::InDirectory(dir_.string(), role)).ok()) << RoleName(role);
    X509Ptr certificate = Certificate(absl::StrCat(RoleName(role), ".pem"));
    ASSERT_NE(certificate, nullptr);
    EXPECT_EQ(X509_check_host(certificate.get(), "coord.example", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(certificate.get(), "worker-3", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(certificate.get(), "localhost", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_ip_asc(certificate.get(), "10.0.0.7", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(certificate.get(), "127.0.0.1", 0), 1);
  }
  X509Ptr ca = Certificate("ca.pem");
  ASSERT_NE(ca, nullptr);
  EXPECT_GE(X509_check_ca(ca.get()), 1);
}

TEST_F(CertsCommandTest, HostsAreOptionalAndEqualsFormWorks) {
  ASSERT_EQ(Run({"certs", absl::StrCat("--out=", dir_.string())}), kExitOk) << err_.str();
  X509Ptr worker = Certificate("worker.pem");
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(X509_check_host(worker.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(worker.get(), "::1", 0), 1);
}

TEST_F(CertsCommandTest, HelpAndUsageErrors) {
  EXPECT_EQ(Run({"certs", "--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("usage: tessera certs --out DIR"));

  EXPECT_EQ(Run({"certs"}), kExitUsageError);
  EXPECT_THAT(err_.str(), HasSubstr("--out DIR is required"));
  EXPECT_EQ(Run({"certs", "--out"}), kExitUsageError);
  EXPECT_THAT(err_.str(), HasSubstr("--out needs a value"));
  EXPECT_EQ(Run({"certs", "--out", dir_.string(), "--bogus"}), kExitUsageError);
  EXPECT_THAT(err_.str(), HasSubstr("unknown flag '--bogus'"));
  EXPECT_EQ(Run({"certs", "--out", dir_.string(), "--hosts", "bad host!"}), kExitUsageError);
  EXPECT_THAT(err_.str(), HasSubstr("bad host!"));
  EXPECT_FALSE(fs::exists(dir_ / "worker.pem"));

  EXPECT_EQ(Run({"help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("certs"));
}

TEST_F(CertsCommandTest, UnwritableDirectoryIsARuntimeError) {
  fs::create_directories(dir_);
  ASSERT_TRUE(WriteFileAtomically((dir_ / "file").string(), "x", 0644).ok());
  EXPECT_EQ(Run({"certs", "--out", (dir_ / "file" / "certs").string()}), kExitRuntimeError);
  EXPECT_THAT(err_.str(), HasSubstr("cannot create directory"));
}

}  // namespace
}  // namespace tessera::client
