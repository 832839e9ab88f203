// A minimal HTTP/1.1 client for tests of the ops port: one request per
// connection over loopback TCP, the whole response read until the server
// closes, every step bounded by a timeout.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tessera::testing {

struct HttpResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;

  // The value of header `name` (case-insensitive), "" when absent.
  std::string Header(absl::string_view name) const {
    for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
      const size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(line.substr(0, colon)), name)) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
    return "";
  }
};

// `address` is "HOST:PORT" with a numeric IPv4 host.
inline absl::StatusOr<HttpResponse> HttpRequest(const std::string& address, const std::string& method,
                                                const std::string& path, absl::Duration timeout = absl::Seconds(10)) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad address ", address));
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad host in ", address));
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval tv{static_cast<time_t>(absl::ToInt64Seconds(timeout)), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  const std::string request =
      absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", address, "\r\nConnection: close\r\n\r\n");
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    return absl::UnavailableError("send failed");
  }
  std::string raw;
  const absl::Time give_up = absl::Now() + timeout;
  char buffer[8192];
  while (absl::Now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0) return absl::UnavailableError("recv failed");
    if (n == 0) break;
    raw.append(buffer, static_cast<size_t>(n));
  }
  const size_t end_of_head = raw.find("\r\n\r\n");
  if (end_of_head == std::string::npos) return absl::DataLossError(absl::StrCat("no complete response: ", raw));
  HttpResponse response;
  response.head = raw.substr(0, end_of_head);
  response.body = raw.substr(end_of_head + 4);
  std::vector<std::string> status_line = absl::StrSplit(response.head.substr(0, response.head.find("\r\n")), ' ');
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &response.status)) {
    return absl::DataLossError(absl::StrCat("bad status line: ", response.head));
  }
  return response;
}

inline absl::StatusOr<HttpResponse> HttpGet(const std::string& address, const std::string& path) {
  return HttpRequest(address, "GET", path);
}

}  // namespace tessera::testing
