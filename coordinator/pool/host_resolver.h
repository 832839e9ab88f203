// Name -> addresses, the seam between worker discovery and the system's
// resolver. SystemHostResolver asks getaddrinfo (so /etc/hosts, then DNS, as
// /etc/nsswitch.conf says); tests use FakeHostResolver
// (fake_host_resolver.h).
//
// Thread safety: implementations are thread-safe. Resolve may block (DNS
// timeouts of the system resolver: seconds).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::coordinator {

class HostResolver {
 public:
  virtual ~HostResolver() = default;

  // Every address `name` resolves to, IPv4 and IPv6, as numeric strings
  // without brackets ("10.0.0.7", "fd00::7"), sorted and without repeats.
  // NotFound when the name does not exist or has no address; Unavailable
  // for a temporary failure (no answer from the DNS server, ...).
  virtual absl::StatusOr<std::vector<std::string>> Resolve(const std::string& name) = 0;
};

class SystemHostResolver final : public HostResolver {
 public:
  absl::StatusOr<std::vector<std::string>> Resolve(const std::string& name) override;
};

}  // namespace tessera::coordinator
