// Failover with real processes over mutual TLS: workers that stop answering
// without dying, are cut off, or die for good, under steady load.
//
//   - SIGSTOP (the TCP connection stays up, calls just wait) of a worker
//     serving DATA and a pipeline stage: every request still answered,
//     correct, within its 5 s deadline, and the requests caught by the stop
//     take about detection + service; SIGCONT re-admits it and it gets
//     work again.
//   - A pipeline worker killed for good: its stage is re-placed on a
//     surviving worker (its partition pushed there) and requests go on.
//   - The link to a worker in a network namespace (veth pair) cut under
//     load: requests move elsewhere within the deadline; the link restored,
//     the worker comes back. Needs root and `ip netns` (skipped otherwise,
//     with the reason); only addresses inside the namespace it makes.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "tests/integration/real_cluster.h"

namespace tessera {
namespace {

using testing::RealCluster;

constexpr absl::Duration kDeadline = absl::Seconds(5);

// Steady load from a few client threads; every request's start and latency.
class Load {
 public:
  Load(RealCluster* cluster, std::vector<std::string> models, int clients) : cluster_(cluster), models_(models) {
    for (int i = 0; i < 4; ++i) {
      inputs_.push_back(testing::RandomImage(1 + i % 3, 7 + i));
      expected_.push_back(testing::ReferenceOutput(cluster->cnn(), inputs_.back()));
    }
    for (int c = 0; c < clients; ++c) {
      threads_.emplace_back([this, c] {
        for (int i = 0; i < 100000 && !stop_.load(); ++i) {
          const int k = (c + i) % static_cast<int>(inputs_.size());
          const std::string& model = models_[(c + i) % models_.size()];
          inference::ModelInferResponse response;
          const absl::Time begun = absl::Now();
          grpc::Status st = cluster_->Infer(model, inputs_[k], kDeadline, &response);
          const absl::Time ended = absl::Now();
          absl::MutexLock lock(&mu_);
          requests_.push_back({begun, ended - begun, st.ok() && testing::Matches(response, expected_[k])});
          if (!st.ok() && errors_.size() < 10) {
            errors_.push_back(absl::StrCat(model, ": ", st.error_code(), " ", st.error_message()));
          }
        }
      });
    }
  }
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  struct Request {
    absl::Time begun;
    absl::Duration latency;
    bool ok;  // answered and correct
  };
  std::vector<Request> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::string errors() {
    absl::MutexLock lock(&mu_);
    return absl::StrJoin(errors_, "\n");
  }

 private:
  RealCluster* const cluster_;
  const std::vector<std::string> models_;
  std::vector<Tensor> inputs_, expected_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
};

// The worker's status as the coordinator reports it.
absl::StatusOr<status::WorkerStatus> WorkerState(const RealCluster& cluster, const std::string& address) {
  absl::StatusOr<status::GetStatusResponse> st = cluster.ClusterStatus();
  if (!st.ok()) return st.status();
  for (const status::WorkerStatus& w : st->workers()) {
    if (w.address() == address) return w;
  }
  return absl::NotFoundError(address);
}

// How long until the coordinator marks `address` unhealthy (bounded).
absl::Duration TimeToUnhealthy(const RealCluster& cluster, const std::string& address, absl::Time since) {
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    absl::StatusOr<status::WorkerStatus> w = WorkerState(cluster, address);
    if (w.ok() && !w->healthy()) return absl::Now() - since;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::InfiniteDuration();
}

struct Summary {
  int total = 0;
  int failed = 0;
  absl::Duration max_before = absl::ZeroDuration();  // started before `from`
  absl::Duration max_during = absl::ZeroDuration();  // started in [from, to)
};

Summary Summarize(const std::vector<Load::Request>& requests, absl::Time from, absl::Time to) {
  Summary s;
  for (const Load::Request& r : requests) {
    ++s.total;
    s.failed += !r.ok;
    if (r.begun < from) s.max_before = std::max(s.max_before, r.latency);
    if (r.begun >= from && r.begun < to) s.max_during = std::max(s.max_during, r.latency);
  }
  return s;
}

// What a worker's disruption under load showed (LoadThroughDisruption).
struct Disruption {
  Summary requests;  // max_during: of the requests started in the disruption's first second
  absl::Duration detected = absl::InfiniteDuration();  // until the coordinator marked the worker unhealthy
  absl::Duration back = absl::InfiniteDuration();      // from the restore until every worker was healthy
  uint64_t executes_before = 0;                        // the worker's executes once back
  uint64_t executes_after = 0;                         // and 2 s later
  std::string errors;                                  // the first failed requests
};

// Steady load of `models` (4 clients); after 2 s `disrupt()` is applied to
// the worker at `victim`, 3 s after that `restore()`; then waits (at most
// `readmit_timeout`) until all `workers` are healthy again and lets the load
// run 2 s more. Fatal failures (call it in ASSERT_NO_FATAL_FAILURE): the
// disruption or restore failed, the workers did not come back, or the
// coordinator does not know `victim`.
void LoadThroughDisruption(RealCluster& cluster, const std::vector<std::string>& models, const std::string& victim,
                           int workers, const std::function<void()>& disrupt, const std::function<void()>& restore,
                           absl::Duration readmit_timeout, Disruption* out) {
  Load load(&cluster, models, 4);
  absl::SleepFor(absl::Seconds(2));
  const absl::Time disrupted = absl::Now();
  disrupt();
  if (::testing::Test::HasFatalFailure()) return;
  out->detected = TimeToUnhealthy(cluster, victim, disrupted);
  absl::SleepFor(disrupted + absl::Seconds(3) - absl::Now());
  restore();
  if (::testing::Test::HasFatalFailure()) return;
  const absl::Time restored = absl::Now();
  ASSERT_TRUE(cluster.WaitHealthy(workers, readmit_timeout));
  out->back = absl::Now() - restored;
  absl::StatusOr<status::WorkerStatus> before = WorkerState(cluster, victim);
  ASSERT_TRUE(before.ok());
  absl::SleepFor(absl::Seconds(2));
  load.Stop();
  absl::StatusOr<status::WorkerStatus> after = WorkerState(cluster, victim);
  ASSERT_TRUE(after.ok());
  out->requests = Summarize(load.requests(), disrupted, disrupted + absl::Seconds(1));
  out->executes_before = before->executes_total();
  out->executes_after = after->executes_total();
  out->errors = load.errors();
}

TEST(FailoverTest, StoppedWorkerIsRoutedAroundAndReadmittedAfterSigcont) {
  RealCluster cluster("failover_stop");
  const absl::Status started =
      cluster.Start(3, {.flags = {"--health-interval-ms", "250", "--health-deadline-ms", "400"}});
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(cluster.WaitHealthy(3, absl::Seconds(20)));
  // The first worker by address runs DATA shards and stage 1 of the
  // pipeline (placement goes by address).
  absl::StatusOr<status::GetStatusResponse> initial = cluster.ClusterStatus();
  ASSERT_TRUE(initial.ok());
  const std::string victim = initial->workers(0).address();
  const std::vector<std::string> addresses = cluster.worker_addresses();
  const int victim_index = static_cast<int>(std::find(addresses.begin(), addresses.end(), victim) - addresses.begin());
  ASSERT_LT(victim_index, 3);
  Disruption d;
  ASSERT_NO_FATAL_FAILURE(LoadThroughDisruption(
      cluster, {"cnn_data", "cnn_pipeline2"}, victim, 3, [&] { cluster.SignalWorker(victim_index, SIGSTOP); },
      [&] { cluster.SignalWorker(victim_index, SIGCONT); }, absl::Seconds(10), &d));
  const Summary& s = d.requests;
  std::printf(
      "[failover] SIGSTOP: %d requests, %d failed; detected after %s, re-admitted %s after SIGCONT; "
      "max latency before the stop %s, of requests started in its first second %s; worker executes "
      "%llu -> %llu after re-admission\n",
      s.total, s.failed, absl::FormatDuration(d.detected).c_str(), absl::FormatDuration(d.back).c_str(),
      absl::FormatDuration(s.max_before).c_str(), absl::FormatDuration(s.max_during).c_str(),
      static_cast<unsigned long long>(d.executes_before), static_cast<unsigned long long>(d.executes_after));
  std::fflush(stdout);
  EXPECT_EQ(s.failed, 0) << d.errors;
  EXPECT_GT(s.total, 10);
  // Noticed within a second (interval 250 ms + poll deadline 400 ms, plus
  // the status polling here).
  EXPECT_LT(d.detected, absl::Milliseconds(1000));
  // Requests caught by the stop waited about detection + their service.
  EXPECT_LT(s.max_during, d.detected + s.max_before + absl::Milliseconds(1000));
  // Back, and working again.
  EXPECT_GT(d.executes_after, d.executes_before);
}

TEST(FailoverTest, ShortDeadlineEndsTheRequestAndReachesTheWorkersPiece) {
  RealCluster cluster("failover_deadline");
  // Slow health polls, so that only the deadline can end the request.
  const absl::Status started =
      cluster.Start(1, {.flags = {"--health-interval-ms", "1000", "--health-deadline-ms", "900"}});
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(cluster.WaitHealthy(1, absl::Seconds(20)));
  const Tensor input = testing::RandomImage(1, 3);
  inference::ModelInferResponse response;
  ASSERT_TRUE(cluster.Infer("cnn_data", input, kDeadline, &response).ok());
  absl::SleepFor(absl::Milliseconds(1200));  // a poll after it
  absl::StatusOr<status::WorkerStatus> before = WorkerState(cluster, cluster.worker_address(0));
  ASSERT_TRUE(before.ok());
  // The worker hangs; a request with a 300 ms deadline fails at it.
  cluster.SignalWorker(0, SIGSTOP);
  const absl::Time start = absl::Now();
  grpc::Status st = cluster.Infer("cnn_data", input, absl::Milliseconds(300), &response);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  EXPECT_LT(took, absl::Milliseconds(800)) << took;
  // Resumed, the worker finds the piece (sent with the client's deadline)
  // already late and drops it without running it.
  absl::SleepFor(absl::Milliseconds(200));
  cluster.SignalWorker(0, SIGCONT);
  ASSERT_TRUE(cluster.WaitHealthy(1, absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(1200));  // a poll after the piece was seen
  absl::StatusOr<status::WorkerStatus> after = WorkerState(cluster, cluster.worker_address(0));
  ASSERT_TRUE(after.ok());
  std::printf("[failover] 300 ms deadline on a stopped worker: %s after %s; worker executes %llu -> %llu\n",
              grpc::StatusCode::DEADLINE_EXCEEDED == st.error_code() ? "DEADLINE_EXCEEDED" : "other",
              absl::FormatDuration(took).c_str(), static_cast<unsigned long long>(before->executes_total()),
              static_cast<unsigned long long>(after->executes_total()));
  EXPECT_GT(before->executes_total(), 0u);
  EXPECT_EQ(after->executes_total(), before->executes_total());
  ASSERT_TRUE(cluster.Infer("cnn_data", input, kDeadline, &response).ok());
}

TEST(FailoverTest, PipelineWorkerKilledForGoodHasItsStageReplaced) {
  RealCluster cluster("failover_kill");
  const absl::Status started = cluster.Start(3, {.flags = {"--health-interval-ms", "250"}});
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(cluster.WaitHealthy(3, absl::Seconds(20)));
  const Tensor input = testing::RandomImage(2, 5);
  const Tensor expected = testing::ReferenceOutput(cluster.cnn(), input);
  inference::ModelInferResponse response;
  for (int i = 0; i < 4; ++i) {
    grpc::Status st = cluster.Infer("cnn_pipeline2", input, kDeadline, &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_TRUE(testing::Matches(response, expected));
  }
  // Two stages on three workers, placed by address: the third runs nothing
  // yet (it may hold partitions the planner measured there).
  absl::StatusOr<status::GetStatusResponse> initial = cluster.ClusterStatus();
  ASSERT_TRUE(initial.ok());
  ASSERT_EQ(initial->workers_size(), 3);
  const std::string spare = initial->workers(2).address();
  const std::vector<std::string> addresses = cluster.worker_addresses();
  const int victim_index = static_cast<int>(
      std::find(addresses.begin(), addresses.end(), initial->workers(0).address()) - addresses.begin());
  ASSERT_LT(victim_index, 3);
  absl::StatusOr<status::WorkerStatus> idle = WorkerState(cluster, spare);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->executes_total(), 0u);

  Load load(&cluster, {"cnn_pipeline2"}, 3);
  absl::SleepFor(absl::Seconds(1));
  cluster.KillWorker(victim_index);  // stage 1's worker, never restarted
  const absl::Time killed = absl::Now();
  absl::SleepFor(absl::Seconds(3));
  load.Stop();
  const Summary s = Summarize(load.requests(), killed, killed + absl::Seconds(3));
  absl::StatusOr<status::WorkerStatus> spare_after = WorkerState(cluster, spare);
  ASSERT_TRUE(spare_after.ok());
  std::printf("[failover] pipeline worker killed: %d requests, %d failed, max latency after the kill %s; the "
              "spare ran %llu executes with %d partitions\n",
              s.total, s.failed, absl::FormatDuration(s.max_during).c_str(),
              static_cast<unsigned long long>(spare_after->executes_total()), spare_after->partitions_size());
  std::fflush(stdout);
  EXPECT_EQ(s.failed, 0) << load.errors();
  EXPECT_GT(s.total, 5);
  // The stage moved: the spare got a partition pushed and runs pieces.
  EXPECT_GT(spare_after->executes_total(), 0u);
  EXPECT_GE(spare_after->partitions_size(), 1);
  for (int i = 0; i < 3; ++i) {
    grpc::Status st = cluster.Infer("cnn_pipeline2", input, kDeadline, &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(testing::Matches(response, expected));
  }
}

// Runs a shell command; its exit code.
int Shell(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

std::string IpTool() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

// A namespace joined to this one by a veth pair, removed on destruction.
class NetnsLink {
 public:
  NetnsLink() {
    const int id = ::getpid() % 200 + 20;
    ns_ = absl::StrCat("tsrfo", id);
    host_dev_ = absl::StrCat("tsrfo", id, "h");
    ns_dev_ = absl::StrCat("tsrfo", id, "n");
    host_ip_ = absl::StrCat("10.213.", id, ".1");
    ns_ip_ = absl::StrCat("10.213.", id, ".2");
    const std::string ip = IpTool();
    Shell(absl::StrCat(ip, " netns del ", ns_));
    ok_ = Shell(absl::StrCat(ip, " netns add ", ns_)) == 0 &&
          Shell(absl::StrCat(ip, " link add ", host_dev_, " type veth peer name ", ns_dev_)) == 0 &&
          Shell(absl::StrCat(ip, " link set ", ns_dev_, " netns ", ns_)) == 0 &&
          Shell(absl::StrCat(ip, " addr add ", host_ip_, "/30 dev ", host_dev_)) == 0 &&
          Shell(absl::StrCat(ip, " link set ", host_dev_, " up")) == 0 &&
          Shell(absl::StrCat(ip, " -n ", ns_, " addr add ", ns_ip_, "/30 dev ", ns_dev_)) == 0 &&
          Shell(absl::StrCat(ip, " -n ", ns_, " link set ", ns_dev_, " up")) == 0 &&
          Shell(absl::StrCat(ip, " -n ", ns_, " link set lo up")) == 0;
  }
  ~NetnsLink() {
    const std::string ip = IpTool();
    Shell(absl::StrCat(ip, " netns del ", ns_));
    Shell(absl::StrCat(ip, " link del ", host_dev_));
  }
  bool ok() const { return ok_; }
  const std::string& ns() const { return ns_; }
  const std::string& ns_ip() const { return ns_ip_; }
  // Cuts (down) or restores (up) the link at the namespace's end.
  bool Set(bool up) {
    return Shell(absl::StrCat(IpTool(), " -n ", ns_, " link set ", ns_dev_, up ? " up" : " down")) == 0;
  }

 private:
  std::string ns_, host_dev_, ns_dev_, host_ip_, ns_ip_;
  bool ok_ = false;
};

TEST(FailoverTest, LinkCutInANetworkNamespace) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for ip netns and veth pairs";
  if (IpTool().empty()) GTEST_SKIP() << "iproute2's ip is not installed";
  if (Shell(absl::StrCat(IpTool(), " netns list")) != 0) GTEST_SKIP() << "`ip netns` does not work here";
  NetnsLink link;
  ASSERT_TRUE(link.ok()) << "could not make the namespace and veth pair";
  RealCluster cluster("failover_link", {.extra_hosts = {link.ns_ip()}});
  ASSERT_TRUE(cluster.StartWorker().ok());
  ASSERT_TRUE(cluster.StartWorker().ok());
  const absl::StatusOr<int> remote = cluster.StartWorker(
      {.listen = absl::StrCat(link.ns_ip(), ":0"), .prefix = {IpTool(), "netns", "exec", link.ns()}});
  ASSERT_TRUE(remote.ok()) << remote.status();
  ASSERT_EQ(*remote, 2);
  const std::string victim = cluster.worker_address(*remote);
  ASSERT_EQ(victim.rfind(link.ns_ip(), 0), 0u) << victim;
  absl::Status started =
      cluster.StartCoordinator({.flags = {"--health-interval-ms", "250", "--health-deadline-ms", "400"}});
  ASSERT_TRUE(started.ok()) << started;
  started = cluster.WaitReady();
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(cluster.WaitHealthy(3, absl::Seconds(20)));

  Disruption d;
  ASSERT_NO_FATAL_FAILURE(LoadThroughDisruption(
      cluster, {"cnn_data"}, victim, 3, [&] { ASSERT_TRUE(link.Set(false)); }, [&] { ASSERT_TRUE(link.Set(true)); },
      absl::Seconds(15), &d));
  const Summary& s = d.requests;
  std::printf(
      "[failover] link cut: %d requests, %d failed; detected after %s, back %s after the link came up; "
      "max latency before %s, of requests started in the cut's first second %s; worker executes %llu -> "
      "%llu\n",
      s.total, s.failed, absl::FormatDuration(d.detected).c_str(), absl::FormatDuration(d.back).c_str(),
      absl::FormatDuration(s.max_before).c_str(), absl::FormatDuration(s.max_during).c_str(),
      static_cast<unsigned long long>(d.executes_before), static_cast<unsigned long long>(d.executes_after));
  std::fflush(stdout);
  EXPECT_EQ(s.failed, 0) << d.errors;
  EXPECT_LT(d.detected, absl::Milliseconds(1000));
  EXPECT_LT(s.max_during, kDeadline);
  EXPECT_GT(d.executes_after, d.executes_before);
}

}  // namespace
}  // namespace tessera
