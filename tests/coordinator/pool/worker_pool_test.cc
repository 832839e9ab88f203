// WorkerPool with fake workers: the worker list, first admission, health
// transitions from polls and from reported failures, restart detection by
// boot_id, pieces given up on a hung worker only while another is healthy,
// capacity estimates and their sources, least-loaded choice,
// membership updates, and a bounded Stop with a hung worker.
#include "coordinator/pool/worker_pool.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/sha256.h"
#include "common/wire_tensor.h"
#include "coordinator/pool/fake_worker_fleet.h"
#include "gtest/gtest.h"
#include "tests/coordinator/pool/sync_call.h"

namespace tessera::coordinator {
namespace {

using testing::SyncCall;
using testing::WaitUntil;

std::unique_ptr<WorkerPool> MakePool(const FakeWorkerFleet& fleet, std::vector<WorkerEndpoint> workers,
                                     absl::Duration interval = absl::Milliseconds(500)) {
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Create({
      .workers = std::move(workers),
      .client_factory = fleet.Factory(),
      .health_interval = interval,
      .health_deadline = absl::Milliseconds(500),
  });
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? *std::move(pool) : nullptr;
}

TEST(ParseWorkerListTest, SplitsTrimsAndDropsDuplicates) {
  absl::StatusOr<std::vector<std::string>> list = ParseWorkerList(" w1:5000, w2:5001 ,w1:5000,,");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(*list, (std::vector<std::string>{"w1:5000", "w2:5001"}));
  EXPECT_TRUE(ParseWorkerList("")->empty());
  EXPECT_EQ(ParseWorkerList("w1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseWorkerList("w1:http").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseWorkerList(":80").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseWorkerList("w1:70000").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkerPoolTest, CreateNeedsAFactory) {
  EXPECT_EQ(WorkerPool::Create({.workers = {"w:1"}}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkerPoolTest, WorkersAreAdmittedByTheirFirstSuccessfulPoll) {
  FakeWorkerFleet fleet;
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"w1:1", "w2:1"});
  ASSERT_NE(pool, nullptr);
  ASSERT_EQ(pool->All().size(), 2u);
  // The first polls start at creation; PollNow makes sure they are answered.
  pool->PollNow();
  std::vector<WorkerPool::WorkerPtr> healthy = pool->Healthy();
  ASSERT_EQ(healthy.size(), 2u);
  EXPECT_EQ(healthy[0]->address(), "w1:1");
  EXPECT_EQ(healthy[0]->generation(), 0u);
  ASSERT_TRUE(healthy[0]->last_status().has_value());
  EXPECT_EQ(healthy[0]->last_status()->boot_id(), fleet.fake("w1:1")->boot_id());
  EXPECT_EQ(healthy[0]->boot_id(), fleet.fake("w1:1")->boot_id());
  EXPECT_EQ(pool->Find("w2:1"), healthy[1]);
  EXPECT_EQ(pool->Find("w3:1"), nullptr);
}

TEST(WorkerPoolTest, FailedPollMarksUnhealthyAndRecoveryReadmits) {
  FakeWorkerFleet fleet;
  const absl::Duration interval = absl::Milliseconds(50);
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"w1:1", "w2:1"}, interval);
  ASSERT_NE(pool, nullptr);
  std::atomic<int> health_changes = 0;
  pool->OnHealthChanged([&](const WorkerPool::WorkerPtr&) { ++health_changes; });
  pool->Start();
  ASSERT_TRUE(WaitUntil([&] { return pool->Healthy().size() == 2; }));
  WorkerPool::WorkerPtr w1 = pool->Find("w1:1");

  fleet.fake("w1:1")->SetUnavailable(true);
  const absl::Time failed = absl::Now();
  ASSERT_TRUE(WaitUntil([&] { return !w1->healthy(); }));
  // One interval plus the poll itself; generous for a loaded machine.
  EXPECT_LT(absl::Now() - failed, interval + absl::Seconds(2));
  EXPECT_EQ(w1->last_failure().code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(pool->Healthy().size(), 1u);
  EXPECT_EQ(pool->Healthy()[0]->address(), "w2:1");

  fleet.fake("w1:1")->SetUnavailable(false);
  ASSERT_TRUE(WaitUntil([&] { return w1->healthy(); }));
  EXPECT_EQ(pool->Healthy().size(), 2u);
  EXPECT_EQ(w1->generation(), 0u);  // same process: not a restart
  pool->Stop();
  // The failure and the recovery (the first admissions may have come before
  // the listener was added).
  EXPECT_GE(health_changes.load(), 2);
}

TEST(WorkerPoolTest, HungWorkerLosesItsPiecesInFlightWhenAPollTimesOut) {
  FakeWorkerFleet fleet;
  absl::StatusOr<std::unique_ptr<WorkerPool>> created = WorkerPool::Create({
      .workers = {"w1:1", "w2:1"},
      .client_factory = fleet.Factory(),
      .health_interval = absl::Milliseconds(100),
      .health_deadline = absl::Milliseconds(200),
  });
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<WorkerPool> pool = *std::move(created);
  pool->PollNow();
  WorkerPool::WorkerPtr w1 = pool->Find("w1:1");
  WorkerPool::WorkerPtr w2 = pool->Find("w2:1");
  ASSERT_TRUE(w1->healthy());
  absl::Mutex mu;
  std::vector<std::string> lost;
  auto on_lost = [&](const std::string& name) {
    return [&, name](const absl::Status& why) {
      absl::MutexLock lock(&mu);
      lost.push_back(absl::StrCat(name, ": ", why.ToString()));
    };
  };
  InFlightTicket a = w1->StartPiece(on_lost("a"));
  InFlightTicket b = w1->StartPiece(on_lost("b"));
  InFlightTicket done_early = w1->StartPiece(on_lost("released"));
  InFlightTicket elsewhere = w2->StartPiece(on_lost("w2"));
  InFlightTicket silent = w1->StartPiece();  // no callback: only counted
  done_early.Release();
  EXPECT_EQ(w1->in_flight(), 3);

  fleet.fake("w1:1")->SetHung(true);  // SIGSTOP: Status never answers
  const absl::Time hung = absl::Now();
  pool->Start();
  ASSERT_TRUE(WaitUntil([&] {
    absl::MutexLock lock(&mu);
    return lost.size() >= 2;
  }));
  const absl::Duration detected = absl::Now() - hung;
  // One poll deadline (200 ms) after the first round; generous bound.
  EXPECT_LT(detected, absl::Milliseconds(1000)) << detected;
  EXPECT_FALSE(w1->healthy());
  EXPECT_TRUE(w2->healthy());
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(lost.size(), 2u) << absl::StrJoin(lost, "; ");
    std::sort(lost.begin(), lost.end());
    EXPECT_EQ(lost[0].substr(0, 3), "a: ");
    EXPECT_EQ(lost[1].substr(0, 3), "b: ");
    EXPECT_NE(lost[0].find("UNAVAILABLE"), std::string::npos) << lost[0];
    EXPECT_NE(lost[0].find("w1:1 failed its health check"), std::string::npos) << lost[0];
  }
  // Lost pieces stay counted until their tickets go; callbacks run once.
  EXPECT_EQ(w1->in_flight(), 3);
  EXPECT_EQ(w1->LosePieces(absl::UnavailableError("again")), 0);
  a.Release();
  b.Release();
  silent.Release();
  EXPECT_EQ(w1->in_flight(), 0);
  EXPECT_EQ(w2->in_flight(), 1);
  fleet.fake("w1:1")->SetHung(false);
  ASSERT_TRUE(WaitUntil([&] { return w1->healthy(); }));
  pool->Stop();
}

// Pieces are given up only when someone else can take them: a lone healthy
// worker that misses polls keeps its pieces (a slow worker may still
// answer); once another worker is admitted, the next missed poll gives them
// up.
TEST(WorkerPoolTest, HungWorkerKeepsItsPiecesUntilAnotherWorkerIsHealthy) {
  FakeWorkerFleet fleet;
  absl::StatusOr<std::unique_ptr<WorkerPool>> created = WorkerPool::Create({
      .workers = {"w1:1", "w2:1"},
      .client_factory = fleet.Factory(),
      .health_interval = absl::Milliseconds(100),
      .health_deadline = absl::Milliseconds(200),
  });
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<WorkerPool> pool = *std::move(created);
  fleet.fake("w2:1")->SetUnavailable(true);  // never admitted for now
  pool->PollNow();
  WorkerPool::WorkerPtr w1 = pool->Find("w1:1");
  WorkerPool::WorkerPtr w2 = pool->Find("w2:1");
  ASSERT_TRUE(w1->healthy());
  ASSERT_FALSE(w2->healthy());
  absl::Mutex mu;
  std::vector<std::string> lost;
  InFlightTicket piece = w1->StartPiece([&](const absl::Status& why) {
    absl::MutexLock lock(&mu);
    lost.push_back(why.ToString());
  });

  fleet.fake("w1:1")->SetHung(true);
  const int polls_before = fleet.fake("w1:1")->CountCalls(FakeWorkerClient::Method::kStatus);
  pool->Start();
  // Three polls of w1 started: at least two missed (200 ms each) and applied.
  ASSERT_TRUE(WaitUntil(
      [&] { return fleet.fake("w1:1")->CountCalls(FakeWorkerClient::Method::kStatus) >= polls_before + 3; }));
  EXPECT_FALSE(w1->healthy());
  EXPECT_EQ(w1->last_failure().code(), absl::StatusCode::kDeadlineExceeded) << w1->last_failure();
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(lost.empty()) << absl::StrJoin(lost, "; ");
  }
  EXPECT_EQ(w1->in_flight(), 1);

  // w2 comes up: the next poll of w1 that gets no answer gives the piece up.
  fleet.fake("w2:1")->SetUnavailable(false);
  ASSERT_TRUE(WaitUntil([&] { return w2->healthy(); }));
  ASSERT_TRUE(WaitUntil([&] {
    absl::MutexLock lock(&mu);
    return !lost.empty();
  }));
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(lost.size(), 1u) << absl::StrJoin(lost, "; ");
    EXPECT_NE(lost[0].find("UNAVAILABLE"), std::string::npos) << lost[0];
    EXPECT_NE(lost[0].find("w1:1 failed its health check"), std::string::npos) << lost[0];
  }
  EXPECT_EQ(w1->in_flight(), 1);  // counted until its ticket goes
  piece.Release();
  EXPECT_EQ(w1->in_flight(), 0);
  pool->Stop();
}

TEST(WorkerPoolTest, RefusedPollKeepsThePiecesInFlight) {
  // A draining worker refuses new calls (UNAVAILABLE) but finishes the ones
  // it has: they are not given up.
  FakeWorkerFleet fleet;
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"w1:1"}, absl::Milliseconds(50));
  ASSERT_NE(pool, nullptr);
  pool->PollNow();
  WorkerPool::WorkerPtr w1 = pool->Find("w1:1");
  ASSERT_TRUE(w1->healthy());
  std::atomic<int> lost = 0;
  InFlightTicket piece = w1->StartPiece([&](const absl::Status&) { ++lost; });
  fleet.fake("w1:1")->SetUnavailable(true);
  pool->Start();
  ASSERT_TRUE(WaitUntil([&] { return !w1->healthy(); }));
  absl::SleepFor(absl::Milliseconds(200));  // a few more failed polls
  pool->Stop();
  EXPECT_EQ(lost.load(), 0);
  EXPECT_EQ(w1->LosePieces(absl::UnavailableError("by hand")), 1);
  EXPECT_EQ(lost.load(), 1);
}

TEST(WorkerPoolTest, ReportedWorkerFailureMarksUnhealthyAtOnceAndPollReadmits) {
  FakeWorkerFleet fleet;
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"w1:1"});
  ASSERT_NE(pool, nullptr);
  pool->PollNow();
  WorkerPool::WorkerPtr w1 = pool->Find("w1:1");
  ASSERT_TRUE(w1->healthy());

  // A request error says nothing about the worker.
  EXPECT_FALSE(pool->ReportFailure(w1, absl::NotFoundError("partition not loaded")));
  EXPECT_FALSE(pool->ReportFailure(w1, absl::InvalidArgumentError("bad tensor")));
  EXPECT_TRUE(w1->healthy());

  EXPECT_TRUE(pool->ReportFailure(w1, absl::UnavailableError("connection reset")));
  EXPECT_FALSE(w1->healthy());
  EXPECT_TRUE(pool->Healthy().empty());
  EXPECT_EQ(pool->LeastLoaded("p"), nullptr);

  pool->PollNow();
  EXPECT_TRUE(w1->healthy());
}

TEST(WorkerPoolTest, ChangedBootIdIsARestart) {
  FakeWorkerFleet fleet;
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"w1:1", "w2:1"});
  ASSERT_NE(pool, nullptr);
  std::vector<std::string> restarted;
  absl::Mutex mu;
  pool->OnWorkerRestarted([&](const WorkerPool::WorkerPtr& worker) {
    absl::MutexLock lock(&mu);
    restarted.push_back(worker->address());
  });
  pool->PollNow();
  WorkerPool::WorkerPtr w1 = pool->Find("w1:1");
  const std::string first_boot = w1->boot_id();
  EXPECT_EQ(w1->generation(), 0u);

  fleet.fake("w1:1")->Restart();
  pool->PollNow();
  EXPECT_EQ(w1->generation(), 1u);
  EXPECT_NE(w1->boot_id(), first_boot);
  EXPECT_EQ(pool->Find("w2:1")->generation(), 0u);
  pool->PollNow();  // the same new process: nothing more
  EXPECT_EQ(w1->generation(), 1u);
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(restarted, (std::vector<std::string>{"w1:1"}));
  }

  // A restart seen while the worker was down counts too.
  fleet.fake("w1:1")->SetUnavailable(true);
  pool->PollNow();
  EXPECT_FALSE(w1->healthy());
  fleet.fake("w1:1")->Restart();
  fleet.fake("w1:1")->SetUnavailable(false);
  pool->PollNow();
  EXPECT_TRUE(w1->healthy());
  EXPECT_EQ(w1->generation(), 2u);
}

// Loads a partition on a fake and runs `batch`-sample Executes on it,
// reporting each to the pool as the scheduler would.
void RunAndRecord(WorkerPool* pool, const WorkerPool::WorkerPtr& worker, const std::string& bytes, int executes,
                  int64_t batch) {
  worker::PartitionHeader header;
  header.set_partition_id(Sha256Hex(bytes));
  header.set_total_bytes(bytes.size());
  auto data = std::make_shared<const std::string>(bytes);
  ASSERT_TRUE((SyncCall<worker::LoadPartitionResponse>([&](auto done) {
                 worker->client().LoadPartition(header, data, absl::Now() + absl::Seconds(5), std::move(done));
               })).ok());
  auto request = std::make_shared<worker::ExecuteRequest>();
  request->set_partition_id(header.partition_id());
  TensorToWire("x", Tensor::FromVector<float>({batch, 1}, std::vector<float>(batch, 1.0f)), request->add_inputs());
  for (int i = 0; i < executes; ++i) {
    absl::StatusOr<worker::ExecuteResponse> response = SyncCall<worker::ExecuteResponse>(
        [&](auto done) { worker->client().Execute(request, absl::Now() + absl::Seconds(5), std::move(done)); });
    ASSERT_TRUE(response.ok()) << response.status();
    pool->RecordExecute(worker, header.partition_id(), batch, response->compute_time_us());
  }
}

TEST(WorkerPoolTest, CapacityFallsBackThenConvergesToTheRatioOfSpeeds) {
  FakeWorkerFleet fleet;
  fleet.Configure("slow:1", [](FakeWorkerClient::Options* o) { o->samples_per_second = 100; });
  fleet.Configure("fast:1", [](FakeWorkerClient::Options* o) { o->samples_per_second = 300; });
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"slow:1", "fast:1"});
  ASSERT_NE(pool, nullptr);
  WorkerPool::WorkerPtr slow = pool->Find("slow:1");
  WorkerPool::WorkerPtr fast = pool->Find("fast:1");
  const std::string partition = Sha256Hex("p");

  // Polls may already have been answered; start from what Status says.
  pool->PollNow();
  CapacityEstimate from_status = pool->Capacity(fast, partition);
  EXPECT_EQ(from_status.source, CapacityEstimate::Source::kWorkerStatus);
  EXPECT_NEAR(from_status.samples_per_second / pool->Capacity(slow, partition).samples_per_second, 3.0, 1e-6);

  RunAndRecord(pool.get(), slow, "p", 10, 8);
  // Measured on the slow worker only: the fast one is estimated from it,
  // per core (both fakes report 2 cores).
  EXPECT_EQ(pool->Capacity(slow, partition).source, CapacityEstimate::Source::kMeasured);
  CapacityEstimate peers = pool->Capacity(fast, partition);
  EXPECT_EQ(peers.source, CapacityEstimate::Source::kPeers);
  EXPECT_NEAR(peers.samples_per_second, pool->Capacity(slow, partition).samples_per_second, 1e-6);

  RunAndRecord(pool.get(), fast, "p", 10, 8);
  const double ratio =
      pool->Capacity(fast, partition).samples_per_second / pool->Capacity(slow, partition).samples_per_second;
  EXPECT_NEAR(ratio, 3.0, 0.03);
  EXPECT_NEAR(pool->Capacity(slow, partition).samples_per_second, 100.0, 1.0);

  // The slow worker speeds up; the EWMA follows.
  fleet.fake("slow:1")->SetSamplesPerSecond(600);
  RunAndRecord(pool.get(), slow, "p", 30, 8);
  EXPECT_NEAR(pool->Capacity(slow, partition).samples_per_second, 600.0, 6.0);
  EXPECT_EQ(pool->LeastLoaded(partition), slow);
}

TEST(WorkerPoolTest, UnknownCapacityIsAnEqualShare) {
  FakeWorkerFleet fleet;
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {});
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(pool->UpdateMembership({"w1:1"}).ok());
  // Without waiting for a poll: a handle with no Status yet.
  auto fresh = std::make_shared<WorkerHandle>(99, std::make_unique<FakeWorkerClient>(FakeWorkerClient::Options{}),
                                              0.3);
  CapacityEstimate estimate = pool->Capacity(fresh, "p");
  EXPECT_EQ(estimate.source, CapacityEstimate::Source::kEqualShare);
  EXPECT_EQ(estimate.samples_per_second, 1.0);
}

TEST(WorkerPoolTest, EndpointsKeepTheirCertificateNameAndANewNameIsANewWorker) {
  FakeWorkerFleet fleet;
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {{"10.0.0.2:1", "tessera-worker"}, {"static:1"}});
  ASSERT_NE(pool, nullptr);
  WorkerPool::WorkerPtr named = pool->Find("10.0.0.2:1");
  ASSERT_NE(named, nullptr);
  EXPECT_EQ(named->tls_server_name(), "tessera-worker");
  EXPECT_EQ(pool->Find("static:1")->tls_server_name(), "");
  // The same endpoints again: nothing changes.
  ASSERT_TRUE(pool->UpdateMembership({{"10.0.0.2:1", "tessera-worker"}, {"static:1"}}).ok());
  EXPECT_EQ(pool->Find("10.0.0.2:1"), named);
  // The address now reached under another name: a new worker replaces it.
  ASSERT_TRUE(pool->UpdateMembership({{"10.0.0.2:1", "other"}, {"static:1"}}).ok());
  WorkerPool::WorkerPtr renamed = pool->Find("10.0.0.2:1");
  ASSERT_NE(renamed, nullptr);
  EXPECT_NE(renamed, named);
  EXPECT_EQ(renamed->tls_server_name(), "other");
  EXPECT_TRUE(named->removed());
  EXPECT_EQ(pool->All().size(), 2u);
}

TEST(WorkerPoolTest, LeastLoadedCountsPiecesInFlight) {
  FakeWorkerFleet fleet;
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"w1:1", "w2:1"});
  ASSERT_NE(pool, nullptr);
  pool->PollNow();
  WorkerPool::WorkerPtr w1 = pool->Find("w1:1");
  WorkerPool::WorkerPtr w2 = pool->Find("w2:1");
  {
    InFlightTicket a = w1->StartPiece();
    EXPECT_EQ(w1->in_flight(), 1);
    EXPECT_EQ(pool->LeastLoaded("p"), w2);
    InFlightTicket b = w2->StartPiece();
    InFlightTicket c = w2->StartPiece();
    EXPECT_EQ(pool->LeastLoaded("p"), w1);
    c.Release();
    c.Release();  // idempotent
    EXPECT_EQ(w2->in_flight(), 1);
    InFlightTicket moved = std::move(b);
    EXPECT_EQ(w2->in_flight(), 1);
  }
  EXPECT_EQ(w1->in_flight(), 0);
  EXPECT_EQ(w2->in_flight(), 0);
}

TEST(WorkerPoolTest, MembershipUpdateAddsAndRemovesWorkers) {
  FakeWorkerFleet fleet;
  fleet.Refuse("bad:1");
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"a:1", "b:1"});
  ASSERT_NE(pool, nullptr);
  std::vector<std::string> added, removed;
  pool->OnMembershipChanged([&](const WorkerPool::MembershipChange& change) {
    for (const auto& w : change.added) added.push_back(w->address());
    for (const auto& w : change.removed) removed.push_back(w->address());
  });
  pool->PollNow();
  WorkerPool::WorkerPtr a = pool->Find("a:1");
  WorkerPool::WorkerPtr b = pool->Find("b:1");

  absl::Status updated = pool->UpdateMembership({"b:1", "c:1", "bad:1"});
  EXPECT_EQ(updated.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(updated.message().find("bad:1"), absl::string_view::npos) << updated;
  EXPECT_EQ(added, (std::vector<std::string>{"c:1"}));
  EXPECT_EQ(removed, (std::vector<std::string>{"a:1"}));

  // The removed worker stops getting work; its handle stays usable.
  EXPECT_TRUE(a->removed());
  EXPECT_FALSE(a->healthy());
  EXPECT_EQ(a->address(), "a:1");
  EXPECT_EQ(pool->Find("a:1"), nullptr);
  EXPECT_EQ(pool->Find("b:1"), b);  // kept as is

  pool->PollNow();
  std::vector<std::string> healthy;
  for (const auto& w : pool->Healthy()) healthy.push_back(w->address());
  EXPECT_EQ(healthy, (std::vector<std::string>{"b:1", "c:1"}));
  EXPECT_FALSE(a->healthy());  // polls never re-admit a removed worker

  // Added back: a new handle, a new id.
  ASSERT_TRUE(pool->UpdateMembership({"a:1", "b:1", "c:1"}).ok());
  WorkerPool::WorkerPtr a2 = pool->Find("a:1");
  ASSERT_NE(a2, nullptr);
  EXPECT_NE(a2->id(), a->id());
  pool->PollNow();
  EXPECT_TRUE(a2->healthy());
  EXPECT_EQ(pool->Healthy().size(), 3u);
}

TEST(WorkerPoolTest, StopIsBoundedWithAHungWorker) {
  FakeWorkerFleet fleet;
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"w1:1"}, absl::Milliseconds(20));
  ASSERT_NE(pool, nullptr);
  fleet.fake("w1:1")->SetHung(true);
  pool->Start();
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time start = absl::Now();
  pool->Stop();
  pool->Stop();  // idempotent
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The hung poll ended at its deadline: the worker never became healthy.
  EXPECT_FALSE(pool->Find("w1:1")->healthy());
  EXPECT_EQ(pool->Find("w1:1")->last_failure().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(WorkerPoolTest, ConcurrentUseWhileTheHealthThreadRuns) {
  FakeWorkerFleet fleet;
  std::unique_ptr<WorkerPool> pool = MakePool(fleet, {"w0:1", "w1:1", "w2:1"}, absl::Milliseconds(5));
  ASSERT_NE(pool, nullptr);
  std::atomic<int> notifications = 0;
  pool->OnHealthChanged([&](const WorkerPool::WorkerPtr&) { ++notifications; });
  pool->OnMembershipChanged([&](const WorkerPool::MembershipChange&) { ++notifications; });
  pool->Start();
  const absl::Time end = absl::Now() + absl::Milliseconds(300);
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; absl::Now() < end; ++i) {
      std::vector<WorkerEndpoint> members = {"w0:1"};
      if (i % 2 == 0) members.push_back("w1:1");
      if (i % 3 == 0) members.push_back("w2:1");
      EXPECT_TRUE(pool->UpdateMembership(members).ok());
      absl::SleepFor(absl::Milliseconds(3));
    }
  });
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (absl::Now() < end) {
        for (const WorkerPool::WorkerPtr& worker : pool->All()) {
          InFlightTicket ticket = worker->StartPiece();
          pool->RecordExecute(worker, "p", 4, 1000);
          pool->Capacity(worker, "p");
          if (worker->id() % 2 == 0) pool->ReportFailure(worker, absl::UnavailableError("flaky"));
        }
        pool->LeastLoaded("p");
        pool->Healthy();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  pool->Stop();
  EXPECT_GT(notifications.load(), 0);
  for (const WorkerPool::WorkerPtr& worker : pool->All()) EXPECT_EQ(worker->in_flight(), 0);
}

}  // namespace
}  // namespace tessera::coordinator
