#include "coordinator/pool/host_resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <set>

#include "absl/strings/str_cat.h"

namespace tessera::coordinator {

absl::StatusOr<std::vector<std::string>> SystemHostResolver::Resolve(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  const int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &results);
  if (rc != 0) {
    const std::string message = absl::StrCat("cannot resolve \"", name, "\": ", ::gai_strerror(rc));
    if (rc == EAI_AGAIN || rc == EAI_SYSTEM || rc == EAI_MEMORY) return absl::UnavailableError(message);
    return absl::NotFoundError(message);
  }
  std::set<std::string> addresses;
  for (const addrinfo* info = results; info != nullptr; info = info->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = nullptr;
    if (info->ai_family == AF_INET) {
      raw = &reinterpret_cast<const sockaddr_in*>(info->ai_addr)->sin_addr;
    } else if (info->ai_family == AF_INET6) {
      raw = &reinterpret_cast<const sockaddr_in6*>(info->ai_addr)->sin6_addr;
    }
    if (raw != nullptr && ::inet_ntop(info->ai_family, raw, text, sizeof(text)) != nullptr) addresses.insert(text);
  }
  ::freeaddrinfo(results);
  if (addresses.empty()) return absl::NotFoundError(absl::StrCat("\"", name, "\" has no IPv4 or IPv6 address"));
  return std::vector<std::string>(addresses.begin(), addresses.end());
}

}  // namespace tessera::coordinator
