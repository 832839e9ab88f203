// ModelAdmission: how many requests of each model the coordinator holds at
// once (decoding, queued in a dynamic batcher, running on the workers,
// being encoded). Admit takes a slot for the model or, when the model
// already holds `limit` requests, refuses at once with RESOURCE_EXHAUSTED
// naming the model and the limit -- the request is never queued, so an
// overloaded model costs the coordinator a bounded amount of memory and
// other models are not affected. A slot is given back when its Ticket is
// released or destroyed.
//
// The bound is per model name (all its versions together); a limit <= 0
// admits everything. A config's dynamic_batching queue bound
// (default_queue_policy.max_queue_size) is enforced by the batcher, inside
// this one.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tessera::coordinator {

class ModelAdmission {
 public:
  // One admitted request's slot. Release gives it back (at most once);
  // destruction releases it when Release was not called.
  class Ticket {
   public:
    ~Ticket() { Release(); }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    void Release();

   private:
    friend class ModelAdmission;
    Ticket(ModelAdmission* owner, std::string model) : owner_(owner), model_(std::move(model)) {}
    ModelAdmission* owner_;  // null once released
    std::string model_;
  };

  explicit ModelAdmission(int64_t limit_per_model) : limit_(limit_per_model) {}

  // A slot for one request of `model`, or RESOURCE_EXHAUSTED. The ticket
  // must not outlive this object.
  absl::StatusOr<std::unique_ptr<Ticket>> Admit(const std::string& model);

  // Requests of `model` holding a slot now.
  int64_t Admitted(const std::string& model) const;
  int64_t limit() const { return limit_; }

 private:
  void Give(const std::string& model);

  const int64_t limit_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> admitted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::coordinator
