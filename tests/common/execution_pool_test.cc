// ExecutionPool: runs every task, refuses beyond the queue limit at once,
// drains the queue on destruction.
#include "common/execution_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(ExecutionPoolTest, RunsEveryTask) {
  std::atomic<int> ran{0};
  {
    ExecutionPool pool({.slots = 2, .queue_limit = 1000});
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool.Submit([&] { ++ran; }).ok());
  }  // the destructor drains the queue
  EXPECT_EQ(ran.load(), 100);
}

TEST(ExecutionPoolTest, FullQueueIsResourceExhaustedAtOnce) {
  absl::Notification release, started;
  ExecutionPool pool({.slots = 1, .queue_limit = 2});
  ASSERT_TRUE(pool.Submit([&] {
                    started.Notify();
                    release.WaitForNotification();
                  }).ok());
  started.WaitForNotification();
  ASSERT_TRUE(pool.Submit([] {}).ok());
  ASSERT_TRUE(pool.Submit([] {}).ok());
  absl::Status st = pool.Submit([] {});
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("saturated"), std::string::npos) << st;
  EXPECT_EQ(pool.running(), 1);
  EXPECT_EQ(pool.queued(), 2);
  release.Notify();
}

}  // namespace
}  // namespace tessera
