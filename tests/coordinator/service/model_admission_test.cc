#include "coordinator/service/model_admission.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

TEST(ModelAdmissionTest, RefusesBeyondTheLimitNamingModelAndLimit) {
  ModelAdmission admission(2);
  auto a = admission.Admit("m");
  auto b = admission.Admit("m");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(admission.Admitted("m"), 2);
  auto c = admission.Admit("m");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("'m'"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("limit per model (2"), std::string::npos) << c.status();
  // Another model has its own bound.
  auto other = admission.Admit("n");
  EXPECT_TRUE(other.ok());
  // A slot given back admits one more.
  (*a)->Release();
  (*a)->Release();  // idempotent
  EXPECT_EQ(admission.Admitted("m"), 1);
  auto d = admission.Admit("m");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(admission.Admit("m").ok());
  // Destruction releases.
  d->reset();
  b->reset();
  EXPECT_EQ(admission.Admitted("m"), 0);
}

TEST(ModelAdmissionTest, ZeroLimitAdmitsEverything) {
  ModelAdmission admission(0);
  std::vector<std::unique_ptr<ModelAdmission::Ticket>> tickets;
  for (int i = 0; i < 1000; ++i) {
    auto t = admission.Admit("m");
    ASSERT_TRUE(t.ok());
    tickets.push_back(*std::move(t));
  }
  EXPECT_EQ(admission.Admitted("m"), 1000);
}

TEST(ModelAdmissionTest, ConcurrentAdmitsNeverExceedTheLimit) {
  ModelAdmission admission(5);
  std::atomic<int> admitted{0}, refused{0}, max_seen{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto ticket = admission.Admit("m");
        if (!ticket.ok()) {
          ++refused;
          continue;
        }
        ++admitted;
        const int now = static_cast<int>(admission.Admitted("m"));
        int prev = max_seen.load();
        while (now > prev && !max_seen.compare_exchange_weak(prev, now)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted + refused, 16000);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_LE(max_seen.load(), 5);
  EXPECT_EQ(admission.Admitted("m"), 0);
}

}  // namespace
}  // namespace tessera::coordinator
