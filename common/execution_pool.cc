#include "common/execution_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tessera {

ExecutionPool::ExecutionPool(const Options& options) : queue_limit_(std::max<int64_t>(options.queue_limit, 0)) {
  const int slots = std::max(options.slots, 1);
  threads_.reserve(slots);
  for (int i = 0; i < slots; ++i) threads_.emplace_back([this] { Loop(); });
}

ExecutionPool::~ExecutionPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

absl::Status ExecutionPool::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("worker is shutting down");
  if (static_cast<int64_t>(queue_.size()) >= queue_limit_) {
    return absl::ResourceExhaustedError(absl::StrCat("worker is saturated: ", running_, " executions running and ",
                                                     queue_.size(), " queued (limit ", queue_limit_, ")"));
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

int64_t ExecutionPool::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

int64_t ExecutionPool::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

double ExecutionPool::busy_seconds() const {
  absl::MutexLock lock(&mu_);
  return busy_seconds_;
}

void ExecutionPool::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ExecutionPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
            return pool->stopping_ || !pool->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything queued has run
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    const absl::Time start = absl::Now();
    task();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    absl::MutexLock lock(&mu_);
    --running_;
    busy_seconds_ += seconds;
  }
}

}  // namespace tessera
