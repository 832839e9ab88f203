// The operations HTTP port of a Tessera server (--ops-listen): what
// orchestrators and monitoring ask of a running process, apart from the
// gRPC port.
//
//   GET /healthz  200 "ok" while the process is alive (liveness).
//   GET /readyz   200 "ready" when Options::readiness returns OK and the
//                 server is not draining; 503 with a one-line reason
//                 otherwise (readiness).
//   GET /metrics  every Options::collectables' metrics in the Prometheus
//                 text exposition format (version 0.0.4).
// Other paths are 404; other methods 405 (with "Allow: GET"). Bodies are
// text/plain; every response closes its connection.
//
// HTTP is civetweb's (the embeddable server prometheus-cpp's own Exposer
// uses) with a small fixed pool of handler threads. Nothing here is secret:
// the port serves no tensors and takes no input, and is meant for the
// cluster's network, not the clients' (no TLS).
//
// Thread-safe. The destructor stops the server and waits for the handlers
// running; `readiness` and `before_scrape` are called on handler threads,
// possibly concurrently, and must not block for long.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/collectable.h"

struct mg_context;
struct mg_connection;

namespace tessera {

class OpsServer {
 public:
  struct Options {
    // HOST:PORT with a numeric IPv4 host (0.0.0.0: every interface) or
    // [IPv6]:PORT; port 0 picks a free port (see port()).
    std::string listen;
    // Readiness: OK when ready; otherwise the status message is the reason
    // /readyz gives. Unset: ready.
    std::function<absl::Status()> readiness;
    // Scraped in order by /metrics (typically one prometheus::Registry).
    // Collectables that are gone are skipped.
    std::vector<std::weak_ptr<prometheus::Collectable>> collectables;
    // Called before each scrape, to refresh gauges that are computed on
    // demand (workers up, say). Optional.
    std::function<void()> before_scrape;
    // Handler threads.
    int threads = 2;
  };

  // Listens and serves. InvalidArgument for a malformed address;
  // Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<OpsServer>> Start(Options options);
  ~OpsServer();
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

  // The port actually bound, and HOST:PORT with it.
  int port() const { return port_; }
  std::string address() const;

  // While draining (a server shutting down), /readyz answers 503
  // "draining" whatever the readiness callback says.
  void SetDraining(bool draining) { draining_.store(draining); }

  // What /readyz answers: OK, or the reason the server is not ready.
  absl::Status Readiness() const;

  // The /metrics body.
  std::string ScrapeMetrics() const;

  // Prints "<name>: ops listening on HOST:PORT" on stdout and flushes it
  // (launchers and tests read this line, as they read the gRPC one).
  void Announce(const std::string& name) const;

 private:
  explicit OpsServer(Options options, std::string host);
  static int HandleRequest(mg_connection* connection, void* self);
  int Handle(mg_connection* connection) const;

  const Options options_;
  const std::string host_;
  int port_ = 0;
  std::atomic<bool> draining_{false};
  mg_context* context_ = nullptr;
};

// The content type of /metrics.
inline constexpr char kPrometheusTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace tessera
