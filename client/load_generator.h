// The load engine of `tessera bench`: one measured step of closed-loop
// (fixed concurrency) or open-loop (fixed request rate) load against an
// asynchronous "start one request" function, as perf_analyzer runs it.
//
// A step is: `warmup` of load that is not measured, then `duration` of
// measured load (the window), then the requests still in flight are awaited
// (nothing new is sent). Requests are started by one driver thread; their
// completions may arrive on any thread (gRPC's callback threads, a fake's
// timer), never needing a thread per request.
//
//  - Closed loop (concurrency N): N requests are outstanding at all times; a
//    completion lets the driver start the next one at once.
//  - Open loop (rate R/s): requests are scheduled at constant spacing 1/R or
//    with exponential (Poisson) gaps of mean 1/R. A request whose scheduled
//    time comes while `max_outstanding` are already in flight is not sent and
//    counts as delayed; the number in flight never exceeds `max_outstanding`.
//
// Measured: requests that succeeded and completed inside the window (with
// each one's latency, send to answer, on the steady clock), requests sent in
// the window, delayed requests scheduled in the window, and failures of the
// whole step (warm-up, window and drain alike: any failure is worth
// reporting) with the first failure's message.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tessera::client {

// Starts one request and returns at once; calls `done` exactly once with the
// request's outcome, from any thread, possibly before returning.
using RequestDone = std::function<void(absl::Status)>;
using StartRequestFn = std::function<void(RequestDone done)>;

enum class RequestDistribution {
  kConstant,  // evenly spaced
  kPoisson,   // exponential gaps
};

struct LoadStepOptions {
  // Exactly one mode: concurrency > 0 (closed loop) or rate > 0 (open loop).
  int64_t concurrency = 0;
  double rate = 0;  // requests per second
  RequestDistribution distribution = RequestDistribution::kConstant;
  int64_t max_outstanding = 1024;  // open loop only
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration duration = absl::Seconds(5);
  uint64_t seed = 0;  // Poisson gaps
  // Called on the caller's thread just before the window opens and just
  // after it closes, while the load keeps running (for the server's
  // statistics snapshots). Optional.
  std::function<void()> on_window_start;
  std::function<void()> on_window_end;
};

struct LoadStepResult {
  int64_t completed = 0;             // successes completed inside the window
  int64_t sent = 0;                  // requests started inside the window
  int64_t delayed = 0;               // open loop: scheduled in the window but not sent (max_outstanding)
  int64_t errors = 0;                // failures of the whole step
  std::string first_error;           // message of the first failure ("" if none)
  int64_t max_in_flight = 0;         // most requests outstanding at once (whole step)
  double window_seconds = 0;         // measured length of the window
  std::vector<double> latencies_ms;  // one per completed request
};

// Runs one step with `start` and blocks until it is over and no request is
// in flight. InvalidArgument for options that name no mode or both, or
// non-positive durations or bounds.
absl::Status RunLoadStep(const StartRequestFn& start, const LoadStepOptions& options, LoadStepResult* result);

}  // namespace tessera::client
