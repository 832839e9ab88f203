// A WorkerClientFactory of FakeWorkerClients for pool tests: the pool owns
// the fakes it asks for, the fleet remembers them by address so a test can
// program them (fake("w1:1")->SetUnavailable(true)).
//
// Fakes are borrowed: a pointer stays valid while the pool (or whoever took
// the client) keeps it, i.e. until the worker is removed from the membership
// and its last handle dropped.
//
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/pool/fake_worker_client.h"
#include "coordinator/pool/worker_pool.h"

namespace tessera::coordinator {

class FakeWorkerFleet {
 public:
  // `defaults` for every fake; address is set per fake.
  explicit FakeWorkerFleet(FakeWorkerClient::Options defaults = {});

  // Options for the fake made next for `address` (speed, engine, ...).
  void Configure(const std::string& address, std::function<void(FakeWorkerClient::Options*)> configure);
  // Makes the factory fail for `address` (a worker whose client cannot be made).
  void Refuse(const std::string& address);

  // The factory to give WorkerPool::Options::client_factory. It shares the
  // fleet's state and may outlive the fleet.
  WorkerClientFactory Factory() const;

  // The latest fake made for `address`, nullptr if none.
  FakeWorkerClient* fake(const std::string& address) const;
  int clients_made() const;

 private:
  struct State {
    absl::Mutex mu;
    FakeWorkerClient::Options defaults ABSL_GUARDED_BY(mu);
    std::map<std::string, std::function<void(FakeWorkerClient::Options*)>> configure ABSL_GUARDED_BY(mu);
    std::map<std::string, bool> refused ABSL_GUARDED_BY(mu);
    std::map<std::string, FakeWorkerClient*> made ABSL_GUARDED_BY(mu);
    int count ABSL_GUARDED_BY(mu) = 0;
  };
  const std::shared_ptr<State> state_;
};

}  // namespace tessera::coordinator
