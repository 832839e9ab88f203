#include "coordinator/pool/worker_pool.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"

namespace tessera::coordinator {

// The listener registry, shared with poll callbacks so that a callback never
// needs the pool itself.
struct WorkerPool::Listeners {
  absl::Mutex mu;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  ListenerId next_id ABSL_GUARDED_BY(mu) = 1;
  std::map<ListenerId, WorkerListener> restarted ABSL_GUARDED_BY(mu);
  std::map<ListenerId, WorkerListener> health ABSL_GUARDED_BY(mu);
  std::map<ListenerId, MembershipListener> membership ABSL_GUARDED_BY(mu);

  template <typename Fn>
  std::vector<Fn> Copy(const std::map<ListenerId, Fn>& from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<Fn> out;
    if (stopped) return out;
    for (const auto& [id, fn] : from) out.push_back(fn);
    return out;
  }
  void NotifyRestarted(const WorkerPtr& worker) {
    std::vector<WorkerListener> fns;
    {
      absl::MutexLock lock(&mu);
      fns = Copy(restarted);
    }
    for (const WorkerListener& fn : fns) fn(worker);
  }
  void NotifyHealth(const WorkerPtr& worker) {
    std::vector<WorkerListener> fns;
    {
      absl::MutexLock lock(&mu);
      fns = Copy(health);
    }
    for (const WorkerListener& fn : fns) fn(worker);
  }
  void NotifyMembership(const MembershipChange& change) {
    std::vector<MembershipListener> fns;
    {
      absl::MutexLock lock(&mu);
      fns = Copy(membership);
    }
    for (const MembershipListener& fn : fns) fn(change);
  }
};

// The current members, shared with poll callbacks (which never need the
// pool itself) so that a hung worker's pieces are given up only when
// another member could take them.
struct WorkerPool::Members {
  mutable absl::Mutex mu;
  std::map<std::string, WorkerPtr> workers ABSL_GUARDED_BY(mu);  // by address
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;

  std::vector<WorkerPtr> All() const {
    absl::MutexLock lock(&mu);
    std::vector<WorkerPtr> out;
    out.reserve(workers.size());
    for (const auto& [address, worker] : workers) out.push_back(worker);
    return out;
  }
  // Whether a member other than `worker` is healthy now.
  bool AnyOtherHealthy(const WorkerHandle& worker) const {
    absl::MutexLock lock(&mu);
    for (const auto& [address, other] : workers) {
      if (other.get() != &worker && other->healthy()) return true;
    }
    return false;
  }
};

// Counts polls in flight; waits for them to end, bounded.
struct WorkerPool::PollRound {
  absl::Mutex mu;
  int pending ABSL_GUARDED_BY(mu) = 0;

  void Add() {
    absl::MutexLock lock(&mu);
    ++pending;
  }
  void Done() {
    absl::MutexLock lock(&mu);
    --pending;
  }
  bool WaitFor(absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return pending == 0; };
    return mu.AwaitWithTimeout(absl::Condition(&none), timeout);
  }
};

absl::StatusOr<std::vector<std::string>> ParseWorkerList(absl::string_view list) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (absl::string_view entry : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t colon = entry.rfind(':');
    uint32_t port = 0;
    if (colon == absl::string_view::npos || colon == 0 || !absl::SimpleAtoi(entry.substr(colon + 1), &port) ||
        port == 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("worker address \"", entry, "\" is not host:port"));
    }
    std::string address(entry);
    if (seen.insert(address).second) out.push_back(std::move(address));
  }
  return out;
}

WorkerPool::WorkerPool(ConstructionKey, Options options)
    : options_(std::move(options)),
      listeners_(std::make_shared<Listeners>()),
      members_(std::make_shared<Members>()),
      outstanding_(std::make_shared<PollRound>()) {}

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Create(Options options) {
  if (!options.client_factory) return absl::InvalidArgumentError("WorkerPool needs a client factory");
  if (options.health_interval <= absl::ZeroDuration() || options.health_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("WorkerPool: health_interval and health_deadline must be positive");
  }
  std::vector<WorkerEndpoint> workers = options.workers;
  auto pool = std::make_unique<WorkerPool>(ConstructionKey(), std::move(options));
  if (absl::Status status = pool->UpdateMembership(workers); !status.ok()) return status;
  return pool;
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  health_thread_ = std::thread([this] { HealthLoop(); });
}

void WorkerPool::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (health_thread_.joinable()) health_thread_.join();
  {
    absl::MutexLock lock(&listeners_->mu);
    listeners_->stopped = true;
  }
  // Poll callbacks hold only shared state (handles, listeners, rounds), so
  // this wait is for tidiness, not safety.
  outstanding_->WaitFor(options_.health_deadline + absl::Seconds(2));
}

void WorkerPool::HealthLoop() {
  for (;;) {
    Poll(All(), nullptr);
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.health_interval)) return;
  }
}

void WorkerPool::Poll(const std::vector<WorkerPtr>& workers, const std::shared_ptr<PollRound>& round, bool start) {
  for (const WorkerPtr& worker : workers) {
    std::function<void()> on_end;
    if (round != nullptr) {
      round->Add();
      on_end = [round] { round->Done(); };
    }
    const WorkerHandle::PollStart begun = worker->BeginPoll(std::move(on_end), start);
    if (begun == WorkerHandle::PollStart::kIdle && round != nullptr) round->Done();
    if (begun != WorkerHandle::PollStart::kStarted) continue;
    outstanding_->Add();
    const absl::Time started = absl::Now();
    worker->client().Status(
        started + options_.health_deadline,
        [worker, started, outstanding = outstanding_, listeners = listeners_,
         members = members_](absl::StatusOr<worker::StatusResponse> status) {
          if (status.ok()) {
            const WorkerHandle::PollOutcome outcome = worker->OnStatus(*status, started);
            if (outcome.restarted && !worker->removed()) listeners->NotifyRestarted(worker);
            if (outcome.health_changed) listeners->NotifyHealth(worker);
          } else {
            if (worker->OnFailure(status.status())) listeners->NotifyHealth(worker);
            // No answer at all within the poll's deadline: the worker hangs
            // or is cut off, and so do the calls in flight there; they are
            // given up (and replayed elsewhere by their owners) instead of
            // waiting for the requests' deadlines -- when another healthy
            // worker could take them. Without one they keep waiting for
            // their own answers (a slow worker may still give them; the
            // next missed poll looks again). Other failures (refused: a
            // draining worker still finishes its calls; reset: a dead
            // worker's calls fail by themselves) leave them alone.
            if (status.status().code() == absl::StatusCode::kDeadlineExceeded &&
                members->AnyOtherHealthy(*worker)) {
              worker->LosePieces(absl::UnavailableError(absl::StrCat(
                  "worker ", worker->address(), " failed its health check: ", status.status().message())));
            }
          }
          for (const std::function<void()>& waiter : worker->EndPoll()) waiter();
          outstanding->Done();
        });
  }
}

void WorkerPool::PollNow() {
  const std::vector<WorkerPtr> workers = All();
  auto in_flight = std::make_shared<PollRound>();
  Poll(workers, in_flight, /*start=*/false);
  in_flight->WaitFor(options_.health_deadline + absl::Seconds(1));
  auto fresh = std::make_shared<PollRound>();
  Poll(workers, fresh);
  fresh->WaitFor(options_.health_deadline + absl::Seconds(1));
}

absl::Status WorkerPool::UpdateMembership(const std::vector<WorkerEndpoint>& endpoints) {
  absl::MutexLock update_lock(&update_mu_);
  std::map<std::string, WorkerEndpoint> wanted;
  for (const WorkerEndpoint& endpoint : endpoints) wanted.try_emplace(endpoint.address, endpoint);
  std::vector<WorkerEndpoint> to_add;
  MembershipChange change;
  {
    absl::MutexLock lock(&members_->mu);
    for (const auto& [address, endpoint] : wanted) {
      auto it = members_->workers.find(address);
      if (it == members_->workers.end() || it->second->tls_server_name() != endpoint.tls_server_name) {
        to_add.push_back(endpoint);
      }
    }
  }
  std::vector<std::string> failures;
  std::vector<std::pair<WorkerEndpoint, std::unique_ptr<WorkerClient>>> clients;
  for (const WorkerEndpoint& endpoint : to_add) {
    absl::StatusOr<std::unique_ptr<WorkerClient>> client = options_.client_factory(endpoint);
    if (!client.ok() || *client == nullptr) {
      failures.push_back(
          absl::StrCat(endpoint.address, ": ", client.ok() ? "no client" : client.status().ToString()));
      continue;
    }
    clients.emplace_back(endpoint, *std::move(client));
  }
  {
    absl::MutexLock lock(&members_->mu);
    std::map<std::string, WorkerPtr>& workers = members_->workers;
    for (auto it = workers.begin(); it != workers.end();) {
      auto want = wanted.find(it->first);
      if (want != wanted.end() && want->second.tls_server_name == it->second->tls_server_name()) {
        ++it;
        continue;
      }
      it->second->MarkRemoved();
      change.removed.push_back(it->second);
      it = workers.erase(it);
    }
    for (auto& [endpoint, client] : clients) {
      auto worker = std::make_shared<WorkerHandle>(members_->next_id++, std::move(client),
                                                   options_.capacity_smoothing, endpoint.tls_server_name);
      workers.emplace(endpoint.address, worker);
      change.added.push_back(std::move(worker));
    }
  }
  if (!change.added.empty()) Poll(change.added, nullptr);
  if (!change.added.empty() || !change.removed.empty()) listeners_->NotifyMembership(change);
  if (!failures.empty()) {
    return absl::UnavailableError(absl::StrCat("could not reach workers: ", absl::StrJoin(failures, "; ")));
  }
  return absl::OkStatus();
}

std::vector<WorkerPool::WorkerPtr> WorkerPool::Healthy() const {
  std::vector<WorkerPtr> out;
  for (WorkerPtr& worker : All()) {
    if (worker->healthy()) out.push_back(std::move(worker));
  }
  return out;
}

std::vector<WorkerPool::WorkerPtr> WorkerPool::All() const { return members_->All(); }

WorkerPool::WorkerPtr WorkerPool::Find(const std::string& address) const {
  absl::MutexLock lock(&members_->mu);
  auto it = members_->workers.find(address);
  return it == members_->workers.end() ? nullptr : it->second;
}

bool WorkerPool::IsWorkerFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

bool WorkerPool::ReportFailure(const WorkerPtr& worker, const absl::Status& failure) {
  if (worker == nullptr || !IsWorkerFailure(failure)) return false;
  if (worker->OnFailure(failure)) {
    listeners_->NotifyHealth(worker);
  }
  return true;
}

void WorkerPool::RecordExecute(const WorkerPtr& worker, const std::string& partition_id, int64_t samples,
                               uint64_t compute_time_us) {
  if (worker != nullptr) worker->RecordExecute(partition_id, samples, compute_time_us);
}

namespace {

double CoresOf(const WorkerHandle& worker) {
  std::optional<worker::StatusResponse> status = worker.last_status();
  return status.has_value() && status->cpu_cores() > 0 ? status->cpu_cores() : 1.0;
}

}  // namespace

CapacityEstimate WorkerPool::Capacity(const WorkerPtr& worker, const std::string& partition_id) const {
  if (std::optional<double> measured = worker->MeasuredCapacity(partition_id); measured.has_value()) {
    return {.samples_per_second = *measured, .source = CapacityEstimate::Source::kMeasured};
  }
  double per_core_sum = 0;
  int peers = 0;
  for (const WorkerPtr& peer : All()) {
    if (peer == worker) continue;
    if (std::optional<double> measured = peer->MeasuredCapacity(partition_id); measured.has_value()) {
      per_core_sum += *measured / CoresOf(*peer);
      ++peers;
    }
  }
  if (peers > 0) {
    return {.samples_per_second = per_core_sum / peers * CoresOf(*worker),
            .source = CapacityEstimate::Source::kPeers};
  }
  if (std::optional<worker::StatusResponse> status = worker->last_status();
      status.has_value() && status->samples_per_second() > 0) {
    const double utilization = std::clamp(status->utilization(), 0.05, 1.0);
    return {.samples_per_second = status->samples_per_second() / utilization,
            .source = CapacityEstimate::Source::kWorkerStatus};
  }
  return {.samples_per_second = 1.0, .source = CapacityEstimate::Source::kEqualShare};
}

WorkerPool::WorkerPtr WorkerPool::LeastLoaded(const std::string& partition_id) const {
  WorkerPtr best;
  double best_load = 0;
  for (const WorkerPtr& worker : Healthy()) {
    const double capacity = std::max(Capacity(worker, partition_id).samples_per_second, 1e-9);
    const double load = (worker->in_flight() + 1) / capacity;
    if (best == nullptr || load < best_load) {
      best = worker;
      best_load = load;
    }
  }
  return best;
}

WorkerPool::ListenerId WorkerPool::OnWorkerRestarted(WorkerListener listener) {
  absl::MutexLock lock(&listeners_->mu);
  const ListenerId id = listeners_->next_id++;
  listeners_->restarted.emplace(id, std::move(listener));
  return id;
}

WorkerPool::ListenerId WorkerPool::OnHealthChanged(WorkerListener listener) {
  absl::MutexLock lock(&listeners_->mu);
  const ListenerId id = listeners_->next_id++;
  listeners_->health.emplace(id, std::move(listener));
  return id;
}

WorkerPool::ListenerId WorkerPool::OnMembershipChanged(MembershipListener listener) {
  absl::MutexLock lock(&listeners_->mu);
  const ListenerId id = listeners_->next_id++;
  listeners_->membership.emplace(id, std::move(listener));
  return id;
}

void WorkerPool::RemoveListener(ListenerId id) {
  absl::MutexLock lock(&listeners_->mu);
  listeners_->restarted.erase(id);
  listeners_->health.erase(id);
  listeners_->membership.erase(id);
}

}  // namespace tessera::coordinator
