#include "coordinator/scheduler/stage_admission.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tessera::coordinator {

StageAdmission::StageAdmission(PieceRunner* inner, Options options) : inner_(inner), options_(options) {}

StageAdmission::~StageAdmission() {
  std::vector<Piece> orphans;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, stage] : stages_) {
      for (Piece& piece : stage->waiting) orphans.push_back(std::move(piece));
      stage->waiting.clear();
    }
  }
  for (Piece& piece : orphans) piece.done(absl::UnavailableError("the coordinator is shutting down"));
}

void StageAdmission::Run(const Deployment& deployment, int stage_index, int replica,
                         std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline, Done done) {
  if (deployment.stages.size() <= 1) {
    return inner_->Run(deployment, stage_index, replica, std::move(request), deadline, std::move(done));
  }
  Enqueue(Piece{&deployment, stage_index, replica, std::move(request), deadline, std::move(done), absl::Now()});
}

void StageAdmission::RunChain(const Deployment& deployment, std::shared_ptr<worker::ExecuteRequest> request,
                              absl::Time deadline, Done done) {
  Piece piece{&deployment, 0, -1, nullptr, deadline, std::move(done), absl::Now()};
  piece.chain = std::move(request);
  Enqueue(std::move(piece));
}

void StageAdmission::Enqueue(Piece piece) {
  const Deployment& deployment = *piece.deployment;
  const int stage_index = piece.stage;
  const int limit = std::max(options_.in_flight_per_replica, 1) * std::max(deployment.replicas, 1);
  Stage* stage = nullptr;
  bool full = false;
  bool admit = false;
  {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<Stage>& slot = stages_[deployment.stages[stage_index].id];
    if (slot == nullptr) slot = std::make_unique<Stage>();
    stage = slot.get();
    full = static_cast<int>(stage->waiting.size()) >= options_.max_waiting_per_stage;
    if (!full) {
      stage->waiting.push_back(std::move(piece));
      // When a caller is already admitting for this stage, it sends the
      // piece as soon as there is room.
      admit = !stage->admitting;
      stage->admitting = true;
    }
  }
  if (full) {
    return piece.done(absl::ResourceExhaustedError(absl::StrCat(
        "stage ", stage_index + 1, " of ", deployment.model_name, " already has ", options_.max_waiting_per_stage,
        " pieces waiting for its workers; try again later")));
  }
  if (admit) Admit(stage, limit);
}

void StageAdmission::Admit(Stage* stage, int limit) {
  for (;;) {
    Piece piece;
    {
      absl::MutexLock lock(&mu_);
      if (stage->waiting.empty() || stage->in_flight >= limit) {
        stage->admitting = false;
        return;
      }
      piece = std::move(stage->waiting.front());
      stage->waiting.pop_front();
      ++stage->in_flight;
    }
    if (absl::Now() >= piece.deadline) {
      // Waited past its deadline: not worth sending.
      piece.done(absl::DeadlineExceededError(absl::StrCat("the deadline passed while stage ", piece.stage + 1, " of ",
                                                          piece.deployment->model_name, " was busy")));
      absl::MutexLock lock(&mu_);
      --stage->in_flight;
      continue;
    }
    const uint64_t waited_us = static_cast<uint64_t>(absl::ToInt64Microseconds(absl::Now() - piece.arrived));
    Done finished = [this, stage, limit, waited_us,
                     done = std::move(piece.done)](absl::StatusOr<worker::ExecuteResponse> response) {
      Finished(stage, limit);
      // The piece's queue time covers its wait here too.
      if (response.ok()) {
        if (response->hops_size() > 0) {
          worker::HopTiming* first = response->mutable_hops(0);
          first->set_queue_time_us(first->queue_time_us() + waited_us);
        } else {
          response->set_queue_time_us(response->queue_time_us() + waited_us);
        }
      }
      done(std::move(response));
    };
    if (piece.chain != nullptr) {
      inner_->RunChain(*piece.deployment, std::move(piece.chain), piece.deadline, std::move(finished));
    } else {
      inner_->Run(*piece.deployment, piece.stage, piece.replica, std::move(piece.request), piece.deadline,
                  std::move(finished));
    }
  }
}

void StageAdmission::Finished(Stage* stage, int limit) {
  {
    absl::MutexLock lock(&mu_);
    --stage->in_flight;
    // A caller already admitting (possibly this thread, further up the
    // stack) sees the room; otherwise this thread admits.
    if (stage->admitting || stage->waiting.empty()) return;
    stage->admitting = true;
  }
  Admit(stage, limit);
}

int StageAdmission::waiting(const std::string& partition_id) const {
  absl::MutexLock lock(&mu_);
  auto it = stages_.find(partition_id);
  return it == stages_.end() ? 0 : static_cast<int>(it->second->waiting.size());
}

int StageAdmission::in_flight(const std::string& partition_id) const {
  absl::MutexLock lock(&mu_);
  auto it = stages_.find(partition_id);
  return it == stages_.end() ? 0 : it->second->in_flight;
}

}  // namespace tessera::coordinator
