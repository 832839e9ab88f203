#include "common/tls_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/ssl.h>

#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/certificate_authority.h"
#include "common/file_contents.h"
#include "common/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/tls_test_cluster.h"

namespace tessera {
namespace {

using testing::Call;
using testing::CertificateFileSerial;
using testing::CertificateSerial;
using testing::ChannelAs;
using testing::HandshakeWithVersion;
using ::testing::HasSubstr;
using testing::kHealthCheck;
using testing::kServingResponse;
using testing::ServerCredentialsAs;
using testing::TemporaryDirectory;
using testing::TestServer;

constexpr char kWorkerStatus[] = "/tessera.worker.Worker/Status";

// Redirects std::cerr into a string for the lifetime of the object.
// The log lines written while it lives (common/logging.h), in text form.
class CapturedLog {
 public:
  CapturedLog() {
    ConfigureLogging({.sink = [this](absl::string_view line) {
      absl::MutexLock lock(&mu_);
      text_.append(line.data(), line.size());
    }});
  }
  ~CapturedLog() { ConfigureLogging({}); }
  std::string text() const {
    absl::MutexLock lock(&mu_);
    return text_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
};

class TlsCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(MakeClusterCertificates(dir_.path().string(), {}).ok()); }

  // A server presenting the worker certificate, without authorization policy.
  std::unique_ptr<TestServer> StartWorkerServer(unsigned int refresh_interval_seconds = 60) {
    return TestServer::Start(ServerCredentialsAs(dir(), NodeRole::kWorker, refresh_interval_seconds));
  }

  std::string dir() const { return dir_.path().string(); }

  // Writes a certificate for `role` issued by `ca` to DIR/<name>.pem/.key and
  // returns files presenting it (with the cluster CA as trust root).
  TlsFiles WriteLeaf(const CertificateAuthority& ca, NodeRole role, const std::string& name,
                     CertificateValidity validity = {}) {
    TlsFiles files{.ca = dir_.File("ca.pem"), .cert = dir_.File(name + ".pem"), .key = dir_.File(name + ".key")};
    testing::ReissueCertificate(ca, role, files, validity);
    return files;
  }

  std::unique_ptr<CertificateAuthority> ClusterCa() {
    absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca =
        CertificateAuthority::LoadFromFiles(dir_.File("ca.pem"), dir_.File("ca.key"));
    EXPECT_TRUE(ca.ok()) << ca.status();
    return ca.ok() ? *std::move(ca) : nullptr;
  }

  TemporaryDirectory dir_{"tls_credentials_test"};
};

TEST_F(TlsCredentialsTest, TlsFilesInDirectoryFollowTheCertsLayout) {
  TlsFiles files = TlsFiles::InDirectory("/etc/tessera", NodeRole::kWorker);
  EXPECT_EQ(files.ca, "/etc/tessera/ca.pem");
  EXPECT_EQ(files.cert, "/etc/tessera/worker.pem");
  EXPECT_EQ(files.key, "/etc/tessera/worker.key");
  EXPECT_EQ(TlsFiles::InDirectory("certs/", NodeRole::kClient).cert, "certs/client.pem");
}

TEST_F(TlsCredentialsTest, MutualTlsCallSucceedsAndShowsTheServerCertificate) {
  std::unique_ptr<TestServer> server = StartWorkerServer();
  ASSERT_NE(server, nullptr);
  std::shared_ptr<grpc::Channel> channel = ChannelAs(dir(), NodeRole::kCoordinator, server->address());
  ASSERT_NE(channel, nullptr);

  testing::CallResult health = Call(channel, kHealthCheck, "");
  ASSERT_TRUE(health.status.ok()) << health.status.error_message();
  EXPECT_EQ(health.response, kServingResponse);

  testing::CallResult echo = Call(channel, kWorkerStatus, "hello");
  ASSERT_TRUE(echo.status.ok()) << echo.status.error_message();
  EXPECT_EQ(echo.response, "hello");
  EXPECT_EQ(CertificateSerial(echo.peer_certificate_pem), CertificateFileSerial(dir_.File("worker.pem")));
}

TEST_F(TlsCredentialsTest, ServerNameIsCheckedAgainstTheCertificate) {
  std::unique_ptr<TestServer> server = StartWorkerServer();
  ASSERT_NE(server, nullptr);
  // Dialling 127.0.0.1 while expecting "localhost" (a DNS SAN) works...
  EXPECT_TRUE(Call(ChannelAs(dir(), NodeRole::kClient, server->address(), "localhost"), kHealthCheck, "")
                  .status.ok());
  // ...a name the certificate does not carry fails the handshake.
  const grpc::Status wrong_name =
      Call(ChannelAs(dir(), NodeRole::kClient, server->address(), "elsewhere.example"), kHealthCheck, "").status;
  EXPECT_EQ(wrong_name.error_code(), grpc::StatusCode::UNAVAILABLE) << wrong_name.error_message();
}

TEST_F(TlsCredentialsTest, PlaintextClientIsRefused) {
  std::unique_ptr<TestServer> server = StartWorkerServer();
  ASSERT_NE(server, nullptr);
  grpc::ChannelArguments arguments = testing::FreshConnectionArguments();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(server->address(), grpc::InsecureChannelCredentials(), arguments);
  const grpc::Status status = Call(channel, kWorkerStatus).status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsCredentialsTest, ClientWithoutCertificateIsRefused) {
  std::unique_ptr<TestServer> server = StartWorkerServer();
  ASSERT_NE(server, nullptr);
  // Trusts the cluster CA but presents no certificate of its own.
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(dir_.File("ca.pem"), 60));
  options.watch_root_certs();
  options.set_certificate_verifier(std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      server->address(), grpc::experimental::TlsCredentials(options), testing::FreshConnectionArguments());
  const grpc::Status status = Call(channel, kWorkerStatus).status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsCredentialsTest, CertificateFromAnotherCaIsRefusedBothWays) {
  std::unique_ptr<TestServer> server = StartWorkerServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> other = CertificateAuthority::Create();
  ASSERT_TRUE(other.ok()) << other.status();

  // A client whose certificate the server's CA did not sign.
  TlsFiles foreign = WriteLeaf(**other, NodeRole::kCoordinator, "foreign_coordinator");
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(server->address(), {.files = foreign}, testing::FreshConnectionArguments());
  ASSERT_TRUE(channel.ok()) << channel.status();
  grpc::Status status = Call(*channel, kWorkerStatus).status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();

  // A server whose certificate the client's CA did not sign.
  TlsFiles foreign_server = WriteLeaf(**other, NodeRole::kWorker, "foreign_worker");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials({.files = foreign_server});
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  std::unique_ptr<TestServer> impostor = TestServer::Start(*credentials);
  ASSERT_NE(impostor, nullptr);
  status = Call(ChannelAs(dir(), NodeRole::kCoordinator, impostor->address()), kWorkerStatus).status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsCredentialsTest, ExpiredClientCertificateIsRefused) {
  std::unique_ptr<TestServer> server = StartWorkerServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<CertificateAuthority> ca = ClusterCa();
  ASSERT_NE(ca, nullptr);
  TlsFiles expired = WriteLeaf(*ca, NodeRole::kCoordinator, "expired_coordinator",
                               {.not_before_offset = -absl::Hours(48), .not_after_offset = -absl::Hours(24)});
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(server->address(), {.files = expired}, testing::FreshConnectionArguments());
  ASSERT_TRUE(channel.ok()) << channel.status();
  const grpc::Status status = Call(*channel, kWorkerStatus).status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();

  // The same role with a current certificate from the same CA gets through.
  TlsFiles current = WriteLeaf(*ca, NodeRole::kCoordinator, "current_coordinator");
  channel = MakeChannel(server->address(), {.files = current}, testing::FreshConnectionArguments());
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_TRUE(Call(*channel, kWorkerStatus).status.ok());
}

TEST_F(TlsCredentialsTest, RotatedServerCertificateIsServedToNewConnections) {
  std::unique_ptr<TestServer> server = StartWorkerServer(/*refresh_interval_seconds=*/1);
  ASSERT_NE(server, nullptr);
  const std::string old_serial = CertificateFileSerial(dir_.File("worker.pem"));
  testing::CallResult before = Call(ChannelAs(dir(), NodeRole::kCoordinator, server->address()), kWorkerStatus);
  ASSERT_TRUE(before.status.ok()) << before.status.error_message();
  EXPECT_EQ(CertificateSerial(before.peer_certificate_pem), old_serial);

  // A new worker certificate from the same CA replaces the files on disk.
  std::unique_ptr<CertificateAuthority> ca = ClusterCa();
  ASSERT_NE(ca, nullptr);
  WriteLeaf(*ca, NodeRole::kWorker, "worker");
  const std::string new_serial = CertificateFileSerial(dir_.File("worker.pem"));
  ASSERT_NE(new_serial, old_serial);

  // Within a few refresh intervals, a new connection sees the new certificate.
  std::string seen = old_serial;
  testing::PollUntil([&] {
    testing::CallResult after = Call(ChannelAs(dir(), NodeRole::kCoordinator, server->address()), kWorkerStatus);
    EXPECT_TRUE(after.status.ok()) << after.status.error_message();
    seen = CertificateSerial(after.peer_certificate_pem);
    return !after.status.ok() || seen == new_serial;
  });
  EXPECT_EQ(seen, new_serial);
}

TEST_F(TlsCredentialsTest, ServersRefuseTlsBelowVersion12) {
  std::unique_ptr<TestServer> server = StartWorkerServer();
  ASSERT_NE(server, nullptr);
  const std::string address = server->address();
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port));
  const TlsFiles client = TlsFiles::InDirectory(dir(), NodeRole::kClient);
  EXPECT_TRUE(HandshakeWithVersion(client, port, TLS1_2_VERSION));
  EXPECT_TRUE(HandshakeWithVersion(client, port, TLS1_3_VERSION));
  EXPECT_FALSE(HandshakeWithVersion(client, port, TLS1_1_VERSION));
  EXPECT_FALSE(HandshakeWithVersion(client, port, TLS1_VERSION));
}

TEST_F(TlsCredentialsTest, FilesAreValidatedUpFrontWithTheFileNamed) {
  TlsFiles files = TlsFiles::InDirectory(dir(), NodeRole::kWorker);
  EXPECT_TRUE(ValidateTlsFiles(files).ok());

  TlsFiles missing = files;
  missing.cert = dir_.File("absent.pem");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server = MakeServerCredentials({.files = missing});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(server.status().message(), HasSubstr(missing.cert));

  TlsFiles garbage = files;
  garbage.ca = dir_.File("garbage.pem");
  ASSERT_TRUE(WriteFileAtomically(garbage.ca, "-----BEGIN CERTIFICATE-----\nnope\n", 0644).ok());
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel = MakeChannelCredentials({.files = garbage});
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(channel.status().message(), HasSubstr(garbage.ca));

  TlsFiles mismatched = files;
  mismatched.key = dir_.File("client.key");
  const absl::Status status = ValidateTlsFiles(mismatched);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("does not belong"));

  EXPECT_EQ(ValidateTlsFiles({}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TlsCredentialsTest, ChannelsMayGoWithoutACertificateServersMayNot) {
  // A channel without identity: only the CA is read and checked.
  TlsFiles ca_only{.ca = dir_.File("ca.pem")};
  EXPECT_TRUE(ValidateTlsFiles(ca_only).ok());
  EXPECT_TRUE(MakeChannelCredentials({.files = ca_only}).ok());
  TlsFiles bad_ca{.ca = dir_.File("worker.key")};
  EXPECT_FALSE(ValidateTlsFiles(bad_ca).ok());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server = MakeServerCredentials({.files = ca_only});
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("certificate and private key"));
  // Such a channel completes the handshake with a server-side-TLS server
  // (bearer-token mode) but not with a mutual-TLS one.
  TlsOptions token_server{.files = TlsFiles::InDirectory(dir(), NodeRole::kCoordinator)};
  token_server.client_authentication = ClientAuthentication::kBearerToken;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(token_server);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  std::unique_ptr<TestServer> server_side_tls = TestServer::Start(*credentials);
  ASSERT_NE(server_side_tls, nullptr);
  std::unique_ptr<TestServer> mutual_tls = StartWorkerServer();
  ASSERT_NE(mutual_tls, nullptr);
  auto anonymous = [&](const std::string& address) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeChannel(address, {.files = ca_only}, testing::FreshConnectionArguments());
    EXPECT_TRUE(channel.ok()) << channel.status();
    return Call(*channel, kWorkerStatus).status;
  };
  grpc::Status status = anonymous(server_side_tls->address());
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(anonymous(mutual_tls->address()).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, InsecureModeIsExplicitAndWarns) {
  CapturedLog captured;
  // No files are needed or read in insecure mode.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_credentials =
      MakeServerCredentials({.insecure = true});
  ASSERT_TRUE(server_credentials.ok());
  std::unique_ptr<TestServer> server = TestServer::Start(*server_credentials);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(server->address(), {.insecure = true});
  ASSERT_TRUE(channel.ok());
  testing::CallResult result = Call(*channel, kWorkerStatus, "plain");
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.response, "plain");
  EXPECT_TRUE(result.peer_certificate_pem.empty());
  EXPECT_THAT(captured.text(), HasSubstr("WARNING"));
  EXPECT_THAT(captured.text(), HasSubstr("--insecure"));
}

}  // namespace
}  // namespace tessera
