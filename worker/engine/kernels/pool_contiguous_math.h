// Reductions over contiguous arrays written so the compiler vectorizes them
// without -ffast-math: several independent accumulators (lanes) are kept and
// combined at the end. Shared by the global pools and the normalizations.
#pragma once

#include <cstdint>

namespace tessera::engine {

inline constexpr int kReductionLanes = 16;

// Sum of x[0..n).
template <typename T>
T SumContiguous(const T* x, int64_t n) {
  T acc[kReductionLanes] = {};
  int64_t i = 0;
  for (; i + kReductionLanes <= n; i += kReductionLanes) {
    for (int j = 0; j < kReductionLanes; ++j) acc[j] += x[i + j];
  }
  T total = 0;
  for (; i < n; ++i) total += x[i];
  for (int j = 0; j < kReductionLanes; ++j) total += acc[j];
  return total;
}

// Sum of (x[i] - mean)^2 over x[0..n).
template <typename T>
T SumSquaredDeviations(const T* x, int64_t n, T mean) {
  T acc[kReductionLanes] = {};
  int64_t i = 0;
  for (; i + kReductionLanes <= n; i += kReductionLanes) {
    for (int j = 0; j < kReductionLanes; ++j) {
      const T d = x[i + j] - mean;
      acc[j] += d * d;
    }
  }
  T total = 0;
  for (; i < n; ++i) {
    const T d = x[i] - mean;
    total += d * d;
  }
  for (int j = 0; j < kReductionLanes; ++j) total += acc[j];
  return total;
}

// Maximum of x[0..n); n must be >= 1.
template <typename T>
T MaxContiguous(const T* x, int64_t n) {
  T best = x[0];
  int64_t i = 0;
  if (n >= kReductionLanes) {
    T acc[kReductionLanes];
    for (int j = 0; j < kReductionLanes; ++j) acc[j] = x[j];
    for (i = kReductionLanes; i + kReductionLanes <= n; i += kReductionLanes) {
      for (int j = 0; j < kReductionLanes; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    }
    for (int j = 0; j < kReductionLanes; ++j) best = acc[j] > best ? acc[j] : best;
  }
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  return best;
}

}  // namespace tessera::engine
