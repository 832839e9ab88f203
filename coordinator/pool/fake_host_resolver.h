// A HostResolver whose answers the test sets: per name a list of addresses
// or a failure. Unknown names are NotFound. Counts calls per name.
//
// Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/pool/host_resolver.h"

namespace tessera::coordinator {

class FakeHostResolver final : public HostResolver {
 public:
  // From now on `name` resolves to `addresses` (returned sorted, unique).
  void Set(const std::string& name, std::vector<std::string> addresses);
  // From now on resolving `name` fails with `failure` (not OK).
  void Fail(const std::string& name, absl::Status failure);
  int calls(const std::string& name) const;

  absl::StatusOr<std::vector<std::string>> Resolve(const std::string& name) override;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, absl::StatusOr<std::vector<std::string>>> answers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::coordinator
