// Test helper: runs callbacks a fixed delay after they were scheduled, on one
// timer thread, like a server that answers asynchronously, and tracks how
// many it holds at once. Used by the load generator and bench tests.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace tessera::client::test_support {

class DelayedCompleter {
 public:
  explicit DelayedCompleter(std::chrono::microseconds delay) : delay_(delay), thread_([this] { Run(); }) {}
  ~DelayedCompleter() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Runs `fire` `delay` from now on the timer thread (all share one delay, so
  // they fire in the order scheduled). Returns the number held, this one
  // included.
  int64_t Schedule(std::function<void()> fire) {
    int64_t held = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.emplace_back(std::chrono::steady_clock::now() + delay_, std::move(fire));
      held = static_cast<int64_t>(pending_.size());
      max_held_ = std::max(max_held_, held);
    }
    cv_.notify_all();
    return held;
  }

  int64_t max_held() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_held_;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (pending_.empty()) {
        if (stopping_) return;
        cv_.wait(lock);
        continue;
      }
      const auto due = pending_.front().first;
      if (std::chrono::steady_clock::now() < due) {
        cv_.wait_until(lock, due);
        continue;
      }
      std::function<void()> fire = std::move(pending_.front().second);
      pending_.pop_front();
      lock.unlock();
      fire();
      lock.lock();
    }
  }

  const std::chrono::microseconds delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> pending_;
  int64_t max_held_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace tessera::client::test_support
