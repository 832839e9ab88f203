#include "coordinator/pool/fake_worker_fleet.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::coordinator {

FakeWorkerFleet::FakeWorkerFleet(FakeWorkerClient::Options defaults) : state_(std::make_shared<State>()) {
  absl::MutexLock lock(&state_->mu);
  state_->defaults = std::move(defaults);
}

void FakeWorkerFleet::Configure(const std::string& address,
                                std::function<void(FakeWorkerClient::Options*)> configure) {
  absl::MutexLock lock(&state_->mu);
  state_->configure[address] = std::move(configure);
}

void FakeWorkerFleet::Refuse(const std::string& address) {
  absl::MutexLock lock(&state_->mu);
  state_->refused[address] = true;
}

WorkerClientFactory FakeWorkerFleet::Factory() const {
  return [state = state_](const WorkerEndpoint& endpoint) -> absl::StatusOr<std::unique_ptr<WorkerClient>> {
    const std::string& address = endpoint.address;
    FakeWorkerClient::Options options;
    {
      absl::MutexLock lock(&state->mu);
      if (state->refused[address]) return absl::UnavailableError(absl::StrCat("no client for ", address));
      options = state->defaults;
      if (auto it = state->configure.find(address); it != state->configure.end()) it->second(&options);
    }
    options.address = address;
    auto fake = std::make_unique<FakeWorkerClient>(options);
    absl::MutexLock lock(&state->mu);
    state->made[address] = fake.get();
    ++state->count;
    return fake;
  };
}

FakeWorkerClient* FakeWorkerFleet::fake(const std::string& address) const {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->made.find(address);
  return it == state_->made.end() ? nullptr : it->second;
}

int FakeWorkerFleet::clients_made() const {
  absl::MutexLock lock(&state_->mu);
  return state_->count;
}

}  // namespace tessera::coordinator
