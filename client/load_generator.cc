#include "client/load_generator.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace tessera::client {
namespace {

using Clock = std::chrono::steady_clock;

// Shared by the driver, the caller and every completion callback; the
// callbacks hold it by shared_ptr so that a late unlock never touches freed
// memory.
struct StepState {
  absl::Mutex mu;
  int64_t in_flight ABSL_GUARDED_BY(mu) = 0;
  bool measuring ABSL_GUARDED_BY(mu) = false;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  LoadStepResult result ABSL_GUARDED_BY(mu);
};

// Counts a request as started (the caller holds mu).
void NoteStarted(StepState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state.mu) {
  ++state.in_flight;
  state.result.max_in_flight = std::max(state.result.max_in_flight, state.in_flight);
  if (state.measuring) ++state.result.sent;
}

// Starts one request already counted by NoteStarted (without holding mu:
// `done` may run inline).
void Issue(const std::shared_ptr<StepState>& state, const StartRequestFn& start) {
  const Clock::time_point sent_at = Clock::now();
  start([state, sent_at](absl::Status status) {
    const Clock::time_point now = Clock::now();
    absl::MutexLock lock(&state->mu);
    --state->in_flight;
    if (!status.ok()) {
      if (state->result.errors++ == 0) state->result.first_error = status.ToString();
    } else if (state->measuring) {
      ++state->result.completed;
      state->result.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - sent_at).count());
    }
  });
}

void ClosedLoop(const std::shared_ptr<StepState>& state, const StartRequestFn& start, int64_t concurrency) {
  StepState& s = *state;
  while (true) {
    {
      absl::MutexLock lock(&s.mu);
      auto ready = [&s, concurrency]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) { return s.stopping || s.in_flight < concurrency; };
      s.mu.Await(absl::Condition(&ready));
      if (s.stopping) return;
      NoteStarted(s);
    }
    Issue(state, start);
  }
}

void OpenLoop(const std::shared_ptr<StepState>& state, const StartRequestFn& start, const LoadStepOptions& options) {
  StepState& s = *state;
  std::mt19937_64 rng(options.seed);
  std::exponential_distribution<double> poisson_gap(options.rate);
  const double constant_gap = 1.0 / options.rate;
  Clock::time_point next = Clock::now();
  while (true) {
    bool send = false;
    {
      absl::MutexLock lock(&s.mu);
      const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(next - Clock::now());
      if (wait.count() > 0) {
        s.mu.AwaitWithTimeout(absl::Condition(&s.stopping), absl::FromChrono(wait));
      }
      if (s.stopping) return;
      if (s.in_flight >= options.max_outstanding) {
        if (s.measuring) ++s.result.delayed;
      } else {
        NoteStarted(s);
        send = true;
      }
    }
    if (send) Issue(state, start);
    const double gap = options.distribution == RequestDistribution::kPoisson ? poisson_gap(rng) : constant_gap;
    next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap));
  }
}

}  // namespace

absl::Status RunLoadStep(const StartRequestFn& start, const LoadStepOptions& options, LoadStepResult* result) {
  const bool closed = options.concurrency > 0;
  const bool open = options.rate > 0;
  if (closed == open) {
    return absl::InvalidArgumentError("a load step needs exactly one of a concurrency > 0 or a request rate > 0");
  }
  if (options.concurrency < 0 || options.rate < 0) {
    return absl::InvalidArgumentError("concurrency and request rate must not be negative");
  }
  if (open && options.max_outstanding < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max outstanding must be >= 1, got ", options.max_outstanding));
  }
  if (options.duration <= absl::ZeroDuration() || options.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("a load step needs a positive duration and a non-negative warm-up");
  }

  auto state = std::make_shared<StepState>();
  const Clock::time_point begin = Clock::now();
  std::thread driver([&state, &start, &options, closed] {
    if (closed) {
      ClosedLoop(state, start, options.concurrency);
    } else {
      OpenLoop(state, start, options);
    }
  });

  std::this_thread::sleep_until(begin + absl::ToChronoNanoseconds(options.warmup));
  if (options.on_window_start) options.on_window_start();
  Clock::time_point window_begin;
  {
    absl::MutexLock lock(&state->mu);
    state->measuring = true;
    window_begin = Clock::now();
  }
  std::this_thread::sleep_until(window_begin + absl::ToChronoNanoseconds(options.duration));
  Clock::time_point window_end;
  {
    absl::MutexLock lock(&state->mu);
    state->measuring = false;
    window_end = Clock::now();
  }
  if (options.on_window_end) options.on_window_end();
  {
    absl::MutexLock lock(&state->mu);
    state->stopping = true;
  }
  driver.join();
  absl::MutexLock lock(&state->mu);
  StepState& s = *state;
  auto drained = [&s]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) { return s.in_flight == 0; };
  s.mu.Await(absl::Condition(&drained));
  *result = std::move(s.result);
  result->window_seconds = std::chrono::duration<double>(window_end - window_begin).count();
  return absl::OkStatus();
}

}  // namespace tessera::client
