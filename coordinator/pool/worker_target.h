// The entries of the coordinator's --workers flag.
//
//   host:port            a static worker, dialled as written ("10.0.0.5:8001",
//                        "[::1]:8001", "worker-0:8001": gRPC resolves a host
//                        name itself and the certificate must name that host)
//   dns:///NAME:PORT     every address NAME resolves to (IPv4 and IPv6),
//                        re-resolved periodically (worker_discovery.h); each
//                        address is dialled and its certificate verified
//                        against NAME. gRPC's target syntax; the shorter
//                        "dns:NAME:PORT" is accepted too. An authority
//                        ("dns://8.8.8.8/NAME:PORT") is refused: names are
//                        resolved by the system resolver (getaddrinfo:
//                        /etc/hosts, then DNS as /etc/nsswitch.conf says).
//
// Entries are separated by commas; spaces around them and empty entries are
// ignored; repeated entries are dropped. Static and DNS entries may be mixed.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera::coordinator {

struct WorkerTarget {
  enum class Kind { kStatic, kDns };
  Kind kind = Kind::kStatic;
  // kStatic: the host dialled (an IPv6 literal without brackets). kDns: the
  // NAME to resolve.
  std::string host;
  int port = 0;  // 1..65535

  // kStatic: "host:port" (brackets around IPv6); kDns: "dns:///NAME:PORT".
  std::string ToString() const;

  bool operator==(const WorkerTarget&) const = default;
};

// Parses the --workers list above; InvalidArgument names the bad entry.
absl::StatusOr<std::vector<WorkerTarget>> ParseWorkerTargets(absl::string_view list);

// "HOST:PORT", with brackets around an IPv6 literal ("[fd00::1]:8001").
std::string JoinHostPort(absl::string_view host, int port);

}  // namespace tessera::coordinator
