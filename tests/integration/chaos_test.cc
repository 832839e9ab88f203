// Chaos: real tessera-coordinator and tessera-worker processes over mutual
// TLS on loopback, 16 concurrent clients for 60 seconds while a random
// worker is killed with SIGKILL every 5 seconds and restarted on the same
// port 2 seconds later. Zero failed requests, every answer equal to the
// whole model run in-process; the test prints requests sent, answered and
// retried (the coordinator's tessera_piece_retries_total), and checks that
// every restarted worker got work again.
//
//   HybridTwoByTwoOnFourWorkers   cnn_hybrid: 2 stages x 2 replicas
//   DataOnThreeWorkers            cnn_data
//
// TESSERA_CHAOS_SECONDS shortens (or lengthens, up to 300) the run for
// local tries. Registered as two ctest tests (label `chaos`).
#include <algorithm>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "tests/integration/real_cluster.h"

namespace tessera {
namespace {

using testing::RealCluster;

absl::Duration ChaosDuration() {
  int seconds = 60;
  if (const char* env = std::getenv("TESSERA_CHAOS_SECONDS"); env != nullptr) {
    if (!absl::SimpleAtoi(env, &seconds) || seconds < 8 || seconds > 300) seconds = 60;
  }
  return absl::Seconds(seconds);
}

struct Counts {
  std::atomic<int64_t> sent{0};
  std::atomic<int64_t> answered{0};  // OK and correct
  std::atomic<int64_t> failed{0};    // an error status
  std::atomic<int64_t> wrong{0};     // OK but not the expected output
  absl::Mutex mu;
  std::vector<std::string> failures ABSL_GUARDED_BY(mu);  // the first few
};

void RunChaos(const std::string& model, int workers) {
  RealCluster cluster(absl::StrCat("chaos_", model));
  const absl::Status started = cluster.Start(workers, {.flags = {"--health-interval-ms", "250"}});
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_TRUE(cluster.WaitHealthy(workers, absl::Seconds(20)));

  // Inputs of 1 to 4 samples and their answers from the engine in-process.
  std::vector<Tensor> inputs, expected;
  for (int i = 0; i < 8; ++i) {
    inputs.push_back(testing::RandomImage(1 + i % 4, 100 + i));
    expected.push_back(testing::ReferenceOutput(cluster.cnn(), inputs.back()));
  }
  // Warm up: every partition in place before the clock starts.
  for (int i = 0; i < 4; ++i) {
    inference::ModelInferResponse response;
    grpc::Status st = cluster.Infer(model, inputs[i], absl::Seconds(30), &response);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_TRUE(testing::Matches(response, expected[i]));
  }
  const double retries_before = cluster.Metric("tessera_piece_retries_total");

  const absl::Duration duration = ChaosDuration();
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  Counts counts;
  std::vector<std::thread> clients;
  constexpr int kClients = 16;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      // Bounded: by time, and by count (far above what 2 cores answer).
      for (int i = 0; i < 100000 && absl::Now() < end; ++i) {
        const int k = (c + i) % static_cast<int>(inputs.size());
        inference::ModelInferResponse response;
        ++counts.sent;
        grpc::Status st = cluster.Infer(model, inputs[k], absl::Seconds(30), &response);
        if (!st.ok()) {
          ++counts.failed;
          absl::MutexLock lock(&counts.mu);
          if (counts.failures.size() < 10) {
            counts.failures.push_back(absl::StrCat(absl::FormatDuration(absl::Now() - start), ": ",
                                                   st.error_code(), " ", st.error_message()));
          }
        } else if (!testing::Matches(response, expected[k])) {
          ++counts.wrong;
        } else {
          ++counts.answered;
        }
      }
    });
  }

  // The chaos, from this thread (which spawned the workers and outlives
  // them): at 5 s, 10 s, ... a random worker gets SIGKILL, and comes back
  // on its port 2 s later; the last kill leaves time for its restart.
  std::mt19937 rng(static_cast<uint32_t>(::getpid()));
  std::vector<int> restarted(workers, 0);
  int kills = 0;
  for (absl::Time next_kill = start + absl::Seconds(5); next_kill + absl::Seconds(2) < end;
       next_kill += absl::Seconds(5)) {
    absl::SleepFor(next_kill - absl::Now());
    const int victim = std::uniform_int_distribution<int>(0, workers - 1)(rng);
    cluster.KillWorker(victim);
    ++kills;
    std::printf("[chaos] %s: killed worker %d (%s)\n", absl::FormatDuration(absl::Now() - start).c_str(), victim,
                cluster.worker_address(victim).c_str());
    absl::SleepFor(absl::Seconds(2));
    const absl::Status restarted_status = cluster.RestartWorker(victim);
    EXPECT_TRUE(restarted_status.ok()) << restarted_status;
    ++restarted[victim];
    std::printf("[chaos] %s: restarted worker %d\n", absl::FormatDuration(absl::Now() - start).c_str(), victim);
    std::fflush(stdout);
  }
  for (std::thread& t : clients) t.join();
  const absl::Duration took = absl::Now() - start;

  // Every worker is back; a few more requests, then each restarted worker
  // (its counters start at zero in the new process) has run pieces.
  // Rounds of 8 concurrent requests (a replica is chosen by load, so serial
  // requests could all go to the first one), until every worker has run
  // pieces or 20 s have passed.
  EXPECT_TRUE(cluster.WaitHealthy(workers, absl::Seconds(10)));
  const absl::Time settle_end = absl::Now() + absl::Seconds(20);
  for (int round = 0; round < 200 && absl::Now() < settle_end; ++round) {
    std::vector<std::thread> settle;
    for (int i = 0; i < 8; ++i) {
      settle.emplace_back([&, i] {
        inference::ModelInferResponse response;
        grpc::Status st = cluster.Infer(model, inputs[i % inputs.size()], absl::Seconds(30), &response);
        EXPECT_TRUE(st.ok()) << st.error_message();
      });
    }
    for (std::thread& t : settle) t.join();
    absl::StatusOr<status::GetStatusResponse> now = cluster.ClusterStatus();
    if (now.ok() && std::all_of(now->workers().begin(), now->workers().end(),
                                [](const status::WorkerStatus& w) { return w.executes_total() > 0; })) {
      break;
    }
  }
  const double retries = cluster.Metric("tessera_piece_retries_total") - retries_before;
  const double refused = cluster.Metric("tessera_piece_retries_refused_total");
  absl::StatusOr<status::GetStatusResponse> status = cluster.ClusterStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  std::string per_worker;
  for (const status::WorkerStatus& w : status->workers()) {
    absl::StrAppend(&per_worker, " ", w.address(), "=", w.executes_total(), w.healthy() ? "" : "(down)");
  }

  std::printf(
      "[chaos] %s on %d workers, %d clients, %s: %d kills; requests sent %lld, answered %lld, failed %lld, "
      "wrong %lld; pieces retried %.0f, retries refused %.0f; executes per worker since its last start:%s\n",
      model.c_str(), workers, kClients, absl::FormatDuration(took).c_str(), kills,
      static_cast<long long>(counts.sent.load()), static_cast<long long>(counts.answered.load()),
      static_cast<long long>(counts.failed.load()), static_cast<long long>(counts.wrong.load()), retries, refused,
      per_worker.c_str());
  std::fflush(stdout);

  {
    absl::MutexLock lock(&counts.mu);
    EXPECT_EQ(counts.failed.load(), 0) << absl::StrJoin(counts.failures, "\n");
  }
  EXPECT_EQ(counts.wrong.load(), 0);
  EXPECT_EQ(counts.answered.load(), counts.sent.load());
  EXPECT_GT(counts.sent.load(), kClients);
  EXPECT_GE(kills, static_cast<int>(absl::ToInt64Seconds(duration) / 5) - 1);
  // Kills while requests were in flight cost replays.
  EXPECT_GT(retries, 0);
  EXPECT_EQ(refused, 0);
  ASSERT_EQ(status->workers_size(), workers);
  for (const status::WorkerStatus& w : status->workers()) {
    EXPECT_TRUE(w.healthy()) << w.address() << ": " << w.last_error();
    // Every worker (restarted or not) has run pieces in its current process.
    EXPECT_GT(w.executes_total(), 0u) << w.address() << " got no work";
  }
}

TEST(ChaosTest, HybridTwoByTwoOnFourWorkers) { RunChaos("cnn_hybrid", 4); }

TEST(ChaosTest, DataOnThreeWorkers) { RunChaos("cnn_data", 3); }

}  // namespace
}  // namespace tessera
