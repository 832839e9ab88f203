// DynamicBatcher with a fake executor: when batches go (max_batch_size,
// preferred sizes, the delay), what may be merged, outputs cut back to each
// requester, the queue bound, deadlines, failures, ordering and shutdown.
#include "coordinator/scheduler/dynamic_batcher.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

// Runs batches: y = 2 * x + 1 on input "x" (FP32), answered at once on the
// calling thread, or held until Answer() when `hold` is set; or failed with
// `failure`.
class FakeExecutor {
 public:
  struct Call {
    std::vector<NamedTensor> inputs;
    absl::Time deadline;
    std::string request_id;
    std::function<void(DynamicBatcher::Outputs)> done;
  };

  DynamicBatcher::Execute AsExecute() {
    return [this](std::vector<NamedTensor> inputs, absl::Time deadline, const std::string& request_id,
                  std::function<void(DynamicBatcher::Outputs)> done) {
      std::function<void(DynamicBatcher::Outputs)> answer_now;
      {
        absl::MutexLock lock(&mu);
        calls.push_back({inputs, deadline, request_id, hold ? done : nullptr});
        if (!hold) answer_now = done;
      }
      if (answer_now) answer_now(Compute(inputs));
    };
  }

  DynamicBatcher::Outputs Compute(const std::vector<NamedTensor>& inputs) const {
    if (!failure.ok()) return failure;
    const Tensor& x = inputs[0].tensor;
    Tensor y = Tensor::Allocate(DataType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.num_elements(); ++i) y.data<float>()[i] = 2 * x.data<float>()[i] + 1;
    return std::vector<NamedTensor>{{"y", y}};
  }

  // Answers held call `i`.
  void Answer(size_t i) {
    std::function<void(DynamicBatcher::Outputs)> done;
    std::vector<NamedTensor> inputs;
    {
      absl::MutexLock lock(&mu);
      done = std::move(calls[i].done);
      inputs = calls[i].inputs;
    }
    done(Compute(inputs));
  }

  std::vector<int64_t> BatchRows() {
    absl::MutexLock lock(&mu);
    std::vector<int64_t> rows;
    for (const Call& c : calls) rows.push_back(c.inputs[0].tensor.dim(0));
    return rows;
  }

  size_t CallCount() {
    absl::MutexLock lock(&mu);
    return calls.size();
  }

  bool hold = false;
  absl::Status failure;
  absl::Mutex mu;
  std::vector<Call> calls ABSL_GUARDED_BY(mu);
};

// One request's answer.
struct Answer {
  absl::Notification done;
  DynamicBatcher::Result result;
  absl::Time at;
};

// A [rows, cols] FP32 input whose element (r, c) is base + r * cols + c.
std::vector<NamedTensor> Input(int64_t rows, int64_t cols, float base) {
  Tensor x = Tensor::Allocate(DataType::kFloat32, {rows, cols});
  for (int64_t i = 0; i < rows * cols; ++i) x.data<float>()[i] = base + static_cast<float>(i);
  return {{"x", x}};
}

std::shared_ptr<Answer> Submit(DynamicBatcher& batcher, std::vector<NamedTensor> inputs,
                               absl::Time deadline = absl::Now() + absl::Seconds(30), const std::string& id = "r") {
  auto answer = std::make_shared<Answer>();
  batcher.Enqueue(std::move(inputs), deadline, id, [answer](DynamicBatcher::Result result) {
    answer->result = std::move(result);
    answer->at = absl::Now();
    answer->done.Notify();
  });
  return answer;
}

// The answer is 2 * input + 1, of the same shape.
void ExpectAnswerFor(const Answer& answer, int64_t rows, int64_t cols, float base) {
  ASSERT_TRUE(answer.result.outputs.ok()) << answer.result.outputs.status();
  ASSERT_EQ(answer.result.outputs->size(), 1u);
  const NamedTensor& y = (*answer.result.outputs)[0];
  EXPECT_EQ(y.name, "y");
  ASSERT_EQ(y.tensor.shape(), (Shape{rows, cols}));
  for (int64_t i = 0; i < rows * cols; ++i) {
    ASSERT_EQ(y.tensor.data<float>()[i], 2 * (base + static_cast<float>(i)) + 1) << "element " << i;
  }
}

DynamicBatcherOptions Options(int64_t max_batch_size, absl::Duration delay, std::vector<int64_t> preferred = {}) {
  DynamicBatcherOptions options;
  options.model_name = "m";
  options.model_version = "1";
  options.max_batch_size = max_batch_size;
  options.max_queue_delay = delay;
  options.preferred_batch_sizes = std::move(preferred);
  return options;
}

TEST(DynamicBatcherTest, MergesUpToMaxBatchSizeAndSplitsTheOutputsBack) {
  FakeExecutor executor;
  std::vector<DynamicBatcher::Execution> executions;
  absl::Mutex mu;
  DynamicBatcher batcher(Options(6, absl::Seconds(2)), executor.AsExecute(),
                         [&](const DynamicBatcher::Execution& e) {
                           absl::MutexLock lock(&mu);
                           executions.push_back(e);
                         });
  const absl::Time start = absl::Now();
  // 1 + 2 + 3 rows fill a batch of 6 at once; 2 + 1 more wait for the delay.
  const std::vector<int64_t> rows = {1, 2, 3, 2, 1};
  std::vector<std::shared_ptr<Answer>> answers;
  for (size_t i = 0; i < rows.size(); ++i) answers.push_back(Submit(batcher, Input(rows[i], 3, 100.0f * i)));
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(answers[i]->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_LT(answers[i]->at - start, absl::Milliseconds(1500)) << "a full batch must not wait for the delay";
    EXPECT_TRUE(answers[i]->result.executed);
  }
  for (size_t i = 3; i < rows.size(); ++i) {
    ASSERT_TRUE(answers[i]->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_GE(answers[i]->at - start, absl::Seconds(2));
    EXPECT_GE(answers[i]->result.queue, absl::Milliseconds(1990));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    ExpectAnswerFor(*answers[i], rows[i], 3, 100.0f * i);
  }
  EXPECT_EQ(executor.BatchRows(), (std::vector<int64_t>{6, 3}));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(executions.size(), 2u);
  EXPECT_EQ(executions[0].rows, 6);
  EXPECT_EQ(executions[0].requests, 3);
  EXPECT_EQ(executions[1].rows, 3);
  EXPECT_EQ(executions[1].requests, 2);
  EXPECT_TRUE(executions[1].status.ok());
}

TEST(DynamicBatcherTest, PreferredSizeGoesWithoutWaitingTheDelay) {
  FakeExecutor executor;
  DynamicBatcher batcher(Options(16, absl::Seconds(10), {2, 4}), executor.AsExecute());
  const absl::Time start = absl::Now();
  std::vector<std::shared_ptr<Answer>> answers;
  for (int i = 0; i < 4; ++i) answers.push_back(Submit(batcher, Input(1, 2, 10.0f * i)));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(answers[i]->done.WaitForNotificationWithTimeout(absl::Seconds(5)))
        << "a preferred size waited for the 10 s delay";
    ExpectAnswerFor(*answers[i], 1, 2, 10.0f * i);
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // Batches of 2 or 4 (depending on how fast the requests came), 4 rows in all.
  int64_t total = 0;
  for (int64_t rows : executor.BatchRows()) {
    EXPECT_TRUE(rows == 2 || rows == 4) << rows;
    total += rows;
  }
  EXPECT_EQ(total, 4);
  // The largest preferred size that can be formed: 3 + 1 rows make 4.
  FakeExecutor second;
  DynamicBatcher exact(Options(16, absl::Seconds(10), {4, 8}), second.AsExecute());
  auto a = Submit(exact, Input(3, 2, 0));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(a->done.HasBeenNotified()) << "3 rows is no preferred size";
  auto b = Submit(exact, Input(1, 2, 7));
  ASSERT_TRUE(a->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_TRUE(b->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ExpectAnswerFor(*a, 3, 2, 0);
  ExpectAnswerFor(*b, 1, 2, 7);
  EXPECT_EQ(second.BatchRows(), (std::vector<int64_t>{4}));
}

TEST(DynamicBatcherTest, LoneRequestGoesAfterTheDelay) {
  FakeExecutor executor;
  DynamicBatcher batcher(Options(8, absl::Milliseconds(500), {4}), executor.AsExecute());
  const absl::Time start = absl::Now();
  auto answer = Submit(batcher, Input(1, 2, 5));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(executor.CallCount(), 0u) << "sent before the delay";
  ASSERT_TRUE(answer->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_GE(answer->at - start, absl::Milliseconds(500));
  EXPECT_GE(answer->result.queue, absl::Milliseconds(490));
  ExpectAnswerFor(*answer, 1, 2, 5);
  EXPECT_EQ(executor.BatchRows(), (std::vector<int64_t>{1}));
}

TEST(DynamicBatcherTest, IncompatibleRequestsAreNotMerged) {
  FakeExecutor executor;
  DynamicBatcher batcher(Options(8, absl::Milliseconds(200)), executor.AsExecute());
  // Different inner dims, then a different element type, then a different
  // input name.
  auto a = Submit(batcher, Input(1, 2, 0));
  auto b = Submit(batcher, Input(1, 3, 0));
  std::vector<NamedTensor> ints = {{"x", Tensor::FromVector<int64_t>({1, 2}, {1, 2})}};
  auto c = Submit(batcher, ints);
  std::vector<NamedTensor> renamed = Input(1, 2, 0);
  renamed[0].name = "z";
  auto d = Submit(batcher, renamed);
  auto e = Submit(batcher, Input(2, 2, 9));
  for (const auto& answer : {a, b, c, d, e}) {
    ASSERT_TRUE(answer->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  }
  ExpectAnswerFor(*a, 1, 2, 0);
  ExpectAnswerFor(*b, 1, 3, 0);
  ExpectAnswerFor(*e, 2, 2, 9);
  absl::MutexLock lock(&executor.mu);
  ASSERT_EQ(executor.calls.size(), 5u) << "incompatible requests were merged";
  for (const FakeExecutor::Call& call : executor.calls) {
    ASSERT_EQ(call.inputs.size(), 1u);
  }
  EXPECT_EQ(executor.calls[1].inputs[0].tensor.shape(), (Shape{1, 3}));
  EXPECT_EQ(executor.calls[2].inputs[0].tensor.dtype(), DataType::kInt64);
  EXPECT_EQ(executor.calls[3].inputs[0].name, "z");
}

TEST(DynamicBatcherTest, RequestIsNeverSplitAcrossBatches) {
  FakeExecutor executor;
  DynamicBatcher batcher(Options(4, absl::Seconds(1)), executor.AsExecute());
  auto a = Submit(batcher, Input(3, 1, 0));
  auto b = Submit(batcher, Input(2, 1, 50));  // does not fit beside a: a goes alone
  auto c = Submit(batcher, Input(2, 1, 80));
  for (const auto& answer : {a, b, c}) ASSERT_TRUE(answer->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ExpectAnswerFor(*a, 3, 1, 0);
  ExpectAnswerFor(*b, 2, 1, 50);
  ExpectAnswerFor(*c, 2, 1, 80);
  EXPECT_EQ(executor.BatchRows(), (std::vector<int64_t>{3, 4}));
}

TEST(DynamicBatcherTest, FullQueueIsResourceExhaustedAtOnce) {
  FakeExecutor executor;
  DynamicBatcherOptions options = Options(8, absl::Seconds(10));
  options.model_name = "queued_model";
  options.max_queue_size = 2;
  auto batcher = std::make_unique<DynamicBatcher>(options, executor.AsExecute());
  auto a = Submit(*batcher, Input(1, 1, 0));
  auto b = Submit(*batcher, Input(1, 1, 0));
  auto c = Submit(*batcher, Input(1, 1, 0));
  ASSERT_TRUE(c->done.HasBeenNotified()) << "refused at once";
  EXPECT_EQ(c->result.outputs.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(c->result.outputs.status().message());
  EXPECT_NE(message.find("queued_model"), std::string::npos) << message;
  EXPECT_NE(message.find("max_queue_size is 2"), std::string::npos) << message;
  EXPECT_FALSE(a->done.HasBeenNotified());
  EXPECT_EQ(batcher->QueuedForTest(), 2);
  batcher.reset();
}

TEST(DynamicBatcherTest, DeadlinePassingInTheQueueIsDeadlineExceededAndNotRun) {
  FakeExecutor executor;
  DynamicBatcher batcher(Options(8, absl::Seconds(10)), executor.AsExecute());
  const absl::Time start = absl::Now();
  auto answer = Submit(batcher, Input(1, 1, 0), start + absl::Milliseconds(100));
  ASSERT_TRUE(answer->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(answer->result.outputs.status().code(), absl::StatusCode::kDeadlineExceeded)
      << answer->result.outputs.status();
  EXPECT_GE(answer->at - start, absl::Milliseconds(100));
  EXPECT_LT(answer->at - start, absl::Seconds(5));
  EXPECT_FALSE(answer->result.executed);
  EXPECT_EQ(executor.CallCount(), 0u);
}

TEST(DynamicBatcherTest, ExecutorFailureReachesEveryMember) {
  FakeExecutor executor;
  executor.failure = absl::UnavailableError("stage 1 of 2: worker 10.0.0.1:1 is gone");
  int failed_executions = 0;
  DynamicBatcher batcher(Options(3, absl::Seconds(10)), executor.AsExecute(),
                         [&](const DynamicBatcher::Execution& e) { failed_executions += !e.status.ok(); });
  std::vector<std::shared_ptr<Answer>> answers;
  for (int i = 0; i < 3; ++i) answers.push_back(Submit(batcher, Input(1, 1, 0)));
  for (const auto& answer : answers) {
    ASSERT_TRUE(answer->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
    EXPECT_EQ(answer->result.outputs.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(answer->result.outputs.status().message().find("worker 10.0.0.1:1"), std::string::npos);
  }
  EXPECT_EQ(executor.CallCount(), 1u);
  EXPECT_EQ(failed_executions, 1);
}

TEST(DynamicBatcherTest, OutputsThatCannotBeSplitFailEveryMember) {
  FakeExecutor executor;
  DynamicBatcher::Execute bad = [](std::vector<NamedTensor>, absl::Time, const std::string&,
                                   std::function<void(DynamicBatcher::Outputs)> done) {
    done(std::vector<NamedTensor>{{"y", Tensor::FromVector<float>({1}, {0})}});  // 1 row for a batch of 2
  };
  DynamicBatcher batcher(Options(2, absl::Seconds(10)), bad);
  auto a = Submit(batcher, Input(1, 1, 0));
  auto b = Submit(batcher, Input(1, 1, 0));
  for (const auto& answer : {a, b}) {
    ASSERT_TRUE(answer->done.WaitForNotificationWithTimeout(absl::Seconds(5)));
    EXPECT_EQ(answer->result.outputs.status().code(), absl::StatusCode::kInternal);
    EXPECT_NE(answer->result.outputs.status().message().find("output 'y'"), std::string::npos);
  }
}

TEST(DynamicBatcherTest, BadRequestsAreRefused) {
  FakeExecutor executor;
  DynamicBatcher batcher(Options(4, absl::Seconds(10)), executor.AsExecute());
  auto too_big = Submit(batcher, Input(5, 1, 0));
  EXPECT_EQ(too_big->result.outputs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_big->result.outputs.status().message().find("1..4"), std::string::npos);
  std::vector<NamedTensor> disagree = Input(2, 1, 0);
  disagree.push_back({"w", Tensor::Zeros(DataType::kFloat32, {3, 1})});
  auto mismatch = Submit(batcher, disagree);
  EXPECT_EQ(mismatch->result.outputs.status().code(), absl::StatusCode::kInvalidArgument);
  auto scalar = Submit(batcher, {{"x", Tensor::Scalar<float>(1)}});
  EXPECT_EQ(scalar->result.outputs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(batcher.QueuedForTest(), 0);
}

TEST(DynamicBatcherTest, PreserveOrderingAnswersInArrivalOrder) {
  FakeExecutor executor;
  executor.hold = true;
  DynamicBatcherOptions options = Options(1, absl::ZeroDuration());
  options.preserve_ordering = true;
  DynamicBatcher batcher(options, executor.AsExecute());
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification all;
  for (int i = 0; i < 3; ++i) {
    batcher.Enqueue(Input(1, 1, static_cast<float>(i)), absl::Now() + absl::Seconds(30), "r",
                    [&, i](DynamicBatcher::Result result) {
                      EXPECT_TRUE(result.outputs.ok());
                      absl::MutexLock lock(&mu);
                      order.push_back(i);
                      if (order.size() == 3) all.Notify();
                    });
  }
  const absl::Time limit = absl::Now() + absl::Seconds(5);
  while (executor.CallCount() < 3 && absl::Now() < limit) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(executor.CallCount(), 3u);
  executor.Answer(2);
  executor.Answer(1);
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(order.empty()) << "answered before an earlier request";
  }
  executor.Answer(0);
  ASSERT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(DynamicBatcherTest, WithoutPreserveOrderingAnswersAsBatchesFinish) {
  FakeExecutor executor;
  executor.hold = true;
  DynamicBatcher batcher(Options(1, absl::ZeroDuration()), executor.AsExecute());
  auto a = Submit(batcher, Input(1, 1, 0));
  auto b = Submit(batcher, Input(1, 1, 1));
  const absl::Time limit = absl::Now() + absl::Seconds(5);
  while (executor.CallCount() < 2 && absl::Now() < limit) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(executor.CallCount(), 2u);
  executor.Answer(1);
  EXPECT_TRUE(b->done.HasBeenNotified());
  EXPECT_FALSE(a->done.HasBeenNotified());
  executor.Answer(0);
  EXPECT_TRUE(a->done.HasBeenNotified());
}

TEST(DynamicBatcherTest, DestructorFailsQueuedRequests) {
  FakeExecutor executor;
  auto batcher = std::make_unique<DynamicBatcher>(Options(8, absl::Seconds(10)), executor.AsExecute());
  auto a = Submit(*batcher, Input(1, 1, 0));
  auto b = Submit(*batcher, Input(2, 1, 0));
  const absl::Time start = absl::Now();
  batcher.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "shutdown waited for the delay";
  for (const auto& answer : {a, b}) {
    ASSERT_TRUE(answer->done.HasBeenNotified());
    EXPECT_EQ(answer->result.outputs.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(answer->result.outputs.status().message().find("'m'"), std::string::npos);
  }
  EXPECT_EQ(executor.CallCount(), 0u);
}

TEST(DynamicBatcherTest, OptionsFromConfig) {
  inference::ModelDynamicBatching config;
  config.add_preferred_batch_size(16);
  config.add_preferred_batch_size(8);
  config.set_max_queue_delay_microseconds(500);
  config.set_preserve_ordering(true);
  config.mutable_default_queue_policy()->set_max_queue_size(7);
  DynamicBatcherOptions options = DynamicBatcherOptions::FromConfig("m", "3", 16, config);
  EXPECT_EQ(options.max_batch_size, 16);
  EXPECT_EQ(options.preferred_batch_sizes, (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(options.max_queue_delay, absl::Microseconds(500));
  EXPECT_EQ(options.max_queue_size, 7u);
  EXPECT_TRUE(options.preserve_ordering);
  EXPECT_EQ(options.model_version, "3");
}

}  // namespace
}  // namespace tessera::coordinator
