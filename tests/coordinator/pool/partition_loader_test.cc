// PartitionLoader with fake workers: one push for many concurrent callers,
// already_loaded as success, failures not remembered, everything pushed
// again after a restart the pool saw, and after a NOT_FOUND from Execute
// (a restart not seen yet, or an eviction).
#include "coordinator/pool/partition_loader.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/pool/fake_worker_fleet.h"
#include "coordinator/pool/worker_pool.h"
#include "gtest/gtest.h"
#include "tests/coordinator/pool/sync_call.h"

namespace tessera::coordinator {
namespace {

using testing::SyncCall;
using testing::SyncStatus;

class PartitionLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<WorkerPool>> pool =
        WorkerPool::Create({.workers = {"w1:1"}, .client_factory = fleet_.Factory()});
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    pool_->PollNow();
    worker_ = pool_->Find("w1:1");
    ASSERT_TRUE(worker_->healthy());
    fake_ = fleet_.fake("w1:1");
  }

  absl::Status Ensure(PartitionLoader& loader, const LoadablePartition& partition) {
    return SyncStatus([&](PartitionLoader::Done done) {
      loader.EnsureLoaded(worker_, partition, absl::Now() + absl::Seconds(5), std::move(done));
    });
  }

  absl::Status Execute(const std::string& partition_id) {
    auto request = std::make_shared<worker::ExecuteRequest>();
    request->set_partition_id(partition_id);
    return SyncCall<worker::ExecuteResponse>([&](auto done) {
             worker_->client().Execute(request, absl::Now() + absl::Seconds(5), std::move(done));
           })
        .status();
  }

  int Pushes() const { return fake_->CountCalls(FakeWorkerClient::Method::kLoadPartition); }

  FakeWorkerFleet fleet_;
  std::unique_ptr<WorkerPool> pool_;
  WorkerPool::WorkerPtr worker_;
  FakeWorkerClient* fake_ = nullptr;
  const LoadablePartition partition_ =
      LoadablePartition::FromBytes(std::make_shared<const std::string>("stage 0 bytes"));
};

TEST_F(PartitionLoaderTest, FromBytesFillsIdAndSize) {
  EXPECT_EQ(partition_.id().size(), 64u);
  EXPECT_EQ(partition_.header.total_bytes(), 13u);
}

TEST_F(PartitionLoaderTest, ConcurrentCallersShareOnePush) {
  PartitionLoader loader;
  fake_->SetDelay(absl::Milliseconds(100));  // the push is still in flight when the others arrive
  constexpr int kCallers = 10;
  std::vector<absl::Status> results(kCallers, absl::UnknownError("not called"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] { results[i] = Ensure(loader, partition_); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& status : results) EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(Pushes(), 1);
  EXPECT_EQ(loader.pushes_started(), 1u);
  EXPECT_TRUE(loader.IsLoaded(*worker_, partition_.id()));
  EXPECT_EQ(loader.LoadedOn(*worker_), (std::vector<std::string>{partition_.id()}));

  // Known loaded: answered at once, no call.
  EXPECT_TRUE(Ensure(loader, partition_).ok());
  EXPECT_EQ(Pushes(), 1);
}

TEST_F(PartitionLoaderTest, AlreadyLoadedIsSuccess) {
  PartitionLoader first, second;
  ASSERT_TRUE(Ensure(first, partition_).ok());
  // A second coordinator (or a loader that forgot) pushes again: the worker
  // says it already has it.
  ASSERT_TRUE(Ensure(second, partition_).ok());
  EXPECT_EQ(Pushes(), 2);
  EXPECT_TRUE(second.IsLoaded(*worker_, partition_.id()));
}

TEST_F(PartitionLoaderTest, FailedPushIsNotRememberedAndAllWaitersGetIt) {
  PartitionLoader loader;
  fake_->FailNext(FakeWorkerClient::Method::kLoadPartition, absl::ResourceExhaustedError("over budget"));
  fake_->SetDelay(absl::Milliseconds(50));
  absl::Status a, b;
  std::thread t([&] { a = Ensure(loader, partition_); });
  b = Ensure(loader, partition_);
  t.join();
  // Whichever came second either shared the failed push or started after.
  EXPECT_TRUE(a.code() == absl::StatusCode::kResourceExhausted || b.code() == absl::StatusCode::kResourceExhausted);
  fake_->SetDelay(absl::ZeroDuration());
  EXPECT_TRUE(Ensure(loader, partition_).ok());
  EXPECT_TRUE(fake_->HasPartition(partition_.id()));
}

TEST_F(PartitionLoaderTest, RestartSeenByThePoolMeansPushAgain) {
  PartitionLoader loader;
  ASSERT_TRUE(Ensure(loader, partition_).ok());
  ASSERT_EQ(Pushes(), 1);

  fake_->Restart();
  pool_->PollNow();
  ASSERT_EQ(worker_->generation(), 1u);
  EXPECT_FALSE(loader.IsLoaded(*worker_, partition_.id()));
  EXPECT_TRUE(loader.LoadedOn(*worker_).empty());

  ASSERT_TRUE(Ensure(loader, partition_).ok());
  EXPECT_EQ(Pushes(), 2);
  EXPECT_TRUE(fake_->HasPartition(partition_.id()));
  EXPECT_TRUE(loader.IsLoaded(*worker_, partition_.id()));
}

TEST_F(PartitionLoaderTest, NotFoundFromExecuteMeansPushAgain) {
  PartitionLoader loader;
  ASSERT_TRUE(Ensure(loader, partition_).ok());
  ASSERT_TRUE(Execute(partition_.id()).ok());

  // The worker restarts (or evicts the partition) before any poll notices.
  fake_->Restart();
  absl::Status executed = Execute(partition_.id());
  ASSERT_EQ(executed.code(), absl::StatusCode::kNotFound) << executed;
  loader.MarkNotLoaded(*worker_, partition_.id());
  EXPECT_FALSE(loader.IsLoaded(*worker_, partition_.id()));

  ASSERT_TRUE(Ensure(loader, partition_).ok());
  EXPECT_EQ(Pushes(), 2);
  EXPECT_TRUE(Execute(partition_.id()).ok());
}

TEST_F(PartitionLoaderTest, LoaderMayGoAwayWhilePushesRun) {
  auto loader = std::make_unique<PartitionLoader>();
  fake_->SetDelay(absl::Milliseconds(50));
  absl::Notification done;
  absl::Status status = absl::UnknownError("not called");
  loader->EnsureLoaded(worker_, partition_, absl::Now() + absl::Seconds(5), [&](absl::Status s) {
    status = s;
    done.Notify();
  });
  loader.reset();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(PartitionLoaderTest, ForgetWorker) {
  PartitionLoader loader;
  ASSERT_TRUE(Ensure(loader, partition_).ok());
  loader.ForgetWorker(*worker_);
  EXPECT_FALSE(loader.IsLoaded(*worker_, partition_.id()));
}

}  // namespace
}  // namespace tessera::coordinator

namespace tessera::coordinator {
namespace {

// Link speed from pushes: bytes / (round trip - the worker's load time).
// The fake answers after its scripted delay and reports load_time_us, so a
// 1 MiB push with a 400 ms round trip of which 100 ms is "loading" moved
// 1 MiB in ~300 ms (a little more: the round trip also has the fake's
// hashing and dispatch time, tens of ms on a busy machine).
TEST_F(PartitionLoaderTest, PushesMeasureTheLinkSpeed) {
  PartitionLoader loader;
  EXPECT_FALSE(worker_->link_bytes_per_ms().has_value());
  fake_->SetDelay(absl::Milliseconds(400));
  fake_->SetLoadTime(absl::Milliseconds(100));
  const LoadablePartition big = LoadablePartition::FromBytes(std::make_shared<const std::string>(1 << 20, 'x'));
  ASSERT_TRUE(Ensure(loader, big).ok());
  ASSERT_TRUE(worker_->link_bytes_per_ms().has_value());
  const double expected = (1 << 20) / 300.0;  // bytes per ms over 300 ms
  EXPECT_LE(*worker_->link_bytes_per_ms(), expected * 1.001);
  EXPECT_GT(*worker_->link_bytes_per_ms(), expected * 0.6);

  // A second push at a slower link: the estimate moves halfway (smoothing
  // 0.5) towards the new sample.
  const double first = *worker_->link_bytes_per_ms();
  fake_->SetDelay(absl::Milliseconds(1000));  // 900 ms on the wire
  const LoadablePartition other = LoadablePartition::FromBytes(std::make_shared<const std::string>(1 << 20, 'y'));
  ASSERT_TRUE(Ensure(loader, other).ok());
  const double second_sample = (1 << 20) / 900.0;
  EXPECT_LE(*worker_->link_bytes_per_ms(), 0.5 * first + 0.5 * second_sample * 1.001);
  EXPECT_GT(*worker_->link_bytes_per_ms(), 0.5 * first + 0.5 * second_sample * 0.6);
  EXPECT_LT(*worker_->link_bytes_per_ms(), first);

  // Already loaded and small pushes are no samples.
  const double before = *worker_->link_bytes_per_ms();
  PartitionLoader fresh;  // does not know `big` is there: the fake answers already_loaded
  ASSERT_TRUE(Ensure(fresh, big).ok());
  ASSERT_TRUE(Ensure(loader, partition_).ok());  // 13 bytes
  EXPECT_DOUBLE_EQ(*worker_->link_bytes_per_ms(), before);
}

TEST(WorkerHandleLink, SmallOrInstantTransfersAreIgnored) {
  WorkerHandle handle(1, nullptr, 0.3);
  EXPECT_FALSE(handle.RecordLinkTransfer(1000, absl::Milliseconds(1)));
  EXPECT_FALSE(handle.RecordLinkTransfer(1 << 20, absl::ZeroDuration()));
  EXPECT_FALSE(handle.RecordLinkTransfer(1 << 20, absl::Milliseconds(-5)));
  EXPECT_FALSE(handle.link_bytes_per_ms().has_value());
  EXPECT_TRUE(handle.RecordLinkTransfer(1 << 20, absl::Milliseconds(8)));
  EXPECT_DOUBLE_EQ(*handle.link_bytes_per_ms(), (1 << 20) / 8.0);
}

}  // namespace
}  // namespace tessera::coordinator
