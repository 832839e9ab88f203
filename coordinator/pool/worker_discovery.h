// The coordinator's worker membership from the --workers targets
// (worker_target.h): static addresses as given, and every address behind
// each dns:///NAME:PORT entry, re-resolved every resolve_interval.
//
// Endpoints of a DNS target carry NAME as their TLS server name: the
// coordinator dials the resolved IP and verifies the worker's certificate
// against NAME (grpc_worker_client.h), never skipping verification.
//
// Failures: a name that fails to resolve (NotFound, Unavailable, ...) keeps
// its last good addresses, so a DNS outage never empties the pool; the
// failure is returned by Resolve and reported to Options::on_warning. A name
// never resolved yet contributes no endpoint. (So a name that really loses
// all its addresses keeps its last ones; remove it from --workers, or let
// the health checks mark the gone workers unhealthy, which stops their work
// just the same.)
//
// Start(sink) runs a background thread that re-resolves and calls `sink`
// (WorkerPool::UpdateMembership in the coordinator) whenever the endpoint
// set changed, or again on the next round when `sink` failed. Workers that
// appear behind a name are thus used within about resolve_interval plus one
// health poll; workers that vanish stop getting work within about
// resolve_interval.
//
// Thread-safe. Borrowed: the resolver must outlive the discovery. Stop()
// (or the destructor) joins the thread; it waits for a resolution in
// progress (the system resolver's own timeouts bound it).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "coordinator/pool/host_resolver.h"
#include "coordinator/pool/worker_endpoint.h"
#include "coordinator/pool/worker_target.h"

namespace tessera::coordinator {

class WorkerDiscovery {
 public:
  using MembershipSink = std::function<absl::Status(const std::vector<WorkerEndpoint>&)>;
  using WarningSink = std::function<void(const absl::Status&)>;

  struct Options {
    std::vector<WorkerTarget> targets;
    // Borrowed; required when a target is kDns.
    HostResolver* resolver = nullptr;
    absl::Duration resolve_interval = absl::Seconds(2);
    // Told about failed resolutions and failed sink calls (on the discovery
    // thread), once per distinct message in a row: a failure repeated every
    // round is reported once, again after a round without it.
    WarningSink on_warning;
  };

  // InvalidArgument without a resolver for DNS targets or with a
  // non-positive interval. Nothing is resolved yet.
  static absl::StatusOr<std::unique_ptr<WorkerDiscovery>> Create(Options options);
  ~WorkerDiscovery();
  WorkerDiscovery(const WorkerDiscovery&) = delete;
  WorkerDiscovery& operator=(const WorkerDiscovery&) = delete;

  // Resolves every DNS target now. OK, or Unavailable naming each target
  // that failed and why (those keep their last good addresses).
  absl::Status Resolve();

  // The static targets and every DNS target's last good addresses, sorted
  // by address; an address reached through two targets appears once (a
  // static entry wins, then the first DNS target in flag order).
  std::vector<WorkerEndpoint> Endpoints() const;

  bool has_dns_targets() const { return has_dns_; }

  // Starts the re-resolution thread described above (none without DNS
  // targets): `sink` is called whenever the endpoints differ from those it
  // was last given, the first time from Endpoints() as they were at Start
  // (which the caller is expected to have applied, e.g. as the pool's
  // initial workers). At most once.
  void Start(MembershipSink sink);
  // Stops and joins the thread. Idempotent.
  void Stop();

 private:
  struct ConstructionKey {
    explicit ConstructionKey() = default;
  };

 public:
  WorkerDiscovery(ConstructionKey, Options options);

 private:
  void Loop(MembershipSink sink);
  void Warn(const absl::Status& status, std::string* last_message);

  const Options options_;
  const bool has_dns_;
  absl::Mutex resolve_mu_;  // serializes Resolve
  mutable absl::Mutex mu_;
  // Target index -> its last good addresses (DNS targets only).
  std::map<size_t, std::vector<std::string>> resolved_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace tessera::coordinator
