// The coordinator's workers: membership, health and measured capacity.
//
// Membership: the pool starts from Options::workers (the --workers flag,
// see worker_target.h and worker_discovery.h) and can be given a new
// endpoint list at any time (UpdateMembership; DNS discovery calls it).
// Workers are identified by address; an address that comes back with another
// TLS server name is replaced by a new worker. Added workers get a client
// from Options::client_factory and become usable after their first
// successful Status poll, which is started at once; removed workers are
// marked removed and unhealthy, so they stop getting work, while handles
// already handed out stay valid.
//
// Health: a background thread (Start) polls Status on every worker each
// health_interval, with a health_deadline. A failed poll, or a failure the
// scheduler reports (ReportFailure), marks the worker unhealthy at once; the
// next successful poll re-admits it. A poll that gets no answer within its
// deadline (DEADLINE_EXCEEDED) also gives up the pieces in flight on the
// worker (WorkerHandle::LosePieces), so that a worker that hangs (SIGSTOP, a
// cut link: the connection stays up, calls just wait) holds requests for at
// most health_interval + health_deadline, not until their deadlines -- but
// only when another member is healthy at that moment, so that someone can
// take them: a lone (or last healthy) worker that misses a poll keeps its
// pieces, which wait for their own answers (a slow worker may still give
// them) or their deadlines; every later missed poll looks again, so pieces
// are given up as soon as another worker is (re-)admitted. This holds for
// plain pieces and DIRECT chains alike; owners of lost callbacks may rely
// on it and need not check for another healthy worker themselves. Other
// poll failures do not give pieces up: a draining worker refuses polls but
// finishes its calls, and a dead worker's calls fail by themselves. A boot_id different from the last one
// seen means the worker restarted and lost its partitions: its generation is
// bumped and OnWorkerRestarted listeners are told, so that partitions are
// pushed again (partition_loader.h keys what it pushed by generation).
//
// Capacity: per worker and partition, an estimate of samples per second
// (Capacity). Sources, best first:
//   kMeasured      EWMA of samples per compute-second from the Execute
//                  timings the scheduler records (RecordExecute)
//   kPeers         other workers' measured figures for the partition, per
//                  CPU core (from their Status), times this worker's cores
//   kWorkerStatus  the worker's recent throughput (Status samples_per_second
//                  divided by its utilization), over all its partitions
//   kEqualShare    nothing known: 1.0 for every worker
// Estimates are meant as weights between workers running one partition.
// In-flight pieces per worker (WorkerHandle::StartPiece) feed LeastLoaded.
//
// Listeners run on the health thread or on a client callback thread, never
// with a pool lock held; they must not block for long. Nothing is notified
// after Stop().
//
// Thread-safe. Stop() (or the destructor) joins the thread and waits, at
// most health_deadline + 2 s, for polls in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/pool/worker_client.h"
#include "coordinator/pool/worker_endpoint.h"
#include "coordinator/pool/worker_handle.h"

namespace tessera::coordinator {

// Makes the client for a worker endpoint (GrpcWorkerClient in production,
// fakes in tests; see MakeGrpcWorkerClientFactory). The client's address()
// is endpoint.address.
using WorkerClientFactory =
    std::function<absl::StatusOr<std::unique_ptr<WorkerClient>>(const WorkerEndpoint& endpoint)>;

// "host:port,host:port" (spaces around entries ignored, duplicates dropped)
// -> addresses; InvalidArgument for an entry without a host or a numeric port.
// Static lists only: the coordinator's --workers, which may also hold
// dns:/// names, is parsed by ParseWorkerTargets (worker_target.h).
absl::StatusOr<std::vector<std::string>> ParseWorkerList(absl::string_view list);

struct CapacityEstimate {
  enum class Source { kMeasured, kPeers, kWorkerStatus, kEqualShare };
  double samples_per_second = 1.0;
  Source source = Source::kEqualShare;
};

class WorkerPool {
 public:
  struct Options {
    std::vector<WorkerEndpoint> workers;
    WorkerClientFactory client_factory;
    absl::Duration health_interval = absl::Milliseconds(500);
    // Well under a second: a hung worker is noticed within interval + deadline.
    absl::Duration health_deadline = absl::Milliseconds(400);
    // Weight of a new Execute timing in the capacity EWMA, in (0, 1].
    double capacity_smoothing = 0.3;
  };

  using WorkerPtr = std::shared_ptr<WorkerHandle>;
  using ListenerId = uint64_t;
  using WorkerListener = std::function<void(const WorkerPtr&)>;
  struct MembershipChange {
    std::vector<WorkerPtr> added;
    std::vector<WorkerPtr> removed;
  };
  using MembershipListener = std::function<void(const MembershipChange&)>;

  // A pool over options.workers (InvalidArgument without a client factory
  // or with a non-positive interval or deadline; UNAVAILABLE when a worker's
  // client cannot be made). The workers' first polls go out at once
  // (PollNow waits for them); periodic polls start with Start().
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Create(Options options);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts the health thread; the first round of polls goes out at once.
  void Start();
  // Joins the health thread; bounded. Idempotent.
  void Stop();

  // Replaces the membership with `endpoints` (by address; for an address
  // listed twice the first entry counts). Clients that cannot be made are
  // left out and reported in the returned status (the rest applies).
  absl::Status UpdateMembership(const std::vector<WorkerEndpoint>& endpoints);

  // Snapshots of the current members (removed ones excluded), by address.
  std::vector<WorkerPtr> Healthy() const;
  std::vector<WorkerPtr> All() const;
  WorkerPtr Find(const std::string& address) const;

  // Waits for the polls in flight, then polls every worker once more and
  // waits for the answers (each wait at most health_deadline + 1 s). For
  // tests, and for a quick start before serving.
  void PollNow();

  // The scheduler saw `failure` talking to `worker`. Worker failures
  // (IsWorkerFailure) mark it unhealthy at once; returns whether that
  // happened. Request errors (NOT_FOUND, INVALID_ARGUMENT, ...) are ignored.
  bool ReportFailure(const WorkerPtr& worker, const absl::Status& failure);
  // UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, CANCELLED, ABORTED:
  // the worker or the path to it is at fault, not the request.
  static bool IsWorkerFailure(const absl::Status& status);

  // An Execute of `samples` samples on `partition_id` took compute_time_us.
  void RecordExecute(const WorkerPtr& worker, const std::string& partition_id, int64_t samples,
                     uint64_t compute_time_us);
  CapacityEstimate Capacity(const WorkerPtr& worker, const std::string& partition_id) const;
  // The healthy worker with the fewest in-flight pieces per unit of
  // capacity for `partition_id`; nullptr when none is healthy.
  WorkerPtr LeastLoaded(const std::string& partition_id) const;

  ListenerId OnWorkerRestarted(WorkerListener listener);
  // Healthy <-> unhealthy transitions (check worker->healthy()).
  ListenerId OnHealthChanged(WorkerListener listener);
  ListenerId OnMembershipChanged(MembershipListener listener);
  // After it returns the listener is not called again (a call already
  // running may finish).
  void RemoveListener(ListenerId id);

  const Options& options() const { return options_; }

 private:
  // Only Create makes a pool.
  struct ConstructionKey {
    explicit ConstructionKey() = default;
  };

 public:
  WorkerPool(ConstructionKey, Options options);

 private:
  struct Listeners;
  struct Members;
  struct PollRound;

  void HealthLoop();
  // Polls `workers`; those with a poll in flight are not polled again
  // (`round`, which may be null, then waits for that poll). With
  // start = false, only waits for the polls in flight.
  void Poll(const std::vector<WorkerPtr>& workers, const std::shared_ptr<PollRound>& round, bool start = true);

  const Options options_;
  const std::shared_ptr<Listeners> listeners_;
  const std::shared_ptr<Members> members_;        // the workers, by address
  const std::shared_ptr<PollRound> outstanding_;  // every poll in flight

  absl::Mutex update_mu_;  // serializes UpdateMembership
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread health_thread_;
};

}  // namespace tessera::coordinator
