#include "common/shutdown_signal.h"

#include <signal.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace tessera {
namespace {

// gtest starts no threads, so blocking here covers the whole process.
TEST(ShutdownSignalTest, WaitsForTheSignalOrTimesOut) {
  BlockShutdownSignals();
  EXPECT_EQ(WaitForShutdownSignalFor(absl::Milliseconds(50)), 0);
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  EXPECT_EQ(WaitForShutdownSignalFor(absl::Seconds(10)), SIGTERM);
  ASSERT_EQ(::kill(::getpid(), SIGINT), 0);
  EXPECT_EQ(WaitForShutdownSignal(), SIGINT);
}

TEST(ShutdownSignalTest, DrainingIsProcessWideAndSticky) {
  EXPECT_FALSE(IsDraining());
  BeginDraining();
  EXPECT_TRUE(IsDraining());
  BeginDraining();
  EXPECT_TRUE(IsDraining());
}

}  // namespace
}  // namespace tessera
