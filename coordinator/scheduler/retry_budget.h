// A retry budget: bounds the replays the scheduler adds to the cluster's
// load, so that a sick cluster does not amplify its own load (the scheme of
// Finagle's RetryBudget and gRPC's retry throttling).
//
// A token bucket: every first attempt of a piece deposits `ratio` of a token
// (Deposit), every replay withdraws a whole one (TryWithdraw) and is refused
// when less than one is left. A floor of `min_per_second` tokens a second
// accrues with time, so that a quiet cluster can still retry. The balance
// starts full and never exceeds `max_tokens`. With ratio 0.2, replays add at
// most 20% to the load in steady state, plus the floor.
//
// Thread-safe. The clock is injected for tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tessera::coordinator {

class RetryBudget {
 public:
  struct Options {
    double ratio = 0.2;           // tokens per first attempt, in [0, 1000]
    double min_per_second = 10;   // tokens accrued per second, >= 0
    double max_tokens = 100;      // bucket size (and initial balance), >= 1
  };
  using Clock = std::function<absl::Time()>;

  // InvalidArgument naming the option when one is out of range.
  static absl::StatusOr<std::unique_ptr<RetryBudget>> Create(Options options, Clock clock = &absl::Now);

  // A first attempt: adds `ratio` tokens.
  void Deposit();
  // A replay: takes one token and returns true, or returns false (and counts
  // a refusal) when less than one is left.
  bool TryWithdraw();

  double balance();
  uint64_t refused() const;
  const Options& options() const { return options_; }

  RetryBudget(Options options, Clock clock);  // use Create

 private:
  void AccrueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_);
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tessera::coordinator
