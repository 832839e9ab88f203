// The --workers syntax: static host:port entries and dns:///NAME:PORT names.
#include "coordinator/pool/worker_target.h"

#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

using Kind = WorkerTarget::Kind;

TEST(WorkerTargetTest, MixesStaticAndDnsEntries) {
  absl::StatusOr<std::vector<WorkerTarget>> targets =
      ParseWorkerTargets(" 10.0.0.5:8001, dns:///tessera-worker.ns.svc:8001 ,[fd00::7]:9000,dns:w:7,,");
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_EQ(targets->size(), 4u);
  EXPECT_EQ((*targets)[0], (WorkerTarget{Kind::kStatic, "10.0.0.5", 8001}));
  EXPECT_EQ((*targets)[1], (WorkerTarget{Kind::kDns, "tessera-worker.ns.svc", 8001}));
  EXPECT_EQ((*targets)[2], (WorkerTarget{Kind::kStatic, "fd00::7", 9000}));
  EXPECT_EQ((*targets)[3], (WorkerTarget{Kind::kDns, "w", 7}));
  EXPECT_EQ((*targets)[0].ToString(), "10.0.0.5:8001");
  EXPECT_EQ((*targets)[1].ToString(), "dns:///tessera-worker.ns.svc:8001");
  EXPECT_EQ((*targets)[2].ToString(), "[fd00::7]:9000");
}

TEST(WorkerTargetTest, DropsRepeatsAcrossSpellings) {
  absl::StatusOr<std::vector<WorkerTarget>> targets = ParseWorkerTargets("dns:///w:7,dns:w:7,a:1,a:1");
  ASSERT_TRUE(targets.ok()) << targets.status();
  EXPECT_EQ(targets->size(), 2u);
  EXPECT_TRUE(ParseWorkerTargets("")->empty());
}

TEST(WorkerTargetTest, RefusesMalformedEntries) {
  for (const char* bad : {"w1", "w1:http", ":80", "w1:70000", "w1:0", "dns:///w", "dns:///:80",
                          "dns://8.8.8.8/w:80", "fd00::7:80", "[fd00::7:80", "dns:///a/b:80"}) {
    absl::StatusOr<std::vector<WorkerTarget>> targets = ParseWorkerTargets(bad);
    EXPECT_EQ(targets.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    if (!targets.ok()) {
      EXPECT_NE(targets.status().message().find(bad), std::string::npos) << targets.status();
    }
  }
}

TEST(WorkerTargetTest, JoinHostPortBracketsIpv6) {
  EXPECT_EQ(JoinHostPort("10.1.2.3", 80), "10.1.2.3:80");
  EXPECT_EQ(JoinHostPort("::1", 80), "[::1]:80");
}

}  // namespace
}  // namespace tessera::coordinator
