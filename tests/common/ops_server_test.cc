// OpsServer over real HTTP on loopback: status codes, content types,
// 404/405, readiness flipping with the callback and with draining, the
// Prometheus exposition, and bad or busy addresses.
#include "common/ops_server.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "tests/common/http_test_client.h"

namespace tessera {
namespace {

using testing::HttpGet;
using testing::HttpRequest;

class OpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    requests_ = &prometheus::BuildCounter()
                     .Name("test_requests_total")
                     .Help("requests")
                     .Register(*registry_)
                     .Add({{"model", "m"}});
    OpsServer::Options options;
    options.listen = "127.0.0.1:0";
    options.readiness = [this]() -> absl::Status {
      absl::MutexLock lock(&mu_);
      return ready_;
    };
    options.collectables = {registry_};
    options.before_scrape = [this] { scrapes_.fetch_add(1); };
    auto server = OpsServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    address_ = server_->address();
  }

  void SetReady(absl::Status status) {
    absl::MutexLock lock(&mu_);
    ready_ = std::move(status);
  }

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* requests_ = nullptr;
  absl::Mutex mu_;
  absl::Status ready_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> scrapes_{0};
  std::unique_ptr<OpsServer> server_;
  std::string address_;
};

TEST_F(OpsServerTest, AddressHasTheRealPort) {
  EXPECT_EQ(address_, absl::StrCat("127.0.0.1:", server_->port()));
}

TEST_F(OpsServerTest, HealthzIsOk) {
  auto response = HttpGet(address_, "/healthz");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok\n");
  EXPECT_TRUE(absl::StartsWith(response->Header("Content-Type"), "text/plain")) << response->head;
}

TEST_F(OpsServerTest, ReadyzFollowsTheCallback) {
  auto response = HttpGet(address_, "/readyz");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);

  SetReady(absl::UnavailableError("0 healthy workers,\n1 needed"));
  response = HttpGet(address_, "/readyz");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, "0 healthy workers, 1 needed\n") << "one line";
  EXPECT_TRUE(absl::StartsWith(response->Header("Content-Type"), "text/plain"));

  SetReady(absl::OkStatus());
  response = HttpGet(address_, "/readyz");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

TEST_F(OpsServerTest, DrainingIsNotReadyButAlive) {
  server_->SetDraining(true);
  auto response = HttpGet(address_, "/readyz");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, "draining\n");
  EXPECT_EQ(server_->Readiness().code(), absl::StatusCode::kUnavailable);
  response = HttpGet(address_, "/healthz");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  server_->SetDraining(false);
  response = HttpGet(address_, "/readyz");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

TEST_F(OpsServerTest, MetricsAreThePrometheusTextFormat) {
  requests_->Increment(3);
  auto response = HttpGet(address_, "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Content-Type"), kPrometheusTextContentType);
  EXPECT_TRUE(absl::StrContains(response->body, "# TYPE test_requests_total counter")) << response->body;
  EXPECT_TRUE(absl::StrContains(response->body, "test_requests_total{model=\"m\"} 3")) << response->body;
  EXPECT_EQ(scrapes_.load(), 1) << "before_scrape runs once per scrape";
  EXPECT_EQ(response->Header("Content-Length"), absl::StrCat(response->body.size()));
}

TEST_F(OpsServerTest, CollectablesThatAreGoneAreSkipped) {
  registry_.reset();
  auto response = HttpGet(address_, "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "");
}

TEST_F(OpsServerTest, UnknownPathsAre404) {
  for (const char* path : {"/", "/metricsx", "/healthz/x", "/nope"}) {
    auto response = HttpGet(address_, path);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 404) << path;
  }
}

TEST_F(OpsServerTest, OtherMethodsAre405) {
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD"}) {
    auto response = HttpRequest(address_, method, "/metrics");
    ASSERT_TRUE(response.ok()) << method << ": " << response.status();
    EXPECT_EQ(response->status, 405) << method;
    EXPECT_EQ(response->Header("Allow"), "GET") << method;
  }
}

TEST_F(OpsServerTest, ABusyPortIsUnavailable) {
  auto second = OpsServer::Start({.listen = address_});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

TEST(OpsServerAddressTest, MalformedAddressesAreRefused) {
  for (const char* listen : {"", "8002", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "example.com:80",
                             "[nonsense]:80"}) {
    auto server = OpsServer::Start({.listen = listen});
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << listen;
  }
}

TEST(OpsServerAddressTest, StopsAndFreesItsPort) {
  std::string address;
  {
    auto server = OpsServer::Start({.listen = "127.0.0.1:0"});
    ASSERT_TRUE(server.ok()) << server.status();
    address = (*server)->address();
    ASSERT_TRUE(HttpGet(address, "/healthz").ok());
  }
  EXPECT_FALSE(HttpGet(address, "/healthz").ok()) << "nothing listens after the server is destroyed";
  auto again = OpsServer::Start({.listen = address});
  EXPECT_TRUE(again.ok()) << again.status();
}

// Civetweb's idle master thread polls its listening socket for 2 s at a
// time and sees mg_stop only when a poll returns; the server wakes it, so
// that a process with an ops port exits at once. Stopped 300 ms into a poll,
// an unwoken server would take about 1.7 s.
TEST(OpsServerAddressTest, StopsPromptlyWhenIdle) {
  for (const char* listen : {"127.0.0.1:0", "0.0.0.0:0", "127.0.0.1:0"}) {
    auto server = OpsServer::Start({.listen = listen});
    ASSERT_TRUE(server.ok()) << server.status();
    absl::SleepFor(absl::Milliseconds(300));
    const absl::Time start = absl::Now();
    server->reset();
    EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << listen;
  }
}

}  // namespace
}  // namespace tessera
