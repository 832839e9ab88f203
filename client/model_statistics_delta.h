// The server's side of a `tessera bench` step: the difference of two
// ModelStatistics snapshots of one model (before and after the measured
// window) as average times, as perf_analyzer prints its server breakdown.
//
// Pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/inference.pb.h"

namespace tessera::client {

// Per-piece averages of one pipeline stage (the Tessera extension
// ModelStatistics.stage_stats), in microseconds.
struct StageBreakdown {
  uint32_t stage = 0;    // 1-based
  uint32_t workers = 0;  // as the later snapshot reports
  uint64_t pieces = 0;   // delta of dispatch.count
  double queue_us = 0;   // delta ns / delta count of each duration
  double compute_us = 0;
  double transfer_us = 0;
};

// Per-request averages of the model's inference_stats, in microseconds.
struct ServerBreakdown {
  uint64_t requests = 0;  // delta of inference_stats.success.count
  double request_us = 0;  // the server's whole time per successful request (success.ns)
  double queue_us = 0;
  double compute_input_us = 0;
  double compute_infer_us = 0;
  double compute_output_us = 0;
  std::vector<StageBreakdown> stages;  // by stage number, ascending
};

// The statistics of model `name` (and `version`, unless empty) summed over
// the matching entries of `response` (a server that keeps several versions
// answers one entry per version); stage entries are summed by stage number.
// NotFound naming the model when no entry matches.
absl::StatusOr<inference::ModelStatistics> SelectModelStatistics(const inference::ModelStatisticsResponse& response,
                                                                 const std::string& name, const std::string& version);

// after - before as averages. Each inference duration is divided by the
// delta of success.count (per request); each stage duration by the delta of
// its own count (per piece). A zero divisor gives 0; counters that went
// backwards (a server restart) count as zero deltas. Stages only in `after`
// count from zero.
ServerBreakdown ComputeServerBreakdown(const inference::ModelStatistics& before,
                                       const inference::ModelStatistics& after);

}  // namespace tessera::client
