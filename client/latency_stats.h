// Summary statistics of measured latencies.
#pragma once

#include <vector>

namespace tessera::client {

struct LatencyStats {
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p95 = 0;
  double p99 = 0;
  double mean = 0;
  double max = 0;
};

// Percentiles use linear interpolation between closest ranks (NumPy's
// default), so p50 of an even count is the mean of the two middle values.
// All zero for an empty input.
LatencyStats SummarizeLatencies(std::vector<double> samples);

}  // namespace tessera::client
