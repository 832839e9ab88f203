#include "client/plan_command.h"

#include <sstream>

#include "client/exit_codes.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

const std::string kResnet = std::string(TESSERA_SOURCE_DIR) + "/tests/testdata/planner_resnet.onnx";

TEST(PlanCommandTest, PrintsStagesAndCuts) {
  std::ostringstream out, err;
  EXPECT_EQ(PlanCommand({"--model", kResnet, "--stages", "3", "--measure-runs=0", "--threads", "2"}, out, err), kExitOk)
      << err.str();
  EXPECT_NE(out.str().find("3 stages"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("stage 2:"), std::string::npos);
  EXPECT_NE(out.str().find("-- cut 0|1"), std::string::npos);
  EXPECT_NE(out.str().find("<- request"), std::string::npos);
}

TEST(PlanCommandTest, JsonIsOneObject) {
  std::ostringstream out, err;
  EXPECT_EQ(PlanCommand({"--model=" + kResnet, "--stages=2", "--measure-runs=0", "--json"}, out, err), kExitOk)
      << err.str();
  const std::string s = out.str();
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s.front(), '{');
  EXPECT_NE(s.find("\"cut_bytes\": ["), std::string::npos);
  EXPECT_NE(s.find("\"source\": \"request\""), std::string::npos);
}

TEST(PlanCommandTest, WorkersShowTheStrategyTheCoordinatorWouldChoose) {
  std::ostringstream out, err;
  // planner_resnet.onnx is about 180 KB: no budget -> DATA on every worker.
  EXPECT_EQ(PlanCommand({"--model", kResnet, "--workers", "3", "--measure-runs=0"}, out, err), kExitOk) << err.str();
  EXPECT_NE(out.str().find("strategy: DATA, 1 stage(s) x 3 replica(s) on 3 workers"), std::string::npos) << out.str();
  // A 100 KB budget (75 KB usable): 3 stages; 6 workers -> HYBRID 3 x 2.
  out.str("");
  EXPECT_EQ(PlanCommand({"--model", kResnet, "--workers", "6", "--worker-memory-mb", "0", "--measure-runs=0",
                         "--strategy", "HYBRID", "--stages", "3"},
                        out, err),
            kExitOk)
      << err.str();
  EXPECT_NE(out.str().find("strategy: HYBRID, 3 stage(s) x 2 replica(s)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("3 stages"), std::string::npos) << out.str();
  // PIPELINE over more stages than workers is refused, naming both counts.
  out.str("");
  err.str("");
  EXPECT_EQ(PlanCommand({"--model", kResnet, "--workers", "2", "--strategy", "PIPELINE", "--stages", "3",
                         "--measure-runs=0"},
                        out, err),
            kExitRuntimeError);
  EXPECT_NE(err.str().find("needs 3 workers; 2 are available"), std::string::npos) << err.str();
  out.str("");
  EXPECT_EQ(PlanCommand({"--model", kResnet, "--workers", "2", "--strategy", "SIDEWAYS"}, out, err), kExitUsageError);
}

TEST(PlanCommandTest, UsageAndRuntimeErrors) {
  std::ostringstream out, err;
  EXPECT_EQ(PlanCommand({"--model", kResnet}, out, err), kExitUsageError);
  EXPECT_NE(err.str().find("--stages is required"), std::string::npos);
  EXPECT_EQ(PlanCommand({"--model", kResnet, "--stages", "0"}, out, err), kExitUsageError);
  EXPECT_EQ(PlanCommand({"--model", kResnet, "--stages", "2", "--bogus"}, out, err), kExitUsageError);
  EXPECT_EQ(PlanCommand({"--model", "/nonexistent.onnx", "--stages", "2"}, out, err), kExitRuntimeError);
  std::ostringstream err2;
  EXPECT_EQ(PlanCommand({"--model", kResnet, "--stages", "100000", "--measure-runs=0"}, out, err2), kExitRuntimeError);
  EXPECT_NE(err2.str().find("stages"), std::string::npos) << err2.str();
  std::ostringstream help;
  EXPECT_EQ(PlanCommand({"--help"}, help, err), kExitOk);
  EXPECT_NE(help.str().find("usage: tessera plan"), std::string::npos);
}

}  // namespace
}  // namespace tessera::client
