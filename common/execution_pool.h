// A fixed set of execution slots (threads) that run slow work (engine runs,
// model loads) off the gRPC threads, with a bounded queue in front of them.
//
// Submit never blocks: when `queue_limit` tasks are already waiting it
// returns RESOURCE_EXHAUSTED at once, so an overloaded server answers
// quickly instead of growing without bound. Tasks run in submission order.
// The destructor finishes every queued task, then joins the threads.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace tessera {

class ExecutionPool {
 public:
  struct Options {
    int slots = 1;             // threads running tasks at once (>= 1)
    int64_t queue_limit = 256; // tasks waiting beyond the running ones
  };

  explicit ExecutionPool(const Options& options);
  ~ExecutionPool();
  ExecutionPool(const ExecutionPool&) = delete;
  ExecutionPool& operator=(const ExecutionPool&) = delete;

  absl::Status Submit(std::function<void()> task);

  int slots() const { return static_cast<int>(threads_.size()); }
  int64_t queued() const;
  int64_t running() const;
  // Seconds the slots spent running tasks since the pool started, summed
  // over slots (for utilization).
  double busy_seconds() const;

 private:
  void Loop();

  const int64_t queue_limit_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  int64_t running_ ABSL_GUARDED_BY(mu_) = 0;
  double busy_seconds_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace tessera
