#include "coordinator/service/model_admission.h"

#include "absl/strings/str_cat.h"

namespace tessera::coordinator {

void ModelAdmission::Ticket::Release() {
  if (owner_ == nullptr) return;
  owner_->Give(model_);
  owner_ = nullptr;
}

absl::StatusOr<std::unique_ptr<ModelAdmission::Ticket>> ModelAdmission::Admit(const std::string& model) {
  absl::MutexLock lock(&mu_);
  int64_t& admitted = admitted_[model];
  if (limit_ > 0 && admitted >= limit_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "model '", model, "' is overloaded: it already holds ", admitted, " requests, the limit per model (",
        limit_, ", --max-queued-requests-per-model); retry later"));
  }
  ++admitted;
  return std::unique_ptr<Ticket>(new Ticket(this, model));
}

int64_t ModelAdmission::Admitted(const std::string& model) const {
  absl::MutexLock lock(&mu_);
  auto it = admitted_.find(model);
  return it == admitted_.end() ? 0 : it->second;
}

void ModelAdmission::Give(const std::string& model) {
  absl::MutexLock lock(&mu_);
  auto it = admitted_.find(model);
  if (it == admitted_.end()) return;
  if (--it->second <= 0) admitted_.erase(it);
}

}  // namespace tessera::coordinator
