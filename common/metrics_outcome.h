// Counters of finished operations by outcome, the way every Tessera
// request counter is labelled:
//   {<fixed labels>, outcome="success", reason="OK"}
//   {<fixed labels>, outcome="failure", reason="<gRPC status code name>"}
// (INVALID_ARGUMENT, UNAVAILABLE, DEADLINE_EXCEEDED, ...). The success
// series exists from the start; a failure series appears with its first
// failure, so the exposition does not list sixteen zeros per model.
//
// Record is lock-free once a code's counter exists (an atomic load and an
// atomic add); the first failure of a code adds its series to the family.
//
// Also the histogram buckets Tessera's metrics share.
//
// Thread-safe. The family must outlive the counters.
#pragma once

#include <array>
#include <atomic>

#include "absl/status/status.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"

namespace tessera {

class OutcomeCounters {
 public:
  OutcomeCounters(prometheus::Family<prometheus::Counter>* family, prometheus::Labels labels);

  void Record(absl::StatusCode code);
  void Record(const absl::Status& status) { Record(status.code()); }

 private:
  prometheus::Counter& Resolve(size_t index);

  prometheus::Family<prometheus::Counter>* const family_;
  const prometheus::Labels labels_;
  // Indexed by absl::StatusCode (0 = OK); null until first used.
  std::array<std::atomic<prometheus::Counter*>, 17> by_code_{};
};

// Seconds, 0.5 ms to 60 s, roughly x2.5 apart: one request, one stage,
// one Execute, one queue wait.
prometheus::Histogram::BucketBoundaries LatencySecondsBuckets();
// Samples per request or piece: 1, 2, 4, ..., 1024.
prometheus::Histogram::BucketBoundaries BatchSizeBuckets();

}  // namespace tessera
