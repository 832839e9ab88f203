// SystemHostResolver over getaddrinfo: numeric addresses of both families
// and /etc/hosts names, sorted and unique. (Names that need a DNS server are
// left out: build machines may have none.)
#include "coordinator/pool/host_resolver.h"

#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

TEST(SystemHostResolverTest, NumericAddressesResolveToThemselves) {
  SystemHostResolver resolver;
  absl::StatusOr<std::vector<std::string>> v4 = resolver.Resolve("192.0.2.17");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(*v4, std::vector<std::string>{"192.0.2.17"});
  absl::StatusOr<std::vector<std::string>> v6 = resolver.Resolve("fd00::7");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(*v6, std::vector<std::string>{"fd00::7"});
}

TEST(SystemHostResolverTest, LocalhostComesFromTheHostsFile) {
  SystemHostResolver resolver;
  absl::StatusOr<std::vector<std::string>> local = resolver.Resolve("localhost");
  ASSERT_TRUE(local.ok()) << local.status();
  ASSERT_FALSE(local->empty());
  EXPECT_TRUE(std::is_sorted(local->begin(), local->end()));
  EXPECT_EQ(std::adjacent_find(local->begin(), local->end()), local->end());
  bool loopback = false;
  for (const std::string& address : *local) loopback |= address == "127.0.0.1" || address == "::1";
  EXPECT_TRUE(loopback);
}

TEST(SystemHostResolverTest, AnInvalidNameIsAnError) {
  SystemHostResolver resolver;
  // Not a valid host name: refused without asking a DNS server.
  EXPECT_FALSE(resolver.Resolve("").ok());
}

}  // namespace
}  // namespace tessera::coordinator
