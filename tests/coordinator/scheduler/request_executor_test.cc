// RequestExecutor with a fake PieceRunner that runs each partition on a
// local engine: DATA shards sized by replica weights, pipeline micro-batches
// with a skip connection from the request to the last stage, results equal
// to the whole model, and failures reported once with the stage named.
// DIRECT forwarding: one chained piece per micro-batch with the route of the
// later stages, the same answers as RELAY, statistics from every hop, a
// failed chain replayed by RELAY (a request error returned as is).
#include "coordinator/scheduler/request_executor.h"

#include <map>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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

// Records each piece's call deadline and the absolute one in its request.
class DeadlineRecordingRunner : public LocalPieceRunner {
 public:
  void Run(const Deployment& deployment, int stage, int replica, std::shared_ptr<const worker::ExecuteRequest> request,
           absl::Time deadline, Done done) override {
    {
      absl::MutexLock lock(&deadlines_mu);
      deadlines.emplace_back(deadline, request->deadline_unix_us());
    }
    LocalPieceRunner::Run(deployment, stage, replica, std::move(request), deadline, std::move(done));
  }
  absl::Mutex deadlines_mu;
  std::vector<std::pair<absl::Time, int64_t>> deadlines ABSL_GUARDED_BY(deadlines_mu);
};

TEST(RequestExecutorTest, EveryPieceCarriesTheRequestsAbsoluteDeadline) {
  auto d = std::make_shared<Deployment>();
  d->model_name = "m";
  d->strategy = Strategy::kPipeline;
  d->stages = {Stage(Stage1(), {"x"}, {"h"}), Stage(Stage2(), {"h", "x"}, {"y"})};
  d->micro_batch_size = 2;
  d->has_batch_axis = true;
  d->model_inputs = {"x"};
  d->model_outputs = {"y"};
  for (const absl::Time deadline : {absl::Now() + absl::Seconds(10), absl::InfiniteFuture()}) {
    DeadlineRecordingRunner runner;
    RequestExecutor executor(d, &runner);
    absl::Notification done;
    absl::StatusOr<std::vector<NamedTensor>> result;
    executor.Infer({{"x", Input(3)}}, deadline, "req", [&](auto r) {
      result = std::move(r);
      done.Notify();
    });
    done.WaitForNotification();
    ASSERT_TRUE(result.ok()) << result.status();
    absl::MutexLock lock(&runner.deadlines_mu);
    ASSERT_EQ(runner.deadlines.size(), 4u);  // 2 micro-batches through 2 stages
    for (const auto& [call_deadline, unix_us] : runner.deadlines) {
      EXPECT_EQ(call_deadline, deadline);
      // None (0) when the request has no deadline.
      EXPECT_EQ(unix_us, deadline == absl::InfiniteFuture() ? 0 : absl::ToUnixMicros(deadline));
    }
  }
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

// LocalPieceRunner plus RunChain, which plays the workers of a DIRECT chain
// in-process: stage 0 runs on the request's inputs, each hop on the tensors
// its ForwardHop names (from the inputs, carried tensors and earlier
// outputs), the answer is return_names; one HopTiming per stage with boot id
// "w<stage>" and compute time 10 * (stage + 1) us. The first `fail_chains`
// chains fail with `chain_failure` instead.
class ChainingPieceRunner : public LocalPieceRunner {
 public:
  struct ChainCall {
    worker::ExecuteRequest request;
    absl::Time deadline;
  };

  void RunChain(const Deployment& deployment, std::shared_ptr<worker::ExecuteRequest> request, absl::Time deadline,
                Done done) override {
    absl::MutexLock lock(&chain_mu);
    chain_calls.push_back({*request, deadline});
    if (fail_chains > 0) {
      --fail_chains;
      return done(chain_failure);
    }
    if (ignore_route) {  // an older worker: stage 0's outputs, no hops
      worker::ExecuteResponse response;
      TensorToWire("h", Tensor::FromVector<float>({1, 3}, {0, 0, 0}), response.add_outputs());
      return done(std::move(response));
    }
    std::vector<const engine::Engine*> engines;
    for (const StagePartition& stage : deployment.stages) {
      if (!engines_.contains(stage.id)) {
        auto engine = engine::Engine::LoadFromBytes(*stage.onnx_bytes);
        if (!engine.ok()) return done(engine.status());
        engines_[stage.id] = *std::move(engine);
      }
      engines.push_back(engines_[stage.id].get());
    }
    threads_.emplace_back([engines, request, done] {
      std::map<std::string, Tensor> held;
      for (const auto* list : {&request->inputs(), &request->carried()}) {
        for (const worker::Tensor& wire : *list) held[wire.name()] = *TensorFromWire(wire);
      }
      worker::ExecuteResponse response;
      uint64_t downstream = 1000 * engines.size();
      for (size_t s = 0; s < engines.size(); ++s) {
        // Stage 0 gets exactly the request's inputs, later ones what their hop names.
        std::vector<engine::NamedTensor> inputs;
        if (s == 0) {
          for (const worker::Tensor& wire : request->inputs()) inputs.push_back({wire.name(), held[wire.name()]});
        } else {
          for (const std::string& name : request->forward(s - 1).input_names()) {
            if (!held.contains(name)) return done(absl::InvalidArgumentError("hop input missing: " + name));
            inputs.push_back({name, held[name]});
          }
        }
        absl::StatusOr<std::vector<Tensor>> out = engines[s]->Run(inputs);
        if (!out.ok()) return done(out.status());
        for (size_t i = 0; i < out->size(); ++i) held[engines[s]->outputs()[i].name] = (*out)[i];
        worker::HopTiming* hop = response.add_hops();
        hop->set_boot_id(absl::StrCat("w", s));
        hop->set_compute_time_us(10 * (s + 1));
        downstream -= 1000;
        hop->set_downstream_time_us(downstream);
      }
      for (const std::string& name : request->return_names()) TensorToWire(name, held[name], response.add_outputs());
      done(std::move(response));
    });
  }

  ~ChainingPieceRunner() override {
    for (size_t joined = 0;; ++joined) {
      std::thread t;
      {
        absl::MutexLock lock(&chain_mu);
        if (joined == threads_.size()) return;
        t = std::move(threads_[joined]);
      }
      t.join();
    }
  }

  absl::Mutex chain_mu;
  std::vector<ChainCall> chain_calls ABSL_GUARDED_BY(chain_mu);
  int fail_chains ABSL_GUARDED_BY(chain_mu) = 0;
  bool ignore_route = false;
  absl::Status chain_failure = absl::UnavailableError("forwarding to stage 1 at w1:1: connection refused");

 private:
  std::map<std::string, std::unique_ptr<engine::Engine>> engines_ ABSL_GUARDED_BY(chain_mu);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(chain_mu);
};

std::shared_ptr<Deployment> TwoStagePipeline(Forwarding forwarding, int64_t micro_batch_size) {
  auto d = std::make_shared<Deployment>();
  d->model_name = "m";
  d->strategy = Strategy::kPipeline;
  d->stages = {Stage(Stage1(), {"x"}, {"h"}), Stage(Stage2(), {"h", "x"}, {"y"})};
  d->micro_batch_size = micro_batch_size;
  d->has_batch_axis = true;
  d->model_inputs = {"x"};
  d->model_outputs = {"y"};
  d->forwarding = forwarding;
  return d;
}

std::vector<float> Values(const absl::StatusOr<std::vector<NamedTensor>>& result) {
  if (!result.ok() || result->empty()) return {};
  const auto v = (*result)[0].tensor.values<float>();
  return std::vector<float>(v.begin(), v.end());
}

TEST(RequestExecutorTest, DirectSendsOneChainedPiecePerMicroBatchAndAnswersAsRelay) {
  const Tensor x = Input(5);
  ChainingPieceRunner relay_runner;
  RequestExecutor relay(TwoStagePipeline(Forwarding::kRelay, 2), &relay_runner);
  auto relayed = InferAndWait(relay, x);
  ASSERT_TRUE(relayed.ok()) << relayed.status();
  {
    absl::MutexLock lock(&relay_runner.chain_mu);
    EXPECT_TRUE(relay_runner.chain_calls.empty());
  }

  ChainingPieceRunner runner;
  RequestExecutor direct(TwoStagePipeline(Forwarding::kDirect, 2), &runner);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::Notification done;
  absl::StatusOr<std::vector<NamedTensor>> result;
  direct.Infer({{"x", x}}, deadline, "req", [&](auto r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)[0].tensor.shape(), (Shape{5, 3}));
  EXPECT_EQ(Values(result), Values(relayed));
  EXPECT_EQ(Values(result), Expected(x));
  {
    absl::MutexLock lock(&runner.mu);
    EXPECT_TRUE(runner.calls.empty());  // nothing relayed
  }
  absl::MutexLock lock(&runner.chain_mu);
  // 3 micro-batches (2, 2, 1 rows), one chained piece each.
  ASSERT_EQ(runner.chain_calls.size(), 3u);
  std::set<uint64_t> piece_ids;
  for (const auto& call : runner.chain_calls) {
    const worker::ExecuteRequest& r = call.request;
    EXPECT_EQ(call.deadline, deadline);
    EXPECT_EQ(r.deadline_unix_us(), absl::ToUnixMicros(deadline));  // absolute, for a worker that reads it late
    EXPECT_EQ(r.request_id(), "req");
    EXPECT_EQ(r.partition_id(), Sha256Hex(Stage1()));
    piece_ids.insert(r.piece_id());
    ASSERT_EQ(r.inputs_size(), 1);
    EXPECT_EQ(r.inputs(0).name(), "x");  // the worker keeps it for stage 2 (skip connection)
    EXPECT_EQ(r.carried_size(), 0);
    ASSERT_EQ(r.output_names_size(), 1);
    EXPECT_EQ(r.output_names(0), "h");
    ASSERT_EQ(r.forward_size(), 1);
    EXPECT_EQ(r.forward(0).partition_id(), Sha256Hex(Stage2()));
    EXPECT_EQ(r.forward(0).stage(), 1u);
    EXPECT_EQ(r.forward(0).piece_id(), r.piece_id() | 1);
    EXPECT_EQ(std::vector<std::string>(r.forward(0).input_names().begin(), r.forward(0).input_names().end()),
              (std::vector<std::string>{"h", "x"}));
    ASSERT_EQ(r.return_names_size(), 1);
    EXPECT_EQ(r.return_names(0), "y");
  }
  EXPECT_EQ(piece_ids.size(), 3u);
}

TEST(RequestExecutorTest, DirectStatisticsComeFromEveryHop) {
  ChainingPieceRunner runner;
  auto stats = std::make_shared<StageStatisticsRecorder>(2);
  RequestExecutor executor(TwoStagePipeline(Forwarding::kDirect, 2), &runner, nullptr, stats);
  ASSERT_TRUE(InferAndWait(executor, Input(7)).ok());
  const std::vector<StageStatisticsRecorder::Stage> stages = stats->Snapshot();
  ASSERT_EQ(stages.size(), 2u);
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_EQ(stages[s].pieces, 4u) << s;
    EXPECT_EQ(stages[s].compute_ns, 4 * 10 * (s + 1) * 1000) << s;
    EXPECT_EQ(stages[s].workers, 1u) << s;  // one boot id per stage
  }
  // Stage 2's share of the round trip is its caller's downstream time (1 ms).
  EXPECT_EQ(stages[1].dispatch_ns, 4 * 1000 * 1000u);
}

TEST(RequestExecutorTest, FailedChainIsReplayedByRelayFromTheFirstStage) {
  ChainingPieceRunner runner;
  {
    absl::MutexLock lock(&runner.chain_mu);
    runner.fail_chains = 1;
  }
  RequestExecutor executor(TwoStagePipeline(Forwarding::kDirect, 0), &runner);
  const Tensor x = Input(4);
  auto result = InferAndWait(executor, x);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Values(result), Expected(x));
  absl::MutexLock lock(&runner.mu);
  ASSERT_EQ(runner.calls.size(), 2u);  // both stages, relayed
  EXPECT_EQ(runner.calls[0].stage, 0);
  EXPECT_EQ(runner.calls[1].stage, 1);
}

TEST(RequestExecutorTest, WorkerThatIgnoresTheRouteIsRelayedInstead) {
  ChainingPieceRunner runner;
  runner.ignore_route = true;
  RequestExecutor executor(TwoStagePipeline(Forwarding::kDirect, 0), &runner);
  const Tensor x = Input(3);
  auto result = InferAndWait(executor, x);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Values(result), Expected(x));
  absl::MutexLock lock(&runner.mu);
  EXPECT_EQ(runner.calls.size(), 2u);
}

TEST(RequestExecutorTest, ChainRequestErrorIsReturnedNotReplayed) {
  ChainingPieceRunner runner;
  {
    absl::MutexLock lock(&runner.chain_mu);
    runner.fail_chains = 1;
  }
  runner.chain_failure = absl::InvalidArgumentError("forwarding to stage 1 at w1:1: bad tensor");
  RequestExecutor executor(TwoStagePipeline(Forwarding::kDirect, 0), &runner);
  auto result = InferAndWait(executor, Input(4));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("forwarding to stage 1 at w1:1"), std::string::npos) << result.status();
  absl::MutexLock lock(&runner.mu);
  EXPECT_TRUE(runner.calls.empty());
}

TEST(RequestExecutorTest, DirectDoesNotApplyToOneStage) {
  ChainingPieceRunner runner;
  auto d = std::make_shared<Deployment>();
  d->model_name = "m";
  d->strategy = Strategy::kPipeline;
  d->stages = {Stage(Whole(), {"x"}, {"y"})};
  d->has_batch_axis = true;
  d->model_inputs = {"x"};
  d->model_outputs = {"y"};
  d->forwarding = Forwarding::kDirect;
  RequestExecutor executor(d, &runner);
  ASSERT_TRUE(InferAndWait(executor, Input(3)).ok());
  absl::MutexLock lock(&runner.chain_mu);
  EXPECT_TRUE(runner.chain_calls.empty());
}

TEST(RequestExecutorTest, ForwardingNamesParse) {
  EXPECT_EQ(*ParseForwarding("relay"), Forwarding::kRelay);
  EXPECT_EQ(*ParseForwarding("DIRECT"), Forwarding::kDirect);
  EXPECT_EQ(ParseForwarding("sideways").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ParseForwarding("sideways").status().message().find("'sideways'"), std::string::npos);
  EXPECT_STREQ(ForwardingName(Forwarding::kDirect), "DIRECT");
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
