#include "coordinator/scheduler/retry_budget.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::coordinator {

absl::StatusOr<std::unique_ptr<RetryBudget>> RetryBudget::Create(Options options, Clock clock) {
  if (!std::isfinite(options.ratio) || options.ratio < 0 || options.ratio > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("retry budget ratio ", options.ratio, " is not in [0, 1000]"));
  }
  if (!std::isfinite(options.min_per_second) || options.min_per_second < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("retry budget minimum per second ", options.min_per_second, " is negative or not finite"));
  }
  if (!std::isfinite(options.max_tokens) || options.max_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("retry budget size ", options.max_tokens, " is under 1 or not finite"));
  }
  if (!clock) return absl::InvalidArgumentError("retry budget needs a clock");
  return std::make_unique<RetryBudget>(options, std::move(clock));
}

RetryBudget::RetryBudget(Options options, Clock clock)
    : options_(options), clock_(std::move(clock)), tokens_(options.max_tokens), last_(clock_()) {}

void RetryBudget::AccrueLocked() {
  const absl::Time now = clock_();
  if (now > last_) {
    tokens_ = std::min(options_.max_tokens, tokens_ + options_.min_per_second * absl::ToDoubleSeconds(now - last_));
    last_ = now;
  }
}

void RetryBudget::Deposit() {
  absl::MutexLock lock(&mu_);
  AccrueLocked();
  tokens_ = std::min(options_.max_tokens, tokens_ + options_.ratio);
}

bool RetryBudget::TryWithdraw() {
  absl::MutexLock lock(&mu_);
  AccrueLocked();
  if (tokens_ < 1) {
    ++refused_;
    return false;
  }
  tokens_ -= 1;
  return true;
}

double RetryBudget::balance() {
  absl::MutexLock lock(&mu_);
  AccrueLocked();
  return tokens_;
}

uint64_t RetryBudget::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

}  // namespace tessera::coordinator
