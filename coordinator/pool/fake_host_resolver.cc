#include "coordinator/pool/fake_host_resolver.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::coordinator {

void FakeHostResolver::Set(const std::string& name, std::vector<std::string> addresses) {
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  absl::MutexLock lock(&mu_);
  answers_.insert_or_assign(name, std::move(addresses));
}

void FakeHostResolver::Fail(const std::string& name, absl::Status failure) {
  absl::MutexLock lock(&mu_);
  answers_.insert_or_assign(name, std::move(failure));
}

int FakeHostResolver::calls(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = calls_.find(name);
  return it == calls_.end() ? 0 : it->second;
}

absl::StatusOr<std::vector<std::string>> FakeHostResolver::Resolve(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ++calls_[name];
  auto it = answers_.find(name);
  if (it == answers_.end()) return absl::NotFoundError(absl::StrCat("cannot resolve \"", name, "\" (fake)"));
  return it->second;
}

}  // namespace tessera::coordinator
