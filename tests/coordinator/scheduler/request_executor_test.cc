// RequestExecutor with a fake PieceRunner that runs each partition on a
// local engine: DATA shards sized by replica weights, pipeline micro-batches
// with a skip connection from the request to the last stage, results equal
// to the whole model, and failures reported once with the stage named.
#include "coordinator/scheduler/request_executor.h"

#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/sha256.h"
#include "common/wire_tensor.h"
#include "gtest/gtest.h"
#include "tests/coordinator/local_piece_runner.h"
#include "tests/worker/engine/model_builder.h"
#include "worker/engine/engine.h"

namespace tessera::coordinator {
namespace {

using engine::testing::ModelBuilder;

using testing::LocalPieceRunner;

StagePartition Stage(const std::string& bytes, std::vector<std::string> inputs, std::vector<std::string> outputs) {
  StagePartition s;
  s.id = Sha256Hex(bytes);
  s.onnx_bytes = std::make_shared<const std::string>(bytes);
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  return s;
}

// Whole model: y = Relu(x) * 2 + x. Stage 1: h = Relu(x) * 2. Stage 2: y = h + x.
std::string Stage1() {
  ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 3})
      .Initializer("two", Tensor::Scalar<float>(2))
      .Node("Relu", {"x"}, {"r"})
      .Node("Mul", {"r", "two"}, {"h"})
      .Output("h", {-1, 3});
  return b.Bytes();
}
std::string Stage2() {
  ModelBuilder b;
  b.Input("h", onnx::TensorProto::FLOAT, {-1, 3})
      .Input("x", onnx::TensorProto::FLOAT, {-1, 3})
      .Node("Add", {"h", "x"}, {"y"})
      .Output("y", {-1, 3});
  return b.Bytes();
}
std::string Whole() {
  ModelBuilder b;
  b.Input("x", onnx::TensorProto::FLOAT, {-1, 3})
      .Initializer("two", Tensor::Scalar<float>(2))
      .Node("Relu", {"x"}, {"r"})
      .Node("Mul", {"r", "two"}, {"h"})
      .Node("Add", {"h", "x"}, {"y"})
      .Output("y", {-1, 3});
  return b.Bytes();
}

Tensor Input(int64_t rows) {
  std::vector<float> values(rows * 3);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 5) - 2.0f;
  return Tensor::FromVector<float>({rows, 3}, values);
}

std::vector<float> Expected(const Tensor& x) {
  std::vector<float> y;
  for (float v : x.values<float>()) y.push_back(std::max(v, 0.0f) * 2 + v);
  return y;
}

absl::StatusOr<std::vector<NamedTensor>> InferAndWait(const RequestExecutor& executor, Tensor x) {
  absl::Notification done;
  absl::StatusOr<std::vector<NamedTensor>> result;
  executor.Infer({{"x", std::move(x)}}, absl::Now() + absl::Seconds(10), "req", [&](auto r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

TEST(RequestExecutorTest, DataShardsFollowReplicaWeightsAndMergeInOrder) {
  LocalPieceRunner runner;
  runner.weights = std::vector<double>{1, 2, 4};
  auto d = std::make_shared<Deployment>();
  d->model_name = "m";
  d->strategy = Strategy::kData;
  d->stages = {Stage(Whole(), {"x"}, {"y"})};
  d->has_batch_axis = true;
  d->model_inputs = {"x"};
  d->model_outputs = {"y"};
  RequestExecutor executor(d, &runner);
  const Tensor x = Input(7);
  auto result = InferAndWait(executor, x);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->size(), 1u);
  EXPECT_EQ((*result)[0].name, "y");
  EXPECT_EQ((*result)[0].tensor.shape(), (Shape{7, 3}));
  const auto got = (*result)[0].tensor.values<float>();
  EXPECT_EQ(std::vector<float>(got.begin(), got.end()), Expected(x));
  ASSERT_EQ(runner.calls.size(), 3u);
  std::map<int, int64_t> rows_by_replica;
  for (const auto& c : runner.calls) rows_by_replica[c.replica] = c.rows;
  EXPECT_EQ(rows_by_replica[0], 1);
  EXPECT_EQ(rows_by_replica[1], 2);
  EXPECT_EQ(rows_by_replica[2], 4);
}

TEST(RequestExecutorTest, PipelineMicroBatchesCarryTheSkipConnection) {
  LocalPieceRunner runner;
  auto d = std::make_shared<Deployment>();
  d->model_name = "m";
  d->strategy = Strategy::kPipeline;
  d->stages = {Stage(Stage1(), {"x"}, {"h"}), Stage(Stage2(), {"h", "x"}, {"y"})};
  d->micro_batch_size = 2;
  d->has_batch_axis = true;
  d->model_inputs = {"x"};
  d->model_outputs = {"y"};
  RequestExecutor executor(d, &runner);
  const Tensor x = Input(7);
  auto result = InferAndWait(executor, x);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto got = (*result)[0].tensor.values<float>();
  EXPECT_EQ(std::vector<float>(got.begin(), got.end()), Expected(x));
  // 4 micro-batches (2, 2, 2, 1 rows) through 2 stages.
  EXPECT_EQ(runner.calls.size(), 8u);
}

TEST(RequestExecutorTest, StageStatisticsCountPiecesAndTensorBytes) {
  LocalPieceRunner runner;
  auto d = std::make_shared<Deployment>();
  d->model_name = "m";
  d->strategy = Strategy::kPipeline;
  d->stages = {Stage(Stage1(), {"x"}, {"h"}), Stage(Stage2(), {"h", "x"}, {"y"})};
  d->micro_batch_size = 2;
  d->has_batch_axis = true;
  d->model_inputs = {"x"};
  d->model_outputs = {"y"};
  auto stats = std::make_shared<StageStatisticsRecorder>(2);
  RequestExecutor executor(d, &runner, nullptr, stats);
  ASSERT_TRUE(InferAndWait(executor, Input(7)).ok());
  const std::vector<StageStatisticsRecorder::Stage> stages = stats->Snapshot();
  ASSERT_EQ(stages.size(), 2u);
  const uint64_t rows_bytes = 7 * 3 * sizeof(float);  // one [7, 3] float tensor over all pieces
  // Stage 1: x in, h out; stage 2: h and the skip connection x in, y out.
  EXPECT_EQ(stages[0].pieces, 4u);
  EXPECT_EQ(stages[0].bytes_sent, rows_bytes);
  EXPECT_EQ(stages[0].bytes_received, rows_bytes);
  EXPECT_EQ(stages[1].pieces, 4u);
  EXPECT_EQ(stages[1].bytes_sent, 2 * rows_bytes);
  EXPECT_EQ(stages[1].bytes_received, rows_bytes);
  for (const auto& stage : stages) {
    EXPECT_GT(stage.dispatch_ns, 0u);
    // The local runner reports no worker times: all of it is transfer.
    EXPECT_EQ(stage.transfer_ns, stage.dispatch_ns);
  }
  // Failed pieces are not recorded.
  runner.fail_stage = 1;
  auto failed_stats = std::make_shared<StageStatisticsRecorder>(2);
  RequestExecutor failing(d, &runner, nullptr, failed_stats);
  EXPECT_FALSE(InferAndWait(failing, Input(2)).ok());
  EXPECT_EQ(failed_stats->Snapshot()[0].pieces, 1u);
  EXPECT_EQ(failed_stats->Snapshot()[1].pieces, 0u);
}

TEST(RequestExecutorTest, WithoutBatchAxisTheRequestIsOnePiece) {
  LocalPieceRunner runner;
  runner.weights = std::vector<double>{1, 1};
  auto d = std::make_shared<Deployment>();
  d->model_name = "m";
  d->strategy = Strategy::kData;
  d->stages = {Stage(Whole(), {"x"}, {"y"})};
  d->has_batch_axis = false;
  d->model_inputs = {"x"};
  d->model_outputs = {"y"};
  RequestExecutor executor(d, &runner);
  auto result = InferAndWait(executor, Input(5));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0].replica, -1);
}

TEST(RequestExecutorTest, FailureNamesTheStageAndIsReportedOnce) {
  LocalPieceRunner runner;
  runner.fail_stage = 1;
  auto d = std::make_shared<Deployment>();
  d->model_name = "m";
  d->strategy = Strategy::kPipeline;
  d->stages = {Stage(Stage1(), {"x"}, {"h"}), Stage(Stage2(), {"h", "x"}, {"y"})};
  d->micro_batch_size = 1;
  d->has_batch_axis = true;
  d->model_inputs = {"x"};
  d->model_outputs = {"y"};
  RequestExecutor executor(d, &runner);
  std::atomic<int> callbacks{0};
  absl::Notification done;
  absl::Status status;
  executor.Infer({{"x", Input(4)}}, absl::Now() + absl::Seconds(10), "req", [&](auto r) {
    ++callbacks;
    status = r.status();
    done.Notify();
  });
  done.WaitForNotification();
  absl::SleepFor(absl::Milliseconds(50));  // let the other micro-batches fail too
  EXPECT_EQ(callbacks.load(), 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("stage 2 of 2"), std::string::npos) << status;
}

TEST(RequestExecutorTest, NoReplicaIsUnavailable) {
  LocalPieceRunner runner;
  runner.weights = std::vector<double>{};
  auto d = std::make_shared<Deployment>();
  d->model_name = "m";
  d->stages = {Stage(Whole(), {"x"}, {"y"})};
  d->has_batch_axis = true;
  d->model_inputs = {"x"};
  d->model_outputs = {"y"};
  RequestExecutor executor(d, &runner);
  auto result = InferAndWait(executor, Input(3));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tessera::coordinator
