// StageStatisticsRecorder: sums per stage, transfer clamped at 0, stages
// outside the deployment ignored, concurrent recording.
#include "coordinator/scheduler/stage_statistics.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

TEST(StageStatisticsRecorderTest, SumsPiecesPerStage) {
  StageStatisticsRecorder recorder(2);
  EXPECT_EQ(recorder.stage_count(), 2);
  recorder.RecordPiece(0, absl::Microseconds(100), 10, 60, 400, 40);
  recorder.RecordPiece(0, absl::Microseconds(50), 5, 20, 200, 20);
  // The worker's times exceed the round trip (clock skew): no transfer.
  recorder.RecordPiece(1, absl::Microseconds(30), 10, 30, 40, 8);
  recorder.RecordPiece(2, absl::Microseconds(30), 1, 1, 1, 1);   // no such stage
  recorder.RecordPiece(-1, absl::Microseconds(30), 1, 1, 1, 1);  // no such stage
  const std::vector<StageStatisticsRecorder::Stage> stages = recorder.Snapshot();
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[0].pieces, 2u);
  EXPECT_EQ(stages[0].dispatch_ns, 150'000u);
  EXPECT_EQ(stages[0].queue_ns, 15'000u);
  EXPECT_EQ(stages[0].compute_ns, 80'000u);
  EXPECT_EQ(stages[0].transfer_ns, 55'000u);
  EXPECT_EQ(stages[0].bytes_sent, 600u);
  EXPECT_EQ(stages[0].bytes_received, 60u);
  EXPECT_EQ(stages[1].pieces, 1u);
  EXPECT_EQ(stages[1].dispatch_ns, 30'000u);
  EXPECT_EQ(stages[1].transfer_ns, 0u);
  EXPECT_EQ(stages[1].bytes_sent, 40u);
}

TEST(StageStatisticsRecorderTest, ConcurrentPiecesAreAllCounted) {
  StageStatisticsRecorder recorder(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) recorder.RecordPiece(0, absl::Microseconds(3), 1, 1, 2, 3);
    });
  }
  for (std::thread& t : threads) t.join();
  const StageStatisticsRecorder::Stage stage = recorder.Snapshot()[0];
  EXPECT_EQ(stage.pieces, 4000u);
  EXPECT_EQ(stage.transfer_ns, 4000u * 1000);
  EXPECT_EQ(stage.bytes_received, 12000u);
}

TEST(StageStatisticsRecorderTest, CountsDistinctWorkersPerStage) {
  StageStatisticsRecorder recorder(2);
  recorder.RecordPiece(0, absl::Microseconds(1), 0, 0, 0, 0, "boot-a");
  recorder.RecordPiece(0, absl::Microseconds(1), 0, 0, 0, 0, "boot-b");
  recorder.RecordPiece(0, absl::Microseconds(1), 0, 0, 0, 0, "boot-a");
  recorder.RecordPiece(1, absl::Microseconds(1), 0, 0, 0, 0, "boot-a");
  recorder.RecordPiece(1, absl::Microseconds(1), 0, 0, 0, 0);  // unknown worker: not counted
  const std::vector<StageStatisticsRecorder::Stage> stages = recorder.Snapshot();
  EXPECT_EQ(stages[0].workers, 2u);
  EXPECT_EQ(stages[0].pieces, 3u);
  EXPECT_EQ(stages[1].workers, 1u);
  EXPECT_EQ(stages[1].pieces, 2u);
}

TEST(StageStatisticsRecorderTest, NoStages) {
  StageStatisticsRecorder recorder(0);
  recorder.RecordPiece(0, absl::Microseconds(1), 0, 0, 0, 0);
  EXPECT_TRUE(recorder.Snapshot().empty());
}

}  // namespace
}  // namespace tessera::coordinator
