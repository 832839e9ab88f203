#include "common/metrics_outcome.h"

#include <string>
#include <utility>

namespace tessera {

OutcomeCounters::OutcomeCounters(prometheus::Family<prometheus::Counter>* family, prometheus::Labels labels)
    : family_(family), labels_(std::move(labels)) {
  Resolve(0);  // the success series, at zero
}

void OutcomeCounters::Record(absl::StatusCode code) {
  size_t index = static_cast<size_t>(code);
  if (index >= by_code_.size()) index = static_cast<size_t>(absl::StatusCode::kUnknown);
  Resolve(index).Increment();
}

prometheus::Counter& OutcomeCounters::Resolve(size_t index) {
  prometheus::Counter* counter = by_code_[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the existing series for equal labels, so two
    // threads racing here get the same counter.
    prometheus::Labels labels = labels_;
    labels["outcome"] = index == 0 ? "success" : "failure";
    labels["reason"] = absl::StatusCodeToString(static_cast<absl::StatusCode>(index));
    counter = &family_->Add(labels);
    by_code_[index].store(counter, std::memory_order_release);
  }
  return *counter;
}

prometheus::Histogram::BucketBoundaries LatencySecondsBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

prometheus::Histogram::BucketBoundaries BatchSizeBuckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
}

}  // namespace tessera
