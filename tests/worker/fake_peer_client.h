// A PeerClient for tests: "addresses" name WorkerCores in the same process
// (the call runs on that core, as the real client would over gRPC), or
// scripted failures. Records every call: address, server name, request and
// deadline.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "worker/peer_client.h"
#include "worker/worker_core.h"

namespace tessera::worker::testing {

class FakePeerClient : public PeerClient {
 public:
  struct Call {
    std::string address;
    std::string tls_server_name;
    ExecuteRequest request;  // as sent (before the peer consumed it)
    absl::Time deadline;
  };

  // `core` answers calls to `address` (borrowed).
  void AddPeer(const std::string& address, WorkerCore* core) { peers_[address] = core; }
  // Calls to `address` fail with `status` (as a transport failure would).
  void FailCallsTo(const std::string& address, absl::Status status) { failures_[address] = std::move(status); }

  void Execute(const std::string& address, const std::string& tls_server_name,
               std::shared_ptr<const ExecuteRequest> request, absl::Time deadline, Done done) override {
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back({address, tls_server_name, *request, deadline});
    }
    if (auto f = failures_.find(address); f != failures_.end()) return done(f->second);
    auto p = peers_.find(address);
    if (p == peers_.end()) return done(absl::UnavailableError(absl::StrCat("no peer at ", address)));
    // The server side owns its copy of the request, as gRPC's does.
    auto owned = std::make_shared<ExecuteRequest>(*request);
    auto response = std::make_shared<ExecuteResponse>();
    p->second->Execute(owned.get(), response.get(), nullptr, deadline,
                       [owned, response, done = std::move(done)](absl::Status status) {
                         if (!status.ok()) return done(status);
                         done(std::move(*response));
                       });
  }

  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  std::map<std::string, WorkerCore*> peers_;
  std::map<std::string, absl::Status> failures_;
  mutable absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::worker::testing
