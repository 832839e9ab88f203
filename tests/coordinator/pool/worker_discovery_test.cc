// WorkerDiscovery with a FakeHostResolver and a pool of fake workers:
// static and DNS targets mixed, TLS names on discovered endpoints, workers
// that appear and vanish, failures that keep the last good set, warnings
// reported once, and Stop.
#include "coordinator/pool/worker_discovery.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "coordinator/pool/fake_host_resolver.h"
#include "coordinator/pool/fake_worker_fleet.h"
#include "coordinator/pool/worker_pool.h"
#include "gtest/gtest.h"
#include "tests/coordinator/pool/sync_call.h"

namespace tessera::coordinator {
namespace {

using testing::WaitUntil;

std::vector<WorkerTarget> Targets(const std::string& list) {
  absl::StatusOr<std::vector<WorkerTarget>> targets = ParseWorkerTargets(list);
  EXPECT_TRUE(targets.ok()) << targets.status();
  return targets.ok() ? *targets : std::vector<WorkerTarget>{};
}

std::unique_ptr<WorkerDiscovery> MakeDiscovery(const std::string& list, HostResolver* resolver,
                                               WorkerDiscovery::WarningSink on_warning = nullptr) {
  absl::StatusOr<std::unique_ptr<WorkerDiscovery>> discovery =
      WorkerDiscovery::Create({.targets = Targets(list),
                               .resolver = resolver,
                               .resolve_interval = absl::Milliseconds(20),
                               .on_warning = std::move(on_warning)});
  EXPECT_TRUE(discovery.ok()) << discovery.status();
  return discovery.ok() ? *std::move(discovery) : nullptr;
}

std::set<std::string> Addresses(const std::vector<WorkerPool::WorkerPtr>& workers) {
  std::set<std::string> out;
  for (const auto& worker : workers) out.insert(worker->address());
  return out;
}

TEST(WorkerDiscoveryTest, ChecksItsOptions) {
  FakeHostResolver resolver;
  EXPECT_EQ(WorkerDiscovery::Create({.targets = Targets("dns:///w:1")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WorkerDiscovery::Create(
                {.targets = Targets("w:1"), .resolver = &resolver, .resolve_interval = absl::ZeroDuration()})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Static lists need no resolver.
  EXPECT_TRUE(WorkerDiscovery::Create({.targets = Targets("w:1")}).ok());
}

TEST(WorkerDiscoveryTest, StaticAndResolvedEndpointsWithTheirCertificateNames) {
  FakeHostResolver resolver;
  resolver.Set("tessera-worker", {"10.0.0.3", "10.0.0.2", "fd00::9"});
  std::unique_ptr<WorkerDiscovery> discovery = MakeDiscovery("static:7,dns:///tessera-worker:8001", &resolver);
  ASSERT_NE(discovery, nullptr);
  EXPECT_TRUE(discovery->has_dns_targets());
  EXPECT_EQ(discovery->Endpoints(), (std::vector<WorkerEndpoint>{{"static:7"}}));
  ASSERT_TRUE(discovery->Resolve().ok());
  EXPECT_EQ(discovery->Endpoints(), (std::vector<WorkerEndpoint>{{"10.0.0.2:8001", "tessera-worker"},
                                                                 {"10.0.0.3:8001", "tessera-worker"},
                                                                 {"[fd00::9]:8001", "tessera-worker"},
                                                                 {"static:7", ""}}));
}

TEST(WorkerDiscoveryTest, AStaticEntryWinsOverTheSameAddressFoundByName) {
  FakeHostResolver resolver;
  resolver.Set("w", {"10.0.0.2"});
  std::unique_ptr<WorkerDiscovery> discovery = MakeDiscovery("dns:///w:1,10.0.0.2:1", &resolver);
  ASSERT_NE(discovery, nullptr);
  ASSERT_TRUE(discovery->Resolve().ok());
  EXPECT_EQ(discovery->Endpoints(), (std::vector<WorkerEndpoint>{{"10.0.0.2:1", ""}}));
}

TEST(WorkerDiscoveryTest, AFailedResolutionKeepsTheLastGoodAddresses) {
  FakeHostResolver resolver;
  std::unique_ptr<WorkerDiscovery> discovery = MakeDiscovery("dns:///w:1,dns:///v:2", &resolver);
  ASSERT_NE(discovery, nullptr);
  // Never resolved: nothing yet, and both names are reported.
  absl::Status first = discovery->Resolve();
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(first.message().find("dns:///w:1"), std::string::npos) << first;
  EXPECT_NE(first.message().find("dns:///v:2"), std::string::npos) << first;
  EXPECT_TRUE(discovery->Endpoints().empty());

  resolver.Set("w", {"10.0.0.2"});
  resolver.Set("v", {"10.0.0.3"});
  ASSERT_TRUE(discovery->Resolve().ok());
  resolver.Fail("w", absl::UnavailableError("DNS server timed out"));
  resolver.Set("v", {});  // an empty answer counts as a failure too
  absl::Status failed = discovery->Resolve();
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(failed.message().find("DNS server timed out"), std::string::npos) << failed;
  EXPECT_EQ(discovery->Endpoints(), (std::vector<WorkerEndpoint>{{"10.0.0.2:1", "w"}, {"10.0.0.3:2", "v"}}));
}

TEST(WorkerDiscoveryTest, ThePoolFollowsTheNameAndKeepsItsWorkersThroughFailures) {
  FakeWorkerFleet fleet;
  FakeHostResolver resolver;
  resolver.Set("tessera-worker", {"10.0.0.2"});
  std::vector<std::string> warnings;
  absl::Mutex warnings_mu;
  std::unique_ptr<WorkerDiscovery> discovery =
      MakeDiscovery("dns:///tessera-worker:8001,static:9", &resolver, [&](const absl::Status& warning) {
        absl::MutexLock lock(&warnings_mu);
        warnings.push_back(std::string(warning.message()));
      });
  ASSERT_NE(discovery, nullptr);
  ASSERT_TRUE(discovery->Resolve().ok());
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Create(
      {.workers = discovery->Endpoints(), .client_factory = fleet.Factory(), .health_interval = absl::Milliseconds(20)});
  ASSERT_TRUE(pool.ok()) << pool.status();
  (*pool)->PollNow();
  (*pool)->Start();
  discovery->Start([p = pool->get()](const std::vector<WorkerEndpoint>& endpoints) {
    return p->UpdateMembership(endpoints);
  });
  EXPECT_EQ(Addresses((*pool)->Healthy()), (std::set<std::string>{"10.0.0.2:8001", "static:9"}));
  EXPECT_EQ((*pool)->Find("10.0.0.2:8001")->tls_server_name(), "tessera-worker");
  EXPECT_EQ((*pool)->Find("static:9")->tls_server_name(), "");

  // A second worker appears behind the name: used once its first poll answers.
  resolver.Set("tessera-worker", {"10.0.0.2", "10.0.0.3"});
  EXPECT_TRUE(WaitUntil([&] { return Addresses((*pool)->Healthy()).contains("10.0.0.3:8001"); }));
  WorkerPool::WorkerPtr second = (*pool)->Find("10.0.0.3:8001");
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->tls_server_name(), "tessera-worker");

  // DNS fails for a while: nobody is dropped, and the failure is reported once.
  resolver.Fail("tessera-worker", absl::UnavailableError("no answer"));
  const int calls = resolver.calls("tessera-worker");
  EXPECT_TRUE(WaitUntil([&] { return resolver.calls("tessera-worker") >= calls + 5; }));
  EXPECT_EQ(Addresses((*pool)->Healthy()), (std::set<std::string>{"10.0.0.2:8001", "10.0.0.3:8001", "static:9"}));
  {
    absl::MutexLock lock(&warnings_mu);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("no answer"), std::string::npos) << warnings[0];
  }

  // The first worker vanishes from the name: removed, so it gets no more work.
  WorkerPool::WorkerPtr first = (*pool)->Find("10.0.0.2:8001");
  resolver.Set("tessera-worker", {"10.0.0.3"});
  EXPECT_TRUE(WaitUntil([&] { return first->removed(); }));
  EXPECT_FALSE(first->healthy());
  EXPECT_EQ(Addresses((*pool)->All()), (std::set<std::string>{"10.0.0.3:8001", "static:9"}));
  EXPECT_EQ((*pool)->Find("10.0.0.3:8001"), second);  // the survivor keeps its handle

  discovery->Stop();
  discovery->Stop();  // idempotent
  const int after_stop = resolver.calls("tessera-worker");
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(resolver.calls("tessera-worker"), after_stop);
  (*pool)->Stop();
}

TEST(WorkerDiscoveryTest, AFailedMembershipUpdateIsRetriedAndReported) {
  FakeHostResolver resolver;
  resolver.Set("w", {"10.0.0.2"});
  std::atomic<int> sink_calls = 0;
  std::atomic<int> warnings = 0;
  std::unique_ptr<WorkerDiscovery> discovery =
      MakeDiscovery("dns:///w:1", &resolver, [&](const absl::Status&) { ++warnings; });
  ASSERT_NE(discovery, nullptr);
  discovery->Start([&](const std::vector<WorkerEndpoint>&) {
    return ++sink_calls < 3 ? absl::UnavailableError("no client") : absl::OkStatus();
  });
  // Endpoints() at Start was empty: the resolved set differs, then the sink
  // fails twice and is called again until it succeeds.
  EXPECT_TRUE(WaitUntil([&] { return sink_calls.load() >= 3; }));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(sink_calls.load(), 3);
  EXPECT_EQ(warnings.load(), 1);
}

TEST(WorkerDiscoveryTest, StaticListsStartNoThread) {
  std::unique_ptr<WorkerDiscovery> discovery = MakeDiscovery("a:1,b:2", nullptr);
  ASSERT_NE(discovery, nullptr);
  EXPECT_FALSE(discovery->has_dns_targets());
  EXPECT_TRUE(discovery->Resolve().ok());
  std::atomic<int> sink_calls = 0;
  discovery->Start([&](const std::vector<WorkerEndpoint>&) {
    ++sink_calls;
    return absl::OkStatus();
  });
  absl::SleepFor(absl::Milliseconds(60));
  EXPECT_EQ(sink_calls.load(), 0);
  EXPECT_EQ(discovery->Endpoints(), (std::vector<WorkerEndpoint>{{"a:1"}, {"b:2"}}));
}

}  // namespace
}  // namespace tessera::coordinator
