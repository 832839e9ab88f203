#include "coordinator/pool/worker_discovery.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera::coordinator {

absl::StatusOr<std::unique_ptr<WorkerDiscovery>> WorkerDiscovery::Create(Options options) {
  if (options.resolve_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("worker discovery: the resolve interval must be positive");
  }
  const bool has_dns = std::any_of(options.targets.begin(), options.targets.end(),
                                   [](const WorkerTarget& t) { return t.kind == WorkerTarget::Kind::kDns; });
  if (has_dns && options.resolver == nullptr) {
    return absl::InvalidArgumentError("worker discovery: dns:/// targets need a resolver");
  }
  return std::make_unique<WorkerDiscovery>(ConstructionKey(), std::move(options));
}

WorkerDiscovery::WorkerDiscovery(ConstructionKey, Options options)
    : options_(std::move(options)),
      has_dns_(std::any_of(options_.targets.begin(), options_.targets.end(),
                           [](const WorkerTarget& t) { return t.kind == WorkerTarget::Kind::kDns; })) {}

WorkerDiscovery::~WorkerDiscovery() { Stop(); }

absl::Status WorkerDiscovery::Resolve() {
  absl::MutexLock serial(&resolve_mu_);
  std::vector<std::string> failures;
  for (size_t i = 0; i < options_.targets.size(); ++i) {
    const WorkerTarget& target = options_.targets[i];
    if (target.kind != WorkerTarget::Kind::kDns) continue;
    absl::StatusOr<std::vector<std::string>> addresses = options_.resolver->Resolve(target.host);
    if (addresses.ok() && addresses->empty()) {
      addresses = absl::NotFoundError(absl::StrCat("\"", target.host, "\" has no address"));
    }
    if (!addresses.ok()) {
      failures.push_back(absl::StrCat(target.ToString(), ": ", addresses.status().message()));
      continue;
    }
    absl::MutexLock lock(&mu_);
    resolved_[i] = *std::move(addresses);
  }
  if (failures.empty()) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("worker discovery (keeping the last good addresses): ", absl::StrJoin(failures, "; ")));
}

std::vector<WorkerEndpoint> WorkerDiscovery::Endpoints() const {
  std::map<std::string, WorkerEndpoint> by_address;
  for (const WorkerTarget& target : options_.targets) {
    if (target.kind == WorkerTarget::Kind::kStatic) {
      const std::string address = target.ToString();
      by_address.try_emplace(address, address);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [index, addresses] : resolved_) {
      const WorkerTarget& target = options_.targets[index];
      for (const std::string& ip : addresses) {
        const std::string address = JoinHostPort(ip, target.port);
        by_address.try_emplace(address, address, target.host);
      }
    }
  }
  std::vector<WorkerEndpoint> out;
  out.reserve(by_address.size());
  for (auto& [address, endpoint] : by_address) out.push_back(std::move(endpoint));
  return out;
}

void WorkerDiscovery::Start(MembershipSink sink) {
  if (!has_dns_ || thread_.joinable() || stop_.HasBeenNotified()) return;
  thread_ = std::thread([this, sink = std::move(sink)] { Loop(sink); });
}

void WorkerDiscovery::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void WorkerDiscovery::Warn(const absl::Status& status, std::string* last_message) {
  if (status.ok()) {
    last_message->clear();
    return;
  }
  if (std::string(status.message()) == *last_message) return;
  *last_message = std::string(status.message());
  if (options_.on_warning) options_.on_warning(status);
}

void WorkerDiscovery::Loop(MembershipSink sink) {
  // The caller applied Endpoints() before starting (or will see them now).
  std::vector<WorkerEndpoint> applied = Endpoints();
  bool retry = false;
  std::string last_resolve_warning, last_sink_warning;
  while (!stop_.WaitForNotificationWithTimeout(options_.resolve_interval)) {
    Warn(Resolve(), &last_resolve_warning);
    std::vector<WorkerEndpoint> current = Endpoints();
    if (current == applied && !retry) continue;
    const absl::Status updated = sink ? sink(current) : absl::OkStatus();
    retry = !updated.ok();
    Warn(updated, &last_sink_warning);
    applied = std::move(current);
  }
}

}  // namespace tessera::coordinator
