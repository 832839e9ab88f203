#include "client/load_generator.h"

#include <atomic>
#include <chrono>
#include <vector>

#include "client/latency_stats.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/delayed_completer.h"

namespace tessera::client {
namespace {

using test_support::DelayedCompleter;
using ::testing::HasSubstr;

constexpr auto kDelay = std::chrono::milliseconds(10);

// A fake server: every request answers after kDelay.
struct FakeServer {
  DelayedCompleter completer{kDelay};
  std::atomic<int64_t> started{0};
  int fail_every = 0;  // every k-th request fails (0: none)

  StartRequestFn Fn() {
    return [this](RequestDone done) {
      const int64_t n = ++started;
      const bool fail = fail_every > 0 && n % fail_every == 0;
      completer.Schedule([done = std::move(done), fail] {
        done(fail ? absl::UnavailableError("boom from the fake") : absl::OkStatus());
      });
    };
  }
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

TEST(LoadGeneratorTest, ClosedLoopKeepsExactlyNOutstanding) {
  FakeServer server;
  LoadStepOptions options;
  options.concurrency = 4;
  options.warmup = absl::Milliseconds(100);
  options.duration = absl::Milliseconds(500);
  int window_calls = 0;
  options.on_window_start = [&] { ++window_calls; };
  options.on_window_end = [&] { window_calls += 10; };
  LoadStepResult result;
  const auto begin = std::chrono::steady_clock::now();
  ASSERT_TRUE(RunLoadStep(server.Fn(), options, &result).ok());
  const double elapsed = Seconds(begin);

  EXPECT_EQ(window_calls, 11);
  EXPECT_EQ(result.max_in_flight, 4);
  EXPECT_EQ(server.completer.max_held(), 4);
  // Little's law: the time requests spent outstanding over the window is
  // the mean number outstanding, which the loop keeps at 4 by refilling as
  // soon as one completes (requests straddling the window's ends shift it by
  // at most 4 x 10 ms either way).
  double outstanding_ms = 0;
  for (double ms : result.latencies_ms) outstanding_ms += ms;
  const double mean_outstanding = outstanding_ms / 1000.0 / result.window_seconds;
  EXPECT_GT(mean_outstanding, 3.4);
  EXPECT_LT(mean_outstanding, 4.4);
  // 500 ms at 4 outstanding with 10 ms each: at most 4 * 50 + 4 completions.
  EXPECT_LE(result.completed, 204);
  EXPECT_GE(result.completed, 100);
  EXPECT_EQ(result.errors, 0);
  EXPECT_EQ(result.first_error, "");
  ASSERT_EQ(static_cast<int64_t>(result.latencies_ms.size()), result.completed);
  const LatencyStats stats = SummarizeLatencies(result.latencies_ms);
  EXPECT_GE(stats.min, 10.0);
  EXPECT_NEAR(result.window_seconds, 0.5, 0.1);
  // Warm-up + window + the drain of at most one delay, plus scheduling slack.
  EXPECT_GE(elapsed, 0.6);
  EXPECT_LT(elapsed, 2.0);
}

TEST(LoadGeneratorTest, ClosedLoopCountsErrorsAndKeepsTheFirstMessage) {
  FakeServer server;
  server.fail_every = 3;
  LoadStepOptions options;
  options.concurrency = 2;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Milliseconds(300);
  LoadStepResult result;
  ASSERT_TRUE(RunLoadStep(server.Fn(), options, &result).ok());
  EXPECT_EQ(result.errors, server.started.load() / 3);
  EXPECT_GT(result.errors, 5);
  EXPECT_THAT(result.first_error, HasSubstr("boom from the fake"));
  EXPECT_THAT(result.first_error, HasSubstr("UNAVAILABLE"));
  // Successes only; the window counts roughly 2/3 of what was sent.
  EXPECT_GT(result.completed, 0);
  EXPECT_LT(result.completed, server.started.load() - result.errors + 1);
}

TEST(LoadGeneratorTest, RequestsThatCompleteInlineDoNotDeadlock) {
  std::atomic<int64_t> calls{0};
  StartRequestFn fail_inline = [&calls](RequestDone done) {
    ++calls;
    done(absl::InternalError("refused at once"));
  };
  LoadStepOptions options;
  options.concurrency = 3;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Milliseconds(50);
  LoadStepResult result;
  ASSERT_TRUE(RunLoadStep(fail_inline, options, &result).ok());
  EXPECT_EQ(result.errors, calls.load());
  EXPECT_GT(result.errors, 0);
  EXPECT_EQ(result.completed, 0);
  EXPECT_THAT(result.first_error, HasSubstr("refused at once"));
}

TEST(LoadGeneratorTest, OpenLoopSendsAtTheConstantRate) {
  FakeServer server;
  LoadStepOptions options;
  options.rate = 200;
  options.warmup = absl::Milliseconds(100);
  options.duration = absl::Milliseconds(500);
  LoadStepResult result;
  ASSERT_TRUE(RunLoadStep(server.Fn(), options, &result).ok());
  EXPECT_GE(result.sent, 90);
  EXPECT_LE(result.sent, 110);
  EXPECT_GE(result.completed, 85);
  EXPECT_LE(result.completed, 110);
  EXPECT_EQ(result.delayed, 0);
  // 200/s with 10 ms answers: about 2 in flight, never many.
  EXPECT_LE(result.max_in_flight, 10);
}

TEST(LoadGeneratorTest, OpenLoopPoissonAveragesTheRate) {
  FakeServer server;
  LoadStepOptions options;
  options.rate = 400;
  options.distribution = RequestDistribution::kPoisson;
  options.seed = 7;
  options.warmup = absl::ZeroDuration();
  options.duration = absl::Milliseconds(500);
  LoadStepResult result;
  ASSERT_TRUE(RunLoadStep(server.Fn(), options, &result).ok());
  // Expected 200 sent; Poisson's standard deviation is ~14.
  EXPECT_GE(result.sent, 120);
  EXPECT_LE(result.sent, 280);
}

TEST(LoadGeneratorTest, OpenLoopNeverExceedsMaxOutstandingAndCountsDelayed) {
  DelayedCompleter slow(std::chrono::milliseconds(100));
  StartRequestFn fn = [&slow](RequestDone done) {
    slow.Schedule([done = std::move(done)] { done(absl::OkStatus()); });
  };
  LoadStepOptions options;
  options.rate = 1000;
  options.max_outstanding = 5;
  options.warmup = absl::Milliseconds(50);
  options.duration = absl::Milliseconds(400);
  LoadStepResult result;
  ASSERT_TRUE(RunLoadStep(fn, options, &result).ok());
  EXPECT_EQ(result.max_in_flight, 5);
  EXPECT_EQ(slow.max_held(), 5);
  // 400 ms at 1000/s is ~400 due; 5 per 100 ms can go, the rest are delayed.
  EXPECT_LE(result.sent, 30);
  EXPECT_GE(result.delayed, 300);
  EXPECT_LE(result.sent + result.delayed, 440);
}

TEST(LoadGeneratorTest, RefusesOptionsWithoutExactlyOneMode) {
  StartRequestFn fn = [](RequestDone done) { done(absl::OkStatus()); };
  LoadStepResult result;
  LoadStepOptions neither;
  EXPECT_EQ(RunLoadStep(fn, neither, &result).code(), absl::StatusCode::kInvalidArgument);
  LoadStepOptions both;
  both.concurrency = 1;
  both.rate = 10;
  EXPECT_EQ(RunLoadStep(fn, both, &result).code(), absl::StatusCode::kInvalidArgument);
  LoadStepOptions no_duration;
  no_duration.concurrency = 1;
  no_duration.duration = absl::ZeroDuration();
  EXPECT_EQ(RunLoadStep(fn, no_duration, &result).code(), absl::StatusCode::kInvalidArgument);
  LoadStepOptions no_room;
  no_room.rate = 10;
  no_room.max_outstanding = 0;
  EXPECT_EQ(RunLoadStep(fn, no_room, &result).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::client
