// The output of `tessera bench`: a human table, a CSV file in the manner of
// perf_analyzer's -f, or one JSON object, built from the measured steps.
//
// Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/latency_stats.h"
#include "client/load_generator.h"
#include "client/model_statistics_delta.h"

namespace tessera::client {

// One measured step as the reports print it.
struct BenchStepReport {
  int64_t concurrency = 0;  // closed loop (0 in rate mode)
  double rate = 0;          // open loop, requests/s (0 in concurrency mode)
  int64_t requests = 0;     // successes completed in the window
  int64_t errors = 0;
  std::string first_error;
  int64_t delayed = 0;
  double window_seconds = 0;
  double requests_per_second = 0;
  double inferences_per_second = 0;  // requests x batch per second
  LatencyStats latency_ms;
  bool has_server = false;  // false: the server gave no statistics
  ServerBreakdown server;
};

struct BenchReport {
  std::string model;
  int64_t batch = 1;
  bool rate_mode = false;  // steps are request rates, not concurrencies
  std::vector<BenchStepReport> steps;
};

// A step's report from the load generator's result (latencies summarized,
// rates over the measured window); the server side is left for the caller.
BenchStepReport SummarizeStep(const LoadStepResult& result, int64_t batch);

// One line per step (concurrency or rate, requests, errors, infer/s, req/s,
// latency avg/p50/p90/p95/p99/max in ms with 3 decimals), then the server
// breakdown of each step that has one (the server's whole time per request,
// then its parts) and the first error of each step
// that failed.
std::string FormatBenchTable(const BenchReport& report);

// A header row, then one row per step. Latencies and server times in
// microseconds (rounded); stage columns "Stage K Queue/Compute/Transfer" for
// every stage any step reported; empty cells where a step has no value.
std::string FormatBenchCsv(const BenchReport& report);

// {"model": .., "batch": .., "steps": [{"concurrency"|"request_rate": ..,
//  "requests", "errors", "first_error", "delayed", "window_s",
//  "inferences_per_s", "requests_per_s", "latency_ms": {"avg", "p50", "p90",
//  "p95", "p99", "max"}, "server": null | {"requests", "request_us", "queue_us",
//  "compute_input_us", "compute_infer_us", "compute_output_us", "stages":
//  [{"stage", "workers", "pieces", "queue_us", "compute_us",
//  "transfer_us"}]}}]} and a newline.
std::string FormatBenchJson(const BenchReport& report);

}  // namespace tessera::client
