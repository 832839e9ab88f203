// Where the coordinator reaches one worker, and the name the worker's
// certificate must carry.
//
// `address` is what is dialled ("10.1.2.3:8001", "[fd00::7]:8001",
// "worker-0:8001") and identifies the worker in the pool. `tls_server_name`
// is the name the server certificate is verified against instead of the
// host in `address`; it is set for workers found through DNS discovery
// (worker_discovery.h), whose certificate names the DNS name (`tessera certs
// --hosts NAME`), not the pod IP that is dialled. Empty: the certificate must
// name the host of `address`, as for static --workers entries.
//
// A plain value; implicitly made from an address so that static lists read
// naturally ({"w1:5000", "w2:5000"}).
#pragma once

#include <string>
#include <utility>

namespace tessera::coordinator {

struct WorkerEndpoint {
  std::string address;
  std::string tls_server_name;

  WorkerEndpoint() = default;
  WorkerEndpoint(std::string address, std::string tls_server_name = "")  // NOLINT(google-explicit-constructor)
      : address(std::move(address)), tls_server_name(std::move(tls_server_name)) {}
  WorkerEndpoint(const char* address) : address(address) {}  // NOLINT(google-explicit-constructor)

  bool operator==(const WorkerEndpoint&) const = default;
  auto operator<=>(const WorkerEndpoint&) const = default;
};

}  // namespace tessera::coordinator
