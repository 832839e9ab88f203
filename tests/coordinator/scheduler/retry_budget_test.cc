#include "coordinator/scheduler/retry_budget.h"

#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

// A clock the test moves by hand.
struct ManualClock {
  absl::Time now = absl::FromUnixSeconds(1000);
  RetryBudget::Clock AsClock() {
    return [this] { return now; };
  }
};

TEST(RetryBudgetTest, StartsFullAndRefusesWhenEmpty) {
  ManualClock clock;
  auto budget = RetryBudget::Create({.ratio = 0.2, .min_per_second = 0, .max_tokens = 3}, clock.AsClock());
  ASSERT_TRUE(budget.ok()) << budget.status();
  EXPECT_DOUBLE_EQ((*budget)->balance(), 3);
  EXPECT_TRUE((*budget)->TryWithdraw());
  EXPECT_TRUE((*budget)->TryWithdraw());
  EXPECT_TRUE((*budget)->TryWithdraw());
  EXPECT_FALSE((*budget)->TryWithdraw());
  EXPECT_FALSE((*budget)->TryWithdraw());
  EXPECT_EQ((*budget)->refused(), 2u);
  EXPECT_DOUBLE_EQ((*budget)->balance(), 0);
}

TEST(RetryBudgetTest, FirstAttemptsEarnAFractionOfARetry) {
  ManualClock clock;
  auto budget = RetryBudget::Create({.ratio = 0.25, .min_per_second = 0, .max_tokens = 10}, clock.AsClock());
  ASSERT_TRUE(budget.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*budget)->TryWithdraw());
  EXPECT_FALSE((*budget)->TryWithdraw());
  // Three first attempts: 0.75 of a token, still no retry.
  for (int i = 0; i < 3; ++i) (*budget)->Deposit();
  EXPECT_FALSE((*budget)->TryWithdraw());
  // The fourth makes one token: exactly one retry.
  (*budget)->Deposit();
  EXPECT_TRUE((*budget)->TryWithdraw());
  EXPECT_FALSE((*budget)->TryWithdraw());
  // 100 first attempts earn 25 retries, capped at the bucket's size (10).
  for (int i = 0; i < 100; ++i) (*budget)->Deposit();
  EXPECT_DOUBLE_EQ((*budget)->balance(), 10);
  int granted = 0;
  while ((*budget)->TryWithdraw()) ++granted;
  EXPECT_EQ(granted, 10);
  EXPECT_EQ((*budget)->refused(), 4u);
}

TEST(RetryBudgetTest, FloorAccruesWithTimeUpToTheCap) {
  ManualClock clock;
  auto budget = RetryBudget::Create({.ratio = 0, .min_per_second = 4, .max_tokens = 5}, clock.AsClock());
  ASSERT_TRUE(budget.ok());
  while ((*budget)->TryWithdraw()) {
  }
  EXPECT_DOUBLE_EQ((*budget)->balance(), 0);
  clock.now += absl::Milliseconds(200);  // 0.8 of a token
  EXPECT_FALSE((*budget)->TryWithdraw());
  clock.now += absl::Milliseconds(50);  // 1.0
  EXPECT_TRUE((*budget)->TryWithdraw());
  EXPECT_FALSE((*budget)->TryWithdraw());
  clock.now += absl::Seconds(100);  // far more than the cap
  EXPECT_DOUBLE_EQ((*budget)->balance(), 5);
  // A clock that goes back does not take tokens away or add any.
  clock.now -= absl::Seconds(10);
  EXPECT_DOUBLE_EQ((*budget)->balance(), 5);
}

TEST(RetryBudgetTest, SteadyStateRetriesAreBoundedByTheRatio) {
  // 1000 first attempts a second for 10 s, every one failing and asking for
  // a retry: granted retries stay within ratio * attempts + floor * time +
  // the initial bucket.
  ManualClock clock;
  auto budget = RetryBudget::Create({.ratio = 0.1, .min_per_second = 5, .max_tokens = 20}, clock.AsClock());
  ASSERT_TRUE(budget.ok());
  int granted = 0;
  for (int i = 0; i < 10000; ++i) {
    clock.now += absl::Milliseconds(1);
    (*budget)->Deposit();
    if ((*budget)->TryWithdraw()) ++granted;
  }
  const double bound = 0.1 * 10000 + 5 * 10 + 20;
  EXPECT_LE(granted, bound);
  EXPECT_GE(granted, 0.1 * 10000 + 5 * 10 - 2);  // and it does grant them
  EXPECT_EQ((*budget)->refused(), static_cast<uint64_t>(10000 - granted));
}

TEST(RetryBudgetTest, BadOptionsAreRefusedByName) {
  auto ratio = RetryBudget::Create({.ratio = -0.1});
  ASSERT_FALSE(ratio.ok());
  EXPECT_EQ(ratio.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ratio.status().message().find("ratio"), absl::string_view::npos);
  auto floor = RetryBudget::Create({.min_per_second = -1});
  ASSERT_FALSE(floor.ok());
  EXPECT_NE(floor.status().message().find("minimum per second"), absl::string_view::npos);
  auto size = RetryBudget::Create({.max_tokens = 0.5});
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.status().message().find("size"), absl::string_view::npos);
}

}  // namespace
}  // namespace tessera::coordinator
