// `tessera status`: argument parsing, and the text and JSON renderings of a
// snapshot (the call itself runs against real processes in
// tests/integration/discovery_test.cc).
#include "client/status_command.h"

#include <sstream>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "client/cli.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

status::GetStatusResponse Snapshot() {
  status::GetStatusResponse snapshot;
  snapshot.set_version("dev");
  status::ModelStatus* cnn = snapshot.add_models();
  cnn->set_name("cnn");
  cnn->set_version("1");
  cnn->set_ready(true);
  status::ModelPlan* plan = cnn->mutable_plan();
  plan->set_strategy("PIPELINE");
  plan->set_stages(2);
  plan->set_replicas(1);
  plan->set_micro_batch_size(4);
  plan->set_plan_source("measured on workers");
  for (int s = 0; s < 2; ++s) {
    status::StagePlacement* stage = plan->add_stage_placements();
    stage->set_stage_index(s);
    stage->set_partition_id(s == 0 ? "aaaaaaaaaaaaaaaa0000" : "bbbbbbbbbbbbbbbb1111");
    stage->set_partition_bytes(3 << 20);
    if (s == 0) stage->add_workers("10.0.0.2:8001");
  }
  status::ModelStatus* big = snapshot.add_models();
  big->set_name("big");
  big->set_version("3");
  big->set_ready(false);
  big->set_reason("needs 4 workers, 2 healthy");

  status::WorkerStatus* w1 = snapshot.add_workers();
  w1->set_address("10.0.0.2:8001");
  w1->set_tls_server_name("tessera-worker");
  w1->set_healthy(true);
  w1->set_in_flight(3);
  w1->set_memory_in_use_bytes(12 << 20);
  w1->set_memory_budget_bytes(uint64_t{512} << 20);
  w1->set_samples_per_second(120.25);
  w1->set_utilization(0.5);
  w1->set_executes_total(340);
  w1->set_executes_failed(2);
  status::LoadedPartition* loaded = w1->add_partitions();
  loaded->set_partition_id("aaaaaaaaaaaaaaaa0000");
  loaded->set_model_name("cnn");
  loaded->set_model_version("1");
  loaded->set_stage_index(0);
  loaded->set_stage_count(2);
  status::WorkerStatus* w2 = snapshot.add_workers();
  w2->set_address("static:9");
  w2->set_healthy(false);
  w2->set_last_error("UNAVAILABLE: connection refused \"quoted\"");
  return snapshot;
}

TEST(StatusCommandTest, ParsesItsFlags) {
  absl::StatusOr<StatusOptions> options =
      ParseStatusArgs({"--server", "c:8000", "--ca=ca.pem", "--cert", "c.pem", "--key", "c.key", "--json"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->server, "c:8000");
  EXPECT_TRUE(options->json);
  EXPECT_EQ(options->tls().files.ca, "ca.pem");
  EXPECT_EQ(options->tls().files.key, "c.key");
  options = ParseStatusArgs({"--server", "c:8000", "--certs", "dir", "--server-name", "coordinator"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->tls().files.cert, "dir/client.pem");
  EXPECT_EQ(options->tls().expected_server_name, "coordinator");
  EXPECT_TRUE(ParseStatusArgs({"--help"})->help);

  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--certs", "d"},                                    // no server
           {"--server", "c:1"},                                 // no credentials
           {"--server", "c:1", "--ca", "a"},                    // incomplete files
           {"--server", "c:1", "--certs", "d", "--insecure"},   // two modes
           {"--server", "c:1", "--insecure", "--server-name", "n"},
           {"--server", "c:1", "--insecure", "--timeout-ms", "-1"},
           {"--server", "c:1", "--insecure", "--json=1"},
           {"--server", "c:1", "--insecure", "--model", "m"},
           {"--server"}}) {
    EXPECT_EQ(ParseStatusArgs(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad.size();
  }
}

TEST(StatusCommandTest, TextShowsModelsPlansPlacementsAndWorkers) {
  const std::string text = FormatStatusText(Snapshot());
  EXPECT_THAT(text, HasSubstr("MODELS (2)"));
  EXPECT_THAT(text, HasSubstr("WORKERS (2)"));
  // Header and row line up in columns.
  EXPECT_THAT(text, HasSubstr("  NAME  VERSION  READY  STRATEGY  STAGES  REPLICAS  MICRO-BATCH\n"
                              "  cnn   1        yes    PIPELINE  2       1         4\n"));
  // One summary table for all models, then each model's placement.
  EXPECT_EQ(text.find("NAME  VERSION"), text.rfind("NAME  VERSION")) << text;
  EXPECT_LT(text.find("PLACEMENT\n  cnn version 1\n"), text.find("WORKERS")) << text;
  EXPECT_THAT(text, HasSubstr("  cnn version 1\n    plan costs: measured on workers\n    stage 0"));
  EXPECT_EQ(text.find("plan costs"), text.rfind("plan costs")) << text;  // not for the undeployed model
  EXPECT_THAT(text, HasSubstr("stage 0  partition aaaaaaaaaaaa  3.0 MiB  held by 10.0.0.2:8001"));
  EXPECT_THAT(text, HasSubstr("stage 1  partition bbbbbbbbbbbb  3.0 MiB  held by no worker yet"));
  EXPECT_THAT(text, HasSubstr("not ready: needs 4 workers, 2 healthy"));
  EXPECT_THAT(text, HasSubstr("10.0.0.2:8001  tessera-worker  yes"));
  EXPECT_THAT(text, HasSubstr("12.0 MiB / 512.0 MiB"));
  EXPECT_THAT(text, HasSubstr("120.2"));
  EXPECT_THAT(text, HasSubstr("50%"));
  EXPECT_THAT(text, HasSubstr("340 (2 failed)"));
  EXPECT_THAT(text, HasSubstr("cnn/1:0/2"));
  EXPECT_THAT(text, HasSubstr("static:9       -               no"));
  EXPECT_THAT(text, HasSubstr("unhealthy workers:\n  static:9: UNAVAILABLE: connection refused"));
  EXPECT_THAT(FormatStatusText({}), HasSubstr("MODELS (0)\n  none\n"));
  EXPECT_THAT(FormatStatusText({}), Not(HasSubstr("unhealthy")));
}

TEST(StatusCommandTest, JsonIsOneObjectWithEveryField) {
  const std::string json = FormatStatusJson(Snapshot());
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  EXPECT_EQ(parsed.fields().at("version").string_value(), "dev");
  const auto& models = parsed.fields().at("models").list_value().values();
  ASSERT_EQ(models.size(), 2);
  const auto& cnn = models[0].struct_value().fields();
  EXPECT_TRUE(cnn.at("ready").bool_value());
  const auto& plan = cnn.at("plan").struct_value().fields();
  EXPECT_EQ(plan.at("strategy").string_value(), "PIPELINE");
  EXPECT_EQ(plan.at("stages").number_value(), 2);
  EXPECT_EQ(plan.at("micro_batch_size").number_value(), 4);
  EXPECT_EQ(plan.at("plan_source").string_value(), "measured on workers");
  const auto& placements = plan.at("placements").list_value().values();
  ASSERT_EQ(placements.size(), 2);
  EXPECT_EQ(placements[0].struct_value().fields().at("workers").list_value().values(0).string_value(),
            "10.0.0.2:8001");
  const auto& big = models[1].struct_value().fields();
  EXPECT_FALSE(big.at("ready").bool_value());
  EXPECT_EQ(big.at("plan").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(big.at("reason").string_value(), "needs 4 workers, 2 healthy");
  const auto& workers = parsed.fields().at("workers").list_value().values();
  ASSERT_EQ(workers.size(), 2);
  const auto& w1 = workers[0].struct_value().fields();
  EXPECT_EQ(w1.at("tls_server_name").string_value(), "tessera-worker");
  EXPECT_EQ(w1.at("in_flight").number_value(), 3);
  EXPECT_EQ(w1.at("memory_budget_bytes").number_value(), 512 << 20);
  EXPECT_EQ(w1.at("executes_total").number_value(), 340);
  EXPECT_DOUBLE_EQ(w1.at("utilization").number_value(), 0.5);
  EXPECT_EQ(w1.at("partitions").list_value().values(0).struct_value().fields().at("stage_count").number_value(), 2);
  EXPECT_EQ(workers[1].struct_value().fields().at("last_error").string_value(),
            "UNAVAILABLE: connection refused \"quoted\"");
}

TEST(StatusCommandTest, CliRoutesStatusAndReportsAnUnreachableServer) {
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"status", "--help"}, out, err), 0);
  EXPECT_THAT(out.str(), HasSubstr("usage: tessera status"));
  std::ostringstream out2, err2;
  EXPECT_EQ(RunCli({"status", "--server", "127.0.0.1:1", "--insecure", "--timeout-ms", "2000"}, out2, err2), 1);
  EXPECT_THAT(err2.str(), HasSubstr("GetStatus failed: UNAVAILABLE"));
  std::ostringstream out3, err3;
  EXPECT_EQ(RunCli({"status"}, out3, err3), 2);
}

}  // namespace
}  // namespace tessera::client
