#include "client/client_tls_flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

using ::testing::HasSubstr;

ClientTlsFlags Flags(std::initializer_list<std::pair<const char*, const char*>> values, bool insecure = false) {
  ClientTlsFlags flags;
  for (const auto& [flag, value] : values) EXPECT_TRUE(flags.SetValue(flag, value)) << flag;
  flags.insecure = insecure;
  return flags;
}

TEST(ClientTlsFlagsTest, TokenFileWithCertsDirUsesItsCaOnly) {
  ClientTlsFlags flags = Flags({{"--certs", "/etc/tessera"}, {"--token-file", "/run/token"}});
  ASSERT_TRUE(flags.Check().ok()) << flags.Check();
  TlsOptions tls = flags.ToTlsOptions();
  EXPECT_EQ(tls.files.ca, "/etc/tessera/ca.pem");
  EXPECT_EQ(tls.files.cert, "");
  EXPECT_EQ(tls.files.key, "");
  EXPECT_EQ(tls.bearer_token_file, "/run/token");
  EXPECT_FALSE(tls.insecure);
}

TEST(ClientTlsFlagsTest, TokenFileWithCaAlone) {
  ClientTlsFlags flags = Flags({{"--ca", "/ca.pem"}, {"--token-file", "/run/token"}, {"--server-name", "coord"}});
  ASSERT_TRUE(flags.Check().ok()) << flags.Check();
  TlsOptions tls = flags.ToTlsOptions();
  EXPECT_EQ(tls.files.ca, "/ca.pem");
  EXPECT_EQ(tls.files.cert, "");
  EXPECT_EQ(tls.bearer_token_file, "/run/token");
  EXPECT_EQ(tls.expected_server_name, "coord");
}

TEST(ClientTlsFlagsTest, TokenFileRefusesPlaintextCertificatesAndAmbiguousTrust) {
  absl::Status insecure = Flags({{"--token-file", "/t"}}, /*insecure=*/true).Check();
  EXPECT_EQ(insecure.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(insecure.message(), HasSubstr("needs TLS"));
  absl::Status with_cert =
      Flags({{"--ca", "/ca"}, {"--cert", "/c"}, {"--key", "/k"}, {"--token-file", "/t"}}).Check();
  EXPECT_THAT(with_cert.message(), HasSubstr("drop --cert and --key"));
  EXPECT_THAT(Flags({{"--token-file", "/t"}}).Check().message(), HasSubstr("exactly one of --ca F or --certs DIR"));
  EXPECT_FALSE(Flags({{"--certs", "/d"}, {"--ca", "/ca"}, {"--token-file", "/t"}}).Check().ok());
}

TEST(ClientTlsFlagsTest, WithoutTokenFileTheModesAreUnchanged) {
  EXPECT_TRUE(Flags({{"--certs", "/d"}}).Check().ok());
  EXPECT_TRUE(Flags({}, /*insecure=*/true).Check().ok());
  EXPECT_FALSE(Flags({{"--ca", "/ca"}}).Check().ok());  // --ca alone needs --cert and --key without a token
  TlsOptions tls = Flags({{"--certs", "/d"}}).ToTlsOptions();
  EXPECT_EQ(tls.files.cert, "/d/client.pem");
  EXPECT_EQ(tls.bearer_token_file, "");
  ClientTlsFlags flags;
  EXPECT_FALSE(flags.SetValue("--model", "x"));
}

}  // namespace
}  // namespace tessera::client
