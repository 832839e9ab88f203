#include "client/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tessera::client {
namespace {

double Percentile(const std::vector<double>& sorted, double q) {
  const double rank = q * static_cast<double>(sorted.size() - 1);
  const size_t lower = static_cast<size_t>(std::floor(rank));
  const size_t upper = std::min(lower + 1, sorted.size() - 1);
  const double fraction = rank - static_cast<double>(lower);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction;
}

}  // namespace

LatencyStats SummarizeLatencies(std::vector<double> samples) {
  LatencyStats stats;
  if (samples.empty()) return stats;
  std::sort(samples.begin(), samples.end());
  stats.min = samples.front();
  stats.max = samples.back();
  stats.p50 = Percentile(samples, 0.50);
  stats.p90 = Percentile(samples, 0.90);
  stats.p95 = Percentile(samples, 0.95);
  stats.p99 = Percentile(samples, 0.99);
  stats.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  return stats;
}

}  // namespace tessera::client
