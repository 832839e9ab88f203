// An in-memory worker behind the WorkerClient interface, for the tests of
// everything that talks to workers (pool, loader, scheduler, frontend).
//
// Two modes:
//   - engine (Options::engine = true): partitions really load and run on an
//     in-process worker::WorkerCore, so outputs are the engine's.
//   - scripted (default): partitions are only remembered by id; Execute
//     checks the partition is loaded (NOT_FOUND otherwise) and answers with
//     the request's inputs echoed as outputs and a compute time of
//     samples / samples_per_second (samples = first dimension of the first
//     input, 1 for scalars), so capacity estimates see a worker of known
//     speed. Status reports that speed as samples_per_second with
//     utilization 1, `cpu_cores`, the boot_id and the loaded partitions.
//
// Programmed behaviour, changeable at any time:
//   SetUnavailable      every call fails UNAVAILABLE (a dead worker)
//   FailNext            the next calls of one method fail with a status
//   SetDelay            every answer is delayed (past the deadline: the
//                       call fails DEADLINE_EXCEEDED at the deadline)
//   SetHung             calls never answer; they fail DEADLINE_EXCEEDED at
//                       their deadline (never, for an infinite deadline,
//                       until the fake is destroyed)
//   Restart             a new boot_id and an empty cache: Execute answers
//                       NOT_FOUND until partitions are pushed again
//   SetSamplesPerSecond the scripted speed (also reported by Status)
//   SetLoadTime         the load_time_us scripted LoadPartitions report
//   SetProfileTimes     Profile's per-node times: scripted mode answers one
//                       entry per node of the partition (names read from
//                       its ONNX bytes at load) with the given time, or the
//                       default; engine mode runs the real core and then
//                       replaces the times of the named nodes
// Every call is recorded (calls(), CountCalls); Execute calls cancelled
// through ExecuteCancellable are counted (CountCancelled).
//
// Callbacks never run on the caller's thread: they run on the fake's own
// dispatch thread, in both modes. Destroying the fake lets engine work in
// flight finish and answers every other pending call with CANCELLED; a
// callback may drop the last owner of the fake (as the pool does when a
// removed worker's last poll ends).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/pool/worker_client.h"
#include "worker/worker_core.h"

namespace tessera::coordinator {

class FakeWorkerClient final : public WorkerClient {
 public:
  enum class Method { kLoadPartition, kExecute, kStatus, kUnload, kProfile };

  struct Options {
    std::string address = "fake:1";
    // Run partitions on a real in-process WorkerCore.
    bool engine = false;
    worker::WorkerCore::Options core_options;
    // Scripted speed: samples per compute-second (also Status's figure).
    double samples_per_second = 100.0;
    uint32_t cpu_cores = 2;
  };

  // One recorded call.
  struct Call {
    Method method;
    std::string partition_id;  // LoadPartition, Execute, Unload, Profile
    absl::Time at;
  };

  explicit FakeWorkerClient(const Options& options);
  ~FakeWorkerClient() override;
  FakeWorkerClient(const FakeWorkerClient&) = delete;
  FakeWorkerClient& operator=(const FakeWorkerClient&) = delete;

  const std::string& address() const override { return options_.address; }

  void LoadPartition(const worker::PartitionHeader& header, std::shared_ptr<const std::string> onnx_bytes,
                     absl::Time deadline, Callback<worker::LoadPartitionResponse> done) override;
  void Execute(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
               Callback<worker::ExecuteResponse> done) override;
  // A cancelled call (not yet answered) answers CANCELLED at once, on the
  // dispatch thread; its scripted or engine answer is then dropped.
  void ExecuteCancellable(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                          std::shared_ptr<CallCanceller> canceller, Callback<worker::ExecuteResponse> done) override;
  void Status(absl::Time deadline, Callback<worker::StatusResponse> done) override;
  void Unload(const std::string& partition_id, absl::Time deadline, Callback<worker::UnloadResponse> done) override;
  void Profile(const worker::ProfileRequest& request, absl::Time deadline,
               Callback<worker::ProfileResponse> done) override;

  // Programming.
  void SetUnavailable(bool unavailable);
  void FailNext(Method method, absl::Status status, int count = 1);
  void SetDelay(absl::Duration delay);
  void SetHung(bool hung);
  void SetSamplesPerSecond(double samples_per_second);
  void SetLoadTime(absl::Duration load_time);
  void SetProfileTimes(absl::flat_hash_map<std::string, double> node_ms, double default_ms = 0.01);
  // Simulates a process restart: new boot_id, empty cache.
  void Restart();

  // Inspection.
  std::string boot_id() const;
  bool HasPartition(const std::string& partition_id) const;
  std::vector<Call> calls() const;
  int CountCalls(Method method) const;
  // Execute calls cancelled through their CallCanceller before they were
  // answered.
  int CountCancelled() const;
  // The in-process core (engine mode; nullptr otherwise). Replaced by Restart.
  worker::WorkerCore* core() const;

 private:
  // Decides how a new call goes and records it: a programmed failure
  // (returned), or OK with the time the real work may start (`*start`;
  // InfiniteFuture when hung).
  absl::Status Admit(Method method, const std::string& partition_id, absl::Time* start);
  // Runs `run` on the dispatch thread at `at`; `cancelled` is true when the
  // fake is being destroyed first.
  void Schedule(absl::Time at, std::function<void(bool cancelled)> run);
  // A call's answer: a programmed failure now, DEADLINE_EXCEEDED at the
  // deadline when the work would start later, else `work` at its start time
  // (on the dispatch thread).
  template <typename T>
  void Dispatch(Method method, const std::string& partition_id, absl::Time deadline, Callback<T> done,
                std::function<void(Callback<T>)> work);
  void DispatchLoop();
  // The scripted (no engine) answers.
  absl::StatusOr<worker::LoadPartitionResponse> ScriptedLoad(const worker::PartitionHeader& header,
                                                             const std::string& bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<worker::ExecuteResponse> ScriptedExecute(const worker::ExecuteRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<worker::ProfileResponse> ScriptedProfile(const worker::ProfileRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces the times of nodes named in profile_node_ms_ (and the total).
  void ApplyProfileTimes(worker::ProfileResponse* response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;

  mutable absl::Mutex mu_;
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  bool hung_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  double samples_per_second_ ABSL_GUARDED_BY(mu_);
  std::map<Method, std::vector<absl::Status>> failures_ ABSL_GUARDED_BY(mu_);
  std::string boot_id_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> loaded_ ABSL_GUARDED_BY(mu_);  // scripted mode
  // Scripted mode: node names and op types of every partition pushed.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> partition_nodes_ ABSL_GUARDED_BY(mu_);
  absl::Duration load_time_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::flat_hash_map<std::string, double> profile_node_ms_ ABSL_GUARDED_BY(mu_);
  double profile_default_ms_ ABSL_GUARDED_BY(mu_) = 0.01;
  std::shared_ptr<worker::WorkerCore> core_ ABSL_GUARDED_BY(mu_);  // engine mode
  std::vector<std::shared_ptr<worker::WorkerCore>> retired_cores_ ABSL_GUARDED_BY(mu_);  // before Restarts
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  absl::Time started_ ABSL_GUARDED_BY(mu_);
  uint64_t executes_total_ ABSL_GUARDED_BY(mu_) = 0;
  int cancelled_ ABSL_GUARDED_BY(mu_) = 0;

  // The dispatch thread's queue, ordered by (at, sequence).
  absl::CondVar queue_changed_;
  std::map<std::pair<absl::Time, uint64_t>, std::function<void(bool)>> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set when the fake is destroyed from its own dispatch thread.
  const std::shared_ptr<std::atomic<bool>> destroyed_ = std::make_shared<std::atomic<bool>>(false);
  std::thread dispatcher_;
};

}  // namespace tessera::coordinator
