#include "client/model_statistics_delta.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace tessera::client {
namespace {

void Add(const inference::StatisticDuration& from, inference::StatisticDuration* to) {
  to->set_count(to->count() + from.count());
  to->set_ns(to->ns() + from.ns());
}

uint64_t Delta(uint64_t before, uint64_t after) { return after > before ? after - before : 0; }

// Average microseconds of the delta's ns over `count`.
double AverageUs(const inference::StatisticDuration& before, const inference::StatisticDuration& after,
                 uint64_t count) {
  if (count == 0) return 0;
  return static_cast<double>(Delta(before.ns(), after.ns())) / static_cast<double>(count) / 1000.0;
}

double OwnAverageUs(const inference::StatisticDuration& before, const inference::StatisticDuration& after) {
  return AverageUs(before, after, Delta(before.count(), after.count()));
}

}  // namespace

absl::StatusOr<inference::ModelStatistics> SelectModelStatistics(const inference::ModelStatisticsResponse& response,
                                                                 const std::string& name, const std::string& version) {
  inference::ModelStatistics sum;
  sum.set_name(name);
  sum.set_version(version);
  std::map<uint32_t, inference::StageStatistics> stages;
  bool found = false;
  for (const inference::ModelStatistics& entry : response.model_stats()) {
    if (entry.name() != name || (!version.empty() && entry.version() != version)) continue;
    found = true;
    sum.set_inference_count(sum.inference_count() + entry.inference_count());
    sum.set_execution_count(sum.execution_count() + entry.execution_count());
    const inference::InferStatistics& from = entry.inference_stats();
    inference::InferStatistics* to = sum.mutable_inference_stats();
    Add(from.success(), to->mutable_success());
    Add(from.fail(), to->mutable_fail());
    Add(from.queue(), to->mutable_queue());
    Add(from.compute_input(), to->mutable_compute_input());
    Add(from.compute_infer(), to->mutable_compute_infer());
    Add(from.compute_output(), to->mutable_compute_output());
    for (const inference::StageStatistics& stage : entry.stage_stats()) {
      inference::StageStatistics& into = stages[stage.stage()];
      into.set_stage(stage.stage());
      into.set_workers(into.workers() + stage.workers());
      Add(stage.dispatch(), into.mutable_dispatch());
      Add(stage.queue(), into.mutable_queue());
      Add(stage.compute(), into.mutable_compute());
      Add(stage.transfer(), into.mutable_transfer());
      into.set_bytes_sent(into.bytes_sent() + stage.bytes_sent());
      into.set_bytes_received(into.bytes_received() + stage.bytes_received());
    }
  }
  if (!found) {
    return absl::NotFoundError(absl::StrCat("the server's statistics have no entry for model '", name, "'",
                                            version.empty() ? "" : absl::StrCat(" version ", version)));
  }
  for (auto& [number, stage] : stages) *sum.add_stage_stats() = std::move(stage);
  return sum;
}

ServerBreakdown ComputeServerBreakdown(const inference::ModelStatistics& before,
                                       const inference::ModelStatistics& after) {
  ServerBreakdown breakdown;
  const inference::InferStatistics& b = before.inference_stats();
  const inference::InferStatistics& a = after.inference_stats();
  const uint64_t requests = Delta(b.success().count(), a.success().count());
  breakdown.requests = requests;
  breakdown.request_us = AverageUs(b.success(), a.success(), requests);
  breakdown.queue_us = AverageUs(b.queue(), a.queue(), requests);
  breakdown.compute_input_us = AverageUs(b.compute_input(), a.compute_input(), requests);
  breakdown.compute_infer_us = AverageUs(b.compute_infer(), a.compute_infer(), requests);
  breakdown.compute_output_us = AverageUs(b.compute_output(), a.compute_output(), requests);

  std::map<uint32_t, const inference::StageStatistics*> earlier;
  for (const inference::StageStatistics& stage : before.stage_stats()) earlier[stage.stage()] = &stage;
  std::map<uint32_t, StageBreakdown> stages;
  const inference::StageStatistics zero;
  for (const inference::StageStatistics& stage : after.stage_stats()) {
    auto it = earlier.find(stage.stage());
    const inference::StageStatistics& old = it == earlier.end() ? zero : *it->second;
    StageBreakdown s;
    s.stage = stage.stage();
    s.workers = stage.workers();
    s.pieces = Delta(old.dispatch().count(), stage.dispatch().count());
    s.queue_us = OwnAverageUs(old.queue(), stage.queue());
    s.compute_us = OwnAverageUs(old.compute(), stage.compute());
    s.transfer_us = OwnAverageUs(old.transfer(), stage.transfer());
    stages[s.stage] = s;
  }
  for (const auto& [number, stage] : stages) breakdown.stages.push_back(stage);
  return breakdown;
}

}  // namespace tessera::client
