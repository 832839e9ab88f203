// Test support for the TLS and authorization tests: a cluster's certificate
// files in a temporary directory, a real gRPC server on 127.0.0.1 (port picked
// by the kernel) that answers any method path by echoing the request plus
// grpc.health.v1, a bounded unary call over a GenericStub, certificates
// re-issued on disk under a running server (rotation) and a raw OpenSSL
// client pinned to one TLS version. Nothing here depends on Tessera's protos.
#pragma once

#include <arpa/inet.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/auth_context.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/certificate_authority.h"
#include "common/file_contents.h"
#include "common/node_role.h"
#include "common/openssl_objects.h"
#include "common/tls_credentials.h"
#include "gtest/gtest.h"

namespace tessera::testing {

// Every RPC in these tests finishes or fails within this deadline.
inline constexpr absl::Duration kRpcDeadline = absl::Seconds(5);

// A fresh directory under the test temp dir, removed on destruction.
class TemporaryDirectory {
 public:
  explicit TemporaryDirectory(absl::string_view label) {
    path_ = std::filesystem::path(::testing::TempDir()) /
            absl::StrCat(label, "_", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_",
                         ::getpid());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TemporaryDirectory() { std::filesystem::remove_all(path_); }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string File(absl::string_view name) const { return (path_ / std::string(name)).string(); }

 private:
  std::filesystem::path path_;
};

// Echoes one request message back with status OK.
class EchoReactor : public grpc::ServerGenericBidiReactor {
 public:
  EchoReactor() { StartRead(&message_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    StartWriteAndFinish(&message_, grpc::WriteOptions(), grpc::Status::OK);
  }
  void OnDone() override {}

 private:
  grpc::ByteBuffer message_;
};

// Serves every method path no other service claims. Owns its reactors until
// it is destroyed, which happens after the server's (see TestServer).
class EchoGenericService : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* /*context*/) override {
    absl::MutexLock lock(&mu_);
    reactors_.push_back(std::make_unique<EchoReactor>());
    return reactors_.back().get();
  }

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<EchoReactor>> reactors_ ABSL_GUARDED_BY(mu_);
};

// A running server; shut down (with a bounded deadline) on destruction.
class TestServer {
 public:
  static std::unique_ptr<TestServer> Start(std::shared_ptr<grpc::ServerCredentials> credentials) {
    return StartWith([&](grpc::ServerBuilder*) { return credentials; });
  }

  // `configure` prepares the builder (an authorization policy, say) and
  // returns the credentials to listen with.
  static std::unique_ptr<TestServer> StartWith(
      const std::function<std::shared_ptr<grpc::ServerCredentials>(grpc::ServerBuilder*)>& configure) {
    grpc::EnableDefaultHealthCheckService(true);
    auto server = std::make_unique<TestServer>();
    grpc::ServerBuilder builder;
    std::shared_ptr<grpc::ServerCredentials> credentials = configure(&builder);
    if (credentials == nullptr) {
      ADD_FAILURE() << "no server credentials";
      return nullptr;
    }
    builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &server->port_);
    builder.RegisterCallbackGenericService(&server->service_);
    server->server_ = builder.BuildAndStart();
    if (server->server_ == nullptr || server->port_ == 0) {
      ADD_FAILURE() << "the test server did not start";
      return nullptr;
    }
    return server;
  }

  ~TestServer() {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    }
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  EchoGenericService service_;  // outlives server_
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// What one call returned.
struct CallResult {
  grpc::Status status;
  std::string response;
  std::string peer_certificate_pem;  // the server's leaf, from the auth context
};

inline std::string ByteBufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return "";
  std::string out;
  for (const grpc::Slice& slice : slices) out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return out;
}

// A unary call of `method` (a full path such as "/tessera.worker.Worker/Status")
// with raw request bytes, bounded by kRpcDeadline.
inline CallResult Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                       const std::string& request = "ping") {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  absl::Notification done;
  CallResult result;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&](grpc::Status status) {
                   result.status = std::move(status);
                   done.Notify();
                 });
  // The deadline ends the call; the extra second only guards the test itself.
  if (!done.WaitForNotificationWithTimeout(kRpcDeadline + absl::Seconds(1))) {
    context.TryCancel();
    done.WaitForNotification();
  }
  result.response = ByteBufferToString(response_buffer);
  if (std::shared_ptr<const grpc::AuthContext> auth = context.auth_context(); auth != nullptr) {
    for (const grpc::string_ref& value : auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
      result.peer_certificate_pem.assign(value.data(), value.size());
    }
  }
  return result;
}

inline constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
// HealthCheckResponse{status: SERVING} in protobuf wire format.
inline constexpr char kServingResponse[] = "\x08\x01";

// Channel arguments that make every channel open its own connection (no
// subchannel sharing between channels), so a new channel means a new
// handshake.
inline grpc::ChannelArguments FreshConnectionArguments() {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return arguments;
}

// A channel to `address` presenting the `role` certificate of `dir`.
inline std::shared_ptr<grpc::Channel> ChannelAs(const std::string& dir, NodeRole role, const std::string& address,
                                                const std::string& expected_server_name = "") {
  TlsOptions options{.files = TlsFiles::InDirectory(dir, role), .expected_server_name = expected_server_name};
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(address, options, FreshConnectionArguments());
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

// Server credentials for the `role` certificate of `dir`.
inline std::shared_ptr<grpc::ServerCredentials> ServerCredentialsAs(const std::string& dir, NodeRole role,
                                                                    unsigned int refresh_interval_seconds = 60) {
  TlsOptions options{.files = TlsFiles::InDirectory(dir, role), .refresh_interval_seconds = refresh_interval_seconds};
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(options);
  EXPECT_TRUE(credentials.ok()) << credentials.status();
  return credentials.ok() ? *credentials : nullptr;
}

// The serial number (hex) of a PEM certificate; "" if it does not parse.
inline std::string CertificateSerial(const std::string& pem) {
  absl::StatusOr<X509Ptr> certificate = ParseCertificatePem(pem, "certificate");
  return certificate.ok() ? SerialNumberHex(certificate->get()) : "";
}

// The serial number of the certificate in the PEM file `path`; "" if unreadable.
inline std::string CertificateFileSerial(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFileToString(path);
  return pem.ok() ? CertificateSerial(*pem) : "";
}

// Re-issues a certificate on disk: a new key and certificate for `role` from
// `ca` (with `validity`) replace files.key and files.cert (key first, each
// with an atomic rename, as WriteKeyAndCertificate does), so a server
// watching them rotates. Fails the test on error.
inline void ReissueCertificate(const CertificateAuthority& ca, NodeRole role, const TlsFiles& files,
                               CertificateValidity validity = {}) {
  absl::StatusOr<KeyAndCertificate> leaf = ca.IssueLeaf({.role = role, .validity = validity});
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  const absl::Status written = WriteKeyAndCertificate(*leaf, files.cert, files.key);
  ASSERT_TRUE(written.ok()) << written;
}

// Calls `done` until it returns true, every `interval`, for `timeout` at
// most (a rotation is seen within a few refresh intervals); whether it did.
inline bool PollUntil(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(10),
                      absl::Duration interval = absl::Milliseconds(250)) {
  const absl::Time give_up = absl::Now() + timeout;
  for (;;) {
    if (done()) return true;
    if (absl::Now() >= give_up) return false;
    absl::SleepFor(interval);
  }
}

// A raw OpenSSL client limited to one TLS `version` (TLS1_2_VERSION, ...),
// presenting files.cert/files.key: whether the handshake with
// 127.0.0.1:`port` completed (5 s socket timeouts).
inline bool HandshakeWithVersion(const TlsFiles& files, int port, int version) {
  using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
  using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;
  SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  if (context == nullptr) return false;
  SSL_CTX_set_security_level(context.get(), 0);  // let this client offer old versions at all
  SSL_CTX_set_min_proto_version(context.get(), version);
  SSL_CTX_set_max_proto_version(context.get(), version);
  if (SSL_CTX_use_certificate_file(context.get(), files.cert.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(context.get(), files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    ADD_FAILURE() << "cannot load the client certificate";
    return false;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool completed = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    SslPtr ssl(SSL_new(context.get()));
    SSL_set_fd(ssl.get(), fd);
    const unsigned char alpn[] = {2, 'h', '2'};
    SSL_set_alpn_protos(ssl.get(), alpn, sizeof(alpn));
    completed = SSL_connect(ssl.get()) == 1;
  }
  ::close(fd);
  ERR_clear_error();
  return completed;
}

}  // namespace tessera::testing
