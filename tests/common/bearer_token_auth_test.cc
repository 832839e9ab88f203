#include "common/bearer_token_auth.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/certificate_authority.h"
#include "common/file_contents.h"
#include "common/server_authorization.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/tls_test_cluster.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Call;
using testing::TemporaryDirectory;
using testing::TestServer;

constexpr char kAlice[] = "alice-0123456789abcdef";
constexpr char kBob[] = "bob-fedcba9876543210";
constexpr char kCarol[] = "carol-00112233445566778899";

constexpr char kModelInfer[] = "/inference.GRPCInferenceService/ModelInfer";
constexpr char kClusterStatus[] = "/tessera.status.ClusterStatus/GetStatus";
constexpr char kWorkerExecute[] = "/tessera.worker.Worker/Execute";

void WriteTokens(const std::string& path, const std::string& contents) {
  ASSERT_TRUE(WriteFileAtomically(path, contents, 0600).ok());
}

TEST(BearerTokenSetTest, ParsesTokensSkippingCommentsAndBlankLinesAndTrimming) {
  absl::StatusOr<BearerTokenSet> set = BearerTokenSet::Parse(
      absl::StrCat("# operators\n\n  ", kAlice, "  \r\n\t", kBob, "\n   # ", kCarol, "\n"), "tokens.txt");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 2u);
  EXPECT_TRUE(set->Contains(kAlice));
  EXPECT_TRUE(set->Contains(kBob));
  EXPECT_FALSE(set->Contains(kCarol));  // commented out
  EXPECT_FALSE(set->Contains(absl::StrCat(kAlice, "x")));
  EXPECT_FALSE(set->Contains(std::string(kAlice).substr(1)));
  EXPECT_FALSE(set->Contains(""));
}

TEST(BearerTokenSetTest, EmptyFileHoldsNoToken) {
  absl::StatusOr<BearerTokenSet> set = BearerTokenSet::Parse("# nothing yet\n\n", "tokens.txt");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->size(), 0u);
  EXPECT_FALSE(set->Contains(kAlice));
}

TEST(BearerTokenSetTest, BadLinesAreNamedByNumberNeverByContents) {
  absl::StatusOr<BearerTokenSet> short_token =
      BearerTokenSet::Parse(absl::StrCat(kAlice, "\n# x\nshort-secret\n"), "/etc/tessera/tokens");
  ASSERT_FALSE(short_token.ok());
  EXPECT_EQ(short_token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_token.status().message(), HasSubstr("/etc/tessera/tokens line 3"));
  EXPECT_THAT(short_token.status().message(), HasSubstr("shorter than 16"));
  EXPECT_THAT(short_token.status().message(), Not(HasSubstr("short-secret")));

  absl::StatusOr<BearerTokenSet> spaced = BearerTokenSet::Parse("secret part-one part-two-long\n", "t");
  ASSERT_FALSE(spaced.ok());
  EXPECT_THAT(spaced.status().message(), HasSubstr("t line 1"));
  EXPECT_THAT(spaced.status().message(), Not(HasSubstr("part-one")));

  absl::StatusOr<BearerTokenSet> control = BearerTokenSet::Parse("0123456789abcdef\x01xyz\n", "t");
  EXPECT_FALSE(control.ok());
  EXPECT_FALSE(BearerTokenSet::Parse(std::string(kMaxBearerTokenLength + 1, 'a'), "t").ok());
  EXPECT_TRUE(BearerTokenSet::Parse(std::string(kMaxBearerTokenLength, 'a'), "t").ok());
}

TEST(ReadBearerTokenFileTest, FirstTokenLineTrimmed) {
  TemporaryDirectory dir("bearer_token_auth_test");
  const std::string path = dir.File("token");
  WriteTokens(path, absl::StrCat("# my token\n\n  ", kAlice, " \n"));
  absl::StatusOr<std::string> token = ReadBearerTokenFile(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, kAlice);

  WriteTokens(path, "# none\n");
  token = ReadBearerTokenFile(path);
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr("no token"));

  WriteTokens(path, "tiny-secret\n");
  token = ReadBearerTokenFile(path);
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), Not(HasSubstr("tiny-secret")));

  token = ReadBearerTokenFile(dir.File("missing"));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(token.status().message(), HasSubstr("missing"));
}

class BearerTokenAuthenticatorTest : public ::testing::Test {
 protected:
  std::shared_ptr<BearerTokenAuthenticator> Make(const std::string& contents) {
    WriteTokens(tokens_file(), contents);
    absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> authenticator =
        BearerTokenAuthenticator::Create({.tokens_file = tokens_file(), .start_refresh_thread = false});
    EXPECT_TRUE(authenticator.ok()) << authenticator.status();
    return authenticator.ok() ? *authenticator : nullptr;
  }
  std::string tokens_file() const { return dir_.File("tokens"); }

  TemporaryDirectory dir_{"bearer_token_auth_test"};
};

absl::Status AuthenticateHeader(const BearerTokenAuthenticator& authenticator, const std::string& value) {
  return authenticator.Authenticate({value});
}

TEST_F(BearerTokenAuthenticatorTest, AcceptsListedTokensOnly) {
  auto authenticator = Make(absl::StrCat(kAlice, "\n", kBob, "\n"));
  ASSERT_NE(authenticator, nullptr);
  EXPECT_EQ(authenticator->token_count(), 2u);
  EXPECT_TRUE(AuthenticateHeader(*authenticator, absl::StrCat("Bearer ", kAlice)).ok());
  EXPECT_TRUE(AuthenticateHeader(*authenticator, absl::StrCat("bearer ", kBob)).ok());  // scheme is case-insensitive

  const absl::Status wrong = AuthenticateHeader(*authenticator, absl::StrCat("Bearer ", kCarol));
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(wrong.message(), "bearer token not accepted");

  const absl::Status missing = authenticator->Authenticate({});
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(missing.message(), HasSubstr("missing bearer token"));

  const absl::Status basic = AuthenticateHeader(*authenticator, absl::StrCat("Basic ", kAlice));
  EXPECT_EQ(basic.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(basic.message(), HasSubstr("not of the form 'Bearer <token>'"));
  EXPECT_THAT(basic.message(), Not(HasSubstr(kAlice)));

  EXPECT_EQ(AuthenticateHeader(*authenticator, kAlice).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(AuthenticateHeader(*authenticator, "Bearer ").code(), absl::StatusCode::kUnauthenticated);
  const absl::Status twice = authenticator->Authenticate({absl::StrCat("Bearer ", kAlice), "Bearer x"});
  EXPECT_EQ(twice.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(twice.message(), HasSubstr("more than one"));
}

TEST_F(BearerTokenAuthenticatorTest, ProcessConsumesTheHeaderAndRefusesWithUnauthenticated) {
  auto authenticator = Make(absl::StrCat(kAlice, "\n"));
  ASSERT_NE(authenticator, nullptr);
  const std::string good = absl::StrCat("Bearer ", kAlice);
  grpc::AuthMetadataProcessor::InputMetadata input = {{"authorization", good}, {"x-other", "1"}};
  grpc::AuthMetadataProcessor::OutputMetadata consumed, response;
  grpc::Status status = authenticator->Process(input, nullptr, &consumed, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(consumed.size(), 1u);
  EXPECT_EQ(consumed.begin()->first, "authorization");

  const std::string bad = absl::StrCat("Bearer ", kBob);
  grpc::AuthMetadataProcessor::InputMetadata wrong = {{"authorization", bad}};
  consumed.clear();
  status = authenticator->Process(wrong, nullptr, &consumed, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), Not(HasSubstr(kBob)));

  status = authenticator->Process({{"x-other", "1"}}, nullptr, &consumed, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(BearerTokenAuthenticatorTest, ReloadSwapsTokensAndKeepsThemWhenTheFileIsBad) {
  auto authenticator = Make(absl::StrCat(kAlice, "\n"));
  ASSERT_NE(authenticator, nullptr);
  WriteTokens(tokens_file(), absl::StrCat(kBob, "\n"));
  ASSERT_TRUE(authenticator->Reload().ok());
  EXPECT_FALSE(AuthenticateHeader(*authenticator, absl::StrCat("Bearer ", kAlice)).ok());
  EXPECT_TRUE(AuthenticateHeader(*authenticator, absl::StrCat("Bearer ", kBob)).ok());

  // A bad file: the error names the line; bob stays valid.
  WriteTokens(tokens_file(), "oops\n");
  const absl::Status bad = authenticator->Reload();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("line 1"));
  EXPECT_TRUE(AuthenticateHeader(*authenticator, absl::StrCat("Bearer ", kBob)).ok());

  // A missing file: the same.
  ASSERT_EQ(::unlink(tokens_file().c_str()), 0);
  EXPECT_EQ(authenticator->Reload().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(AuthenticateHeader(*authenticator, absl::StrCat("Bearer ", kBob)).ok());

  // No token left: everything is refused.
  WriteTokens(tokens_file(), "# revoked\n");
  ASSERT_TRUE(authenticator->Reload().ok());
  EXPECT_EQ(authenticator->token_count(), 0u);
  EXPECT_FALSE(AuthenticateHeader(*authenticator, absl::StrCat("Bearer ", kBob)).ok());
}

TEST_F(BearerTokenAuthenticatorTest, CreateNeedsAFileWithATokenAndNamesIt) {
  absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> missing =
      BearerTokenAuthenticator::Create({.tokens_file = dir_.File("nope")});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope"));
  WriteTokens(tokens_file(), "# empty\n");
  absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> empty =
      BearerTokenAuthenticator::Create({.tokens_file = tokens_file()});
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("no token"));
  EXPECT_FALSE(BearerTokenAuthenticator::Create({}).ok());
}

TEST_F(BearerTokenAuthenticatorTest, RefreshThreadPicksUpAChangedFile) {
  WriteTokens(tokens_file(), absl::StrCat(kAlice, "\n"));
  absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> authenticator =
      BearerTokenAuthenticator::Create({.tokens_file = tokens_file(), .refresh_interval = absl::Seconds(1)});
  ASSERT_TRUE(authenticator.ok()) << authenticator.status();
  WriteTokens(tokens_file(), absl::StrCat(kCarol, "\n"));
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (!AuthenticateHeader(**authenticator, absl::StrCat("Bearer ", kCarol)).ok() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(AuthenticateHeader(**authenticator, absl::StrCat("Bearer ", kCarol)).ok());
  EXPECT_FALSE(AuthenticateHeader(**authenticator, absl::StrCat("Bearer ", kAlice)).ok());
}

// A real server behind ConfigureServerSecurity in token mode, answering any
// allowed path by echo.
class TokenServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MakeClusterCertificates(dir_.path().string(), {}).ok());
    WriteTokens(tokens_file(), absl::StrCat("# clients\n", kAlice, "\n"));
  }

  TlsOptions ServerOptions() const {
    TlsOptions options{.files = TlsFiles::InDirectory(dir_.path().string(), NodeRole::kCoordinator)};
    options.client_authentication = ClientAuthentication::kBearerToken;
    options.bearer_tokens_file = tokens_file();
    return options;
  }

  std::unique_ptr<TestServer> StartCoordinator() {
    return TestServer::StartWith([&](grpc::ServerBuilder* builder) -> std::shared_ptr<grpc::ServerCredentials> {
      absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
          ConfigureServerSecurity(NodeRole::kCoordinator, ServerOptions(), builder);
      EXPECT_TRUE(credentials.ok()) << credentials.status();
      return credentials.ok() ? *credentials : nullptr;
    });
  }

  // A channel trusting the cluster CA, without a certificate, sending the
  // token in `token_file` (none when empty).
  std::shared_ptr<grpc::Channel> TokenChannel(const std::string& address, const std::string& token_file) {
    TlsOptions options{.files = {.ca = dir_.File("ca.pem")}};
    options.bearer_token_file = token_file;
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeChannel(address, options, testing::FreshConnectionArguments());
    EXPECT_TRUE(channel.ok()) << channel.status();
    return channel.ok() ? *channel : nullptr;
  }

  std::string ClientTokenFile(const std::string& token) {
    const std::string path = dir_.File(absl::StrCat("client_token_", ++client_files_));
    WriteTokens(path, token + "\n");
    return path;
  }

  std::string tokens_file() const { return dir_.File("tokens"); }

  TemporaryDirectory dir_{"bearer_token_server_test"};
  int client_files_ = 0;
};

TEST_F(TokenServerTest, RightTokenPassesWrongOrMissingIsUnauthenticated) {
  std::unique_ptr<TestServer> server = StartCoordinator();
  ASSERT_NE(server, nullptr);
  testing::CallResult ok = Call(TokenChannel(server->address(), ClientTokenFile(kAlice)), kModelInfer, "hello");
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.response, "hello");
  EXPECT_TRUE(Call(TokenChannel(server->address(), ClientTokenFile(kAlice)), kClusterStatus).status.ok());
  testing::CallResult health =
      Call(TokenChannel(server->address(), ClientTokenFile(kAlice)), testing::kHealthCheck, "");
  EXPECT_TRUE(health.status.ok()) << health.status.error_message();
  EXPECT_EQ(health.response, testing::kServingResponse);

  grpc::Status wrong = Call(TokenChannel(server->address(), ClientTokenFile(kBob)), kModelInfer).status;
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong.error_message();
  EXPECT_THAT(wrong.error_message(), Not(HasSubstr(kBob)));

  grpc::Status missing = Call(TokenChannel(server->address(), ""), kModelInfer).status;
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED) << missing.error_message();

  // A client certificate alone is no substitute for the token.
  grpc::Status certificate_only =
      Call(testing::ChannelAs(dir_.path().string(), NodeRole::kClient, server->address()), kModelInfer).status;
  EXPECT_EQ(certificate_only.error_code(), grpc::StatusCode::UNAUTHENTICATED) << certificate_only.error_message();
}

TEST_F(TokenServerTest, TokenClientsGetTheClientPathsOnly) {
  std::unique_ptr<TestServer> server = StartCoordinator();
  ASSERT_NE(server, nullptr);
  auto channel = TokenChannel(server->address(), ClientTokenFile(kAlice));
  grpc::Status worker = Call(channel, kWorkerExecute).status;
  EXPECT_EQ(worker.error_code(), grpc::StatusCode::PERMISSION_DENIED) << worker.error_message();
  grpc::Status other = Call(channel, "/some.Other/Method").status;
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED) << other.error_message();
}

TEST_F(TokenServerTest, TokenModeIsForCoordinatorsWithTlsOnly) {
  grpc::ServerBuilder builder;
  TlsOptions options = ServerOptions();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> worker =
      ConfigureServerSecurity(NodeRole::kWorker, options, &builder);
  ASSERT_FALSE(worker.ok());
  EXPECT_THAT(worker.status().message(), HasSubstr("coordinator"));
  options.insecure = true;
  EXPECT_FALSE(ConfigureServerSecurity(NodeRole::kCoordinator, options, &builder).ok());
  options = ServerOptions();
  options.bearer_tokens_file = dir_.File("absent");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> absent =
      ConfigureServerSecurity(NodeRole::kCoordinator, options, &builder);
  ASSERT_FALSE(absent.ok());
  EXPECT_THAT(absent.status().message(), HasSubstr("absent"));
  // A token is never sent in plaintext.
  TlsOptions plaintext{.insecure = true};
  plaintext.bearer_token_file = ClientTokenFile(kAlice);
  EXPECT_FALSE(MakeChannelCredentials(plaintext).ok());
}

}  // namespace
}  // namespace tessera
