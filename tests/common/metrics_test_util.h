// Reads metric values straight from a prometheus::Collectable (a
// Registry), for tests of what code records, without HTTP.
#pragma once

#include <optional>
#include <string>

#include "prometheus/collectable.h"
#include "prometheus/labels.h"
#include "prometheus/metric_family.h"

namespace tessera::testing {

// The series of family `name` whose labels include every one of `labels`
// (the first such series); nullopt when there is none.
inline std::optional<prometheus::ClientMetric> FindSeries(prometheus::Collectable& collectable,
                                                          const std::string& name,
                                                          const prometheus::Labels& labels = {}) {
  for (const prometheus::MetricFamily& family : collectable.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      size_t matched = 0;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        auto it = labels.find(label.name);
        if (it != labels.end() && it->second == label.value) ++matched;
      }
      if (matched == labels.size()) return metric;
    }
  }
  return std::nullopt;
}

// A counter's or gauge's value; -1 when the series does not exist.
inline double MetricValue(prometheus::Collectable& collectable, const std::string& name,
                          const prometheus::Labels& labels = {}) {
  std::optional<prometheus::ClientMetric> metric = FindSeries(collectable, name, labels);
  if (!metric.has_value()) return -1;
  return metric->counter.value + metric->gauge.value;  // the other one is 0
}

// A histogram's number of observations; -1 when the series does not exist.
inline double HistogramCount(prometheus::Collectable& collectable, const std::string& name,
                             const prometheus::Labels& labels = {}) {
  std::optional<prometheus::ClientMetric> metric = FindSeries(collectable, name, labels);
  if (!metric.has_value()) return -1;
  return static_cast<double>(metric->histogram.sample_count);
}

}  // namespace tessera::testing
