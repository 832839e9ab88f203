#include "common/ops_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "civetweb.h"
#include "prometheus/text_serializer.h"

namespace tessera {
namespace {

struct ListenAddress {
  std::string host;          // as given ("" = every interface)
  std::string civetweb_port;  // civetweb's listening_ports syntax
};

absl::StatusOr<ListenAddress> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(absl::string_view(listen).substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("ops address '", listen, "' is not HOST:PORT"));
  }
  ListenAddress address;
  address.host = listen.substr(0, colon);
  if (address.host.empty()) {
    address.civetweb_port = absl::StrCat(port);
    return address;
  }
  unsigned char buffer[16];
  const bool bracketed = address.host.size() > 2 && address.host.front() == '[' && address.host.back() == ']';
  const std::string v6 = bracketed ? address.host.substr(1, address.host.size() - 2) : "";
  if (bracketed && inet_pton(AF_INET6, v6.c_str(), buffer) == 1) {
    address.civetweb_port = absl::StrCat("[", v6, "]:", port);
    return address;
  }
  std::string v4 = address.host == "localhost" ? "127.0.0.1" : address.host;
  if (inet_pton(AF_INET, v4.c_str(), buffer) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ops address '", listen, "': the host must be a numeric IPv4 address or [IPv6]"));
  }
  address.civetweb_port = absl::StrCat(v4, ":", port);
  return address;
}

// Where a connection reaches the listening socket bound to `host` (as given
// to Start: a wildcard is reached through loopback).
std::pair<int, std::string> LocalPeerOf(const std::string& host) {
  if (host.size() > 2 && host.front() == '[') {
    const std::string v6 = host.substr(1, host.size() - 2);
    return {AF_INET6, v6 == "::" ? "::1" : v6};
  }
  if (host.empty() || host == "0.0.0.0" || host == "localhost") return {AF_INET, "127.0.0.1"};
  return {AF_INET, host};
}

// Opens a TCP connection to the peer and closes it at once; errors are
// ignored (the caller only wants the listener to wake).
void ConnectAndClose(int family, const std::string& host, int port) {
  const int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (family == AF_INET6) {
    sockaddr_in6 peer{};
    peer.sin6_family = AF_INET6;
    peer.sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &peer.sin6_addr) == 1) {
      (void)connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof(peer));
    }
  } else {
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &peer.sin_addr) == 1) {
      (void)connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof(peer));
    }
  }
  close(fd);
}

// One whole response; the connection closes after it.
int Respond(mg_connection* connection, int code, const char* reason, const char* content_type,
            absl::string_view body, const char* extra_headers = "") {
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: %s\r\n"
            "Content-Length: %zu\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n"
            "%s\r\n",
            code, reason, content_type, body.size(), extra_headers);
  if (!body.empty()) mg_write(connection, body.data(), body.size());
  return code;
}

constexpr char kPlainText[] = "text/plain; charset=utf-8";

// Civetweb's own error log would go to stderr; the responses say enough.
int QuietLog(const mg_connection*, const char*) { return 1; }

}  // namespace

absl::StatusOr<std::unique_ptr<OpsServer>> OpsServer::Start(Options options) {
  absl::StatusOr<ListenAddress> address = ParseListen(options.listen);
  if (!address.ok()) return address.status();
  static const unsigned kLibraryInitialized = mg_init_library(0);
  (void)kLibraryInitialized;

  std::unique_ptr<OpsServer> server(new OpsServer(std::move(options), address->host));
  const std::string threads = absl::StrCat(std::max(1, server->options_.threads));
  const char* config[] = {"listening_ports", address->civetweb_port.c_str(),
                          "num_threads", threads.c_str(),
                          "request_timeout_ms", "10000",
                          "enable_keep_alive", "no",
                          nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = &QuietLog;
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  mg_init_data init{&callbacks, server.get(), config};
  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve the ops port on ", server->options_.listen, ": ",
                                               error_text[0] != '\0' ? error_text : "civetweb failed to start"));
  }
  mg_set_request_handler(server->context_, "/", &OpsServer::HandleRequest, server.get());
  mg_server_port ports[4];
  const int count = mg_get_server_ports(server->context_, 4, ports);
  if (count < 1 || ports[0].port <= 0) {
    return absl::InternalError(absl::StrCat("the ops server on ", server->options_.listen, " reports no port"));
  }
  server->port_ = ports[0].port;
  return server;
}

OpsServer::OpsServer(Options options, std::string host) : options_(std::move(options)), host_(std::move(host)) {}

OpsServer::~OpsServer() {
  if (context_ == nullptr) return;
  // Civetweb's master thread sees mg_stop's flag only when its poll of the
  // listening socket returns, which an idle server's does every 2 s: every
  // process with an ops port took up to 2 s more to exit. Connections
  // (closed at once) wake the poll until mg_stop returns.
  std::atomic<bool> stopped{false};
  std::thread waker([this, &stopped] {
    const auto [family, host] = LocalPeerOf(host_);
    while (!stopped.load()) {
      ConnectAndClose(family, host, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  mg_stop(context_);
  stopped.store(true);
  waker.join();
}

std::string OpsServer::address() const {
  return absl::StrCat(host_.empty() ? "0.0.0.0" : host_, ":", port_);
}

absl::Status OpsServer::Readiness() const {
  if (draining_.load()) return absl::UnavailableError("draining");
  if (!options_.readiness) return absl::OkStatus();
  return options_.readiness();
}

std::string OpsServer::ScrapeMetrics() const {
  if (options_.before_scrape) options_.before_scrape();
  std::vector<prometheus::MetricFamily> families;
  for (const std::weak_ptr<prometheus::Collectable>& weak : options_.collectables) {
    std::shared_ptr<prometheus::Collectable> collectable = weak.lock();
    if (collectable == nullptr) continue;
    std::vector<prometheus::MetricFamily> collected = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

void OpsServer::Announce(const std::string& name) const {
  std::printf("%s: ops listening on %s\n", name.c_str(), address().c_str());
  std::fflush(stdout);
}

int OpsServer::HandleRequest(mg_connection* connection, void* self) {
  try {
    return static_cast<const OpsServer*>(self)->Handle(connection);
  } catch (const std::exception& e) {
    return Respond(connection, 500, "Internal Server Error", kPlainText, absl::StrCat(e.what(), "\n"));
  }
}

int OpsServer::Handle(mg_connection* connection) const {
  const mg_request_info* request = mg_get_request_info(connection);
  const absl::string_view path = request->local_uri != nullptr ? request->local_uri : "";
  const bool known = path == "/healthz" || path == "/readyz" || path == "/metrics";
  if (!known) return Respond(connection, 404, "Not Found", kPlainText, "not found\n");
  if (request->request_method == nullptr || std::strcmp(request->request_method, "GET") != 0) {
    return Respond(connection, 405, "Method Not Allowed", kPlainText, "only GET is allowed\n", "Allow: GET\r\n");
  }
  if (path == "/healthz") return Respond(connection, 200, "OK", kPlainText, "ok\n");
  if (path == "/readyz") {
    const absl::Status ready = Readiness();
    if (ready.ok()) return Respond(connection, 200, "OK", kPlainText, "ready\n");
    // One line, whatever the reason holds.
    std::string reason = absl::StrReplaceAll(ready.message(), {{"\r", " "}, {"\n", " "}});
    if (reason.empty()) reason = "not ready";
    return Respond(connection, 503, "Service Unavailable", kPlainText, absl::StrCat(reason, "\n"));
  }
  return Respond(connection, 200, "OK", kPrometheusTextContentType, ScrapeMetrics());
}

}  // namespace tessera
