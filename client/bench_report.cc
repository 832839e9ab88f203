#include "client/bench_report.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/json_text.h"

namespace tessera::client {
namespace {

std::string StepLabel(const BenchReport& report, const BenchStepReport& step) {
  return report.rate_mode ? absl::StrFormat("%g", step.rate) : absl::StrCat(step.concurrency);
}

std::string Micros(double ms) { return absl::StrCat(static_cast<int64_t>(std::llround(ms * 1000.0))); }
std::string RoundedMicros(double us) { return absl::StrCat(static_cast<int64_t>(std::llround(us))); }

const StageBreakdown* FindStage(const BenchStepReport& step, uint32_t number) {
  if (!step.has_server) return nullptr;
  for (const StageBreakdown& stage : step.server.stages) {
    if (stage.stage == number) return &stage;
  }
  return nullptr;
}

}  // namespace

BenchStepReport SummarizeStep(const LoadStepResult& result, int64_t batch) {
  BenchStepReport step;
  step.requests = result.completed;
  step.errors = result.errors;
  step.first_error = result.first_error;
  step.delayed = result.delayed;
  step.window_seconds = result.window_seconds;
  if (result.window_seconds > 0) {
    step.requests_per_second = static_cast<double>(result.completed) / result.window_seconds;
    step.inferences_per_second = step.requests_per_second * static_cast<double>(batch);
  }
  step.latency_ms = SummarizeLatencies(result.latencies_ms);
  return step;
}

std::string FormatBenchTable(const BenchReport& report) {
  const char* key = report.rate_mode ? "rate/s" : "concurrency";
  std::string text = absl::StrFormat("model %s, batch %d\n", report.model, report.batch);
  absl::StrAppend(&text, absl::StrFormat("%11s %9s %7s%s %11s %10s %9s %9s %9s %9s %9s %9s\n", key, "requests",
                                         "errors", report.rate_mode ? "  delayed" : "", "infer/s", "req/s", "avg ms",
                                         "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms"));
  for (const BenchStepReport& step : report.steps) {
    const LatencyStats& l = step.latency_ms;
    absl::StrAppend(&text, absl::StrFormat("%11s %9d %7d%s %11.2f %10.2f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n",
                                           StepLabel(report, step), step.requests, step.errors,
                                           report.rate_mode ? absl::StrFormat(" %8d", step.delayed) : "",
                                           step.inferences_per_second, step.requests_per_second, l.mean, l.p50, l.p90,
                                           l.p95, l.p99, l.max));
  }
  bool any_server = false;
  for (const BenchStepReport& step : report.steps) any_server = any_server || step.has_server;
  if (any_server) {
    absl::StrAppend(&text, "server breakdown (per request; stages per piece):\n");
    for (const BenchStepReport& step : report.steps) {
      if (!step.has_server) continue;
      const ServerBreakdown& s = step.server;
      absl::StrAppend(&text, absl::StrFormat("  %s %s: request %.3f ms: queue %.3f ms, compute input %.3f ms, "
                                             "compute infer %.3f ms, compute output %.3f ms (%d requests)\n",
                                             key, StepLabel(report, step), s.request_us / 1000, s.queue_us / 1000,
                                             s.compute_input_us / 1000, s.compute_infer_us / 1000,
                                             s.compute_output_us / 1000, s.requests));
      for (const StageBreakdown& stage : s.stages) {
        absl::StrAppend(&text, absl::StrFormat("    stage %d (%d workers, %d pieces): queue %.3f ms, compute %.3f ms, "
                                               "transfer %.3f ms\n",
                                               stage.stage, stage.workers, stage.pieces, stage.queue_us / 1000,
                                               stage.compute_us / 1000, stage.transfer_us / 1000));
      }
    }
  } else {
    absl::StrAppend(&text, "server breakdown: not available (the server gave no ModelStatistics)\n");
  }
  for (const BenchStepReport& step : report.steps) {
    if (step.errors == 0) continue;
    absl::StrAppend(&text, absl::StrFormat("%s %s: %d errors; first: %s\n", key, StepLabel(report, step), step.errors,
                                           step.first_error));
  }
  return text;
}

std::string FormatBenchCsv(const BenchReport& report) {
  std::set<uint32_t> stage_numbers;
  for (const BenchStepReport& step : report.steps) {
    if (!step.has_server) continue;
    for (const StageBreakdown& stage : step.server.stages) stage_numbers.insert(stage.stage);
  }
  std::vector<std::string> header = {report.rate_mode ? "Request Rate" : "Concurrency", "Inferences/Second",
                                     "Requests/Second", "Errors"};
  if (report.rate_mode) header.push_back("Delayed Requests");
  for (const char* column : {"p50 latency", "p90 latency", "p95 latency", "p99 latency", "Avg latency", "Max latency",
                             "Server Queue", "Server Compute Input", "Server Compute Infer", "Server Compute Output"}) {
    header.push_back(column);
  }
  for (uint32_t k : stage_numbers) {
    for (const char* part : {"Queue", "Compute", "Transfer"}) header.push_back(absl::StrCat("Stage ", k, " ", part));
  }
  std::string csv = absl::StrCat(absl::StrJoin(header, ","), "\n");
  for (const BenchStepReport& step : report.steps) {
    const LatencyStats& l = step.latency_ms;
    std::vector<std::string> row = {StepLabel(report, step), absl::StrFormat("%.2f", step.inferences_per_second),
                                    absl::StrFormat("%.2f", step.requests_per_second), absl::StrCat(step.errors)};
    if (report.rate_mode) row.push_back(absl::StrCat(step.delayed));
    for (double ms : {l.p50, l.p90, l.p95, l.p99, l.mean, l.max}) row.push_back(Micros(ms));
    if (step.has_server) {
      for (double us : {step.server.queue_us, step.server.compute_input_us, step.server.compute_infer_us,
                        step.server.compute_output_us}) {
        row.push_back(RoundedMicros(us));
      }
    } else {
      row.insert(row.end(), 4, "");
    }
    for (uint32_t k : stage_numbers) {
      const StageBreakdown* stage = FindStage(step, k);
      if (stage == nullptr) {
        row.insert(row.end(), 3, "");
        continue;
      }
      for (double us : {stage->queue_us, stage->compute_us, stage->transfer_us}) row.push_back(RoundedMicros(us));
    }
    absl::StrAppend(&csv, absl::StrJoin(row, ","), "\n");
  }
  return csv;
}

std::string FormatBenchJson(const BenchReport& report) {
  std::vector<std::string> steps;
  for (const BenchStepReport& step : report.steps) {
    const LatencyStats& l = step.latency_ms;
    std::string server = "null";
    if (step.has_server) {
      std::vector<std::string> stages;
      for (const StageBreakdown& stage : step.server.stages) {
        stages.push_back(absl::StrCat("{\"stage\": ", stage.stage, ", \"workers\": ", stage.workers,
                                      ", \"pieces\": ", stage.pieces, ", \"queue_us\": ", JsonNumber(stage.queue_us),
                                      ", \"compute_us\": ", JsonNumber(stage.compute_us),
                                      ", \"transfer_us\": ", JsonNumber(stage.transfer_us), "}"));
      }
      const ServerBreakdown& s = step.server;
      server = absl::StrCat("{\"requests\": ", s.requests, ", \"request_us\": ", JsonNumber(s.request_us),
                            ", \"queue_us\": ", JsonNumber(s.queue_us),
                            ", \"compute_input_us\": ", JsonNumber(s.compute_input_us),
                            ", \"compute_infer_us\": ", JsonNumber(s.compute_infer_us),
                            ", \"compute_output_us\": ", JsonNumber(s.compute_output_us), ", \"stages\": [",
                            absl::StrJoin(stages, ", "), "]}");
    }
    steps.push_back(absl::StrCat("{",
                                 report.rate_mode ? absl::StrCat("\"request_rate\": ", JsonNumber(step.rate))
                                                  : absl::StrCat("\"concurrency\": ", step.concurrency),
                                 ", \"requests\": ", step.requests, ", \"errors\": ", step.errors,
                                 ", \"first_error\": ", JsonQuote(step.first_error), ", \"delayed\": ", step.delayed,
                                 ", \"window_s\": ", JsonNumber(step.window_seconds),
                                 ", \"inferences_per_s\": ", JsonNumber(step.inferences_per_second),
                                 ", \"requests_per_s\": ", JsonNumber(step.requests_per_second),
                                 ", \"latency_ms\": {\"avg\": ", JsonNumber(l.mean), ", \"p50\": ", JsonNumber(l.p50),
                                 ", \"p90\": ", JsonNumber(l.p90), ", \"p95\": ", JsonNumber(l.p95), ", \"p99\": ",
                                 JsonNumber(l.p99), ", \"max\": ", JsonNumber(l.max), "}, \"server\": ", server, "}"));
  }
  return absl::StrCat("{\"model\": ", JsonQuote(report.model), ", \"batch\": ", report.batch, ", \"steps\": [",
                      absl::StrJoin(steps, ", "), "]}\n");
}

}  // namespace tessera::client
