#include "client/bench_report.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

BenchReport TwoSteps() {
  BenchReport report;
  report.model = "cnn";
  report.batch = 4;
  LoadStepResult first;
  first.completed = 4;
  first.window_seconds = 2;
  first.latencies_ms = {1, 2, 3, 4};
  BenchStepReport a = SummarizeStep(first, 4);
  a.concurrency = 1;
  a.has_server = true;
  a.server.requests = 4;
  a.server.request_us = 1500;
  a.server.queue_us = 100;
  a.server.compute_input_us = 20;
  a.server.compute_infer_us = 300;
  a.server.compute_output_us = 10;
  a.server.stages = {{1, 2, 8, 5, 50, 7}, {2, 1, 4, 6, 60, 8}};
  LoadStepResult second;
  second.completed = 0;
  second.window_seconds = 1;
  second.errors = 3;
  second.first_error = "UNAVAILABLE: gone";
  BenchStepReport b = SummarizeStep(second, 4);
  b.concurrency = 2;
  report.steps = {a, b};
  return report;
}

TEST(BenchReportTest, SummarizeStepRatesOverTheWindow) {
  const BenchReport report = TwoSteps();
  const BenchStepReport& a = report.steps[0];
  EXPECT_DOUBLE_EQ(a.requests_per_second, 2);
  EXPECT_DOUBLE_EQ(a.inferences_per_second, 8);
  EXPECT_DOUBLE_EQ(a.latency_ms.mean, 2.5);
  EXPECT_DOUBLE_EQ(a.latency_ms.p50, 2.5);
  EXPECT_NEAR(a.latency_ms.p95, 3.85, 1e-12);
  EXPECT_DOUBLE_EQ(a.latency_ms.max, 4);
}

TEST(BenchReportTest, TableHasOneLinePerStepThenBreakdownAndErrors) {
  const std::string table = FormatBenchTable(TwoSteps());
  EXPECT_THAT(table, HasSubstr("model cnn, batch 4"));
  EXPECT_THAT(table, HasSubstr("concurrency  requests  errors"));
  EXPECT_THAT(table, HasSubstr("          1         4       0        8.00       2.00     2.500     2.500     3.700     "
                               "3.850     3.970     4.000"));
  EXPECT_THAT(
      table,
      HasSubstr("concurrency 1: request 1.500 ms: queue 0.100 ms, compute input 0.020 ms, compute infer 0.300 ms, "
                "compute output 0.010 ms (4 requests)"));
  EXPECT_THAT(table, HasSubstr("stage 1 (2 workers, 8 pieces): queue 0.005 ms, compute 0.050 ms, transfer 0.007 ms"));
  EXPECT_THAT(table, HasSubstr("concurrency 2: 3 errors; first: UNAVAILABLE: gone"));
  EXPECT_THAT(table, Not(HasSubstr("delayed")));
}

TEST(BenchReportTest, CsvHeaderAndRowsInMicroseconds) {
  const std::vector<std::string> lines = absl::StrSplit(FormatBenchCsv(TwoSteps()), '\n');
  ASSERT_EQ(lines.size(), 4u);  // header, two rows, final newline
  EXPECT_EQ(lines[0],
            "Concurrency,Inferences/Second,Requests/Second,Errors,p50 latency,p90 latency,p95 latency,p99 latency,"
            "Avg latency,Max latency,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,"
            "Stage 1 Queue,Stage 1 Compute,Stage 1 Transfer,Stage 2 Queue,Stage 2 Compute,Stage 2 Transfer");
  EXPECT_EQ(lines[1], "1,8.00,2.00,0,2500,3700,3850,3970,2500,4000,100,20,300,10,5,50,7,6,60,8");
  EXPECT_EQ(lines[2], "2,0.00,0.00,3,0,0,0,0,0,0,,,,,,,,,,");
  EXPECT_EQ(lines[3], "");
}

TEST(BenchReportTest, RateModeLabelsStepsByRateAndReportsDelayed) {
  BenchReport report;
  report.model = "m";
  report.rate_mode = true;
  LoadStepResult r;
  r.completed = 10;
  r.delayed = 7;
  r.window_seconds = 1;
  BenchStepReport step = SummarizeStep(r, 1);
  step.rate = 12.5;
  report.steps = {step};
  const std::string csv = FormatBenchCsv(report);
  EXPECT_THAT(csv, HasSubstr("Request Rate,Inferences/Second,Requests/Second,Errors,Delayed Requests,p50"));
  EXPECT_THAT(csv, HasSubstr("\n12.5,10.00,10.00,0,7,"));
  const std::string table = FormatBenchTable(report);
  EXPECT_THAT(table, HasSubstr("delayed"));
  EXPECT_THAT(table, HasSubstr("server breakdown: not available"));
  EXPECT_THAT(FormatBenchJson(report), HasSubstr("{\"request_rate\": 12.500000, \"requests\": 10, "));
}

TEST(BenchReportTest, JsonObjectWithStepsAndServer) {
  const std::string json = FormatBenchJson(TwoSteps());
  EXPECT_THAT(json, HasSubstr("{\"model\": \"cnn\", \"batch\": 4, \"steps\": [{\"concurrency\": 1, "));
  EXPECT_THAT(json, HasSubstr("\"inferences_per_s\": 8.000000, \"requests_per_s\": 2.000000, \"latency_ms\": "
                              "{\"avg\": 2.500000, \"p50\": 2.500000, \"p90\": 3.700000, \"p95\": 3.850000, "
                              "\"p99\": 3.970000, \"max\": 4.000000}"));
  EXPECT_THAT(
      json,
      HasSubstr(
          "\"server\": {\"requests\": 4, \"request_us\": 1500.000000, \"queue_us\": 100.000000, \"compute_input_us\": "
          "20.000000, \"compute_infer_us\": 300.000000, \"compute_output_us\": 10.000000, "
          "\"stages\": [{\"stage\": 1, \"workers\": 2, \"pieces\": 8, \"queue_us\": 5.000000"));
  EXPECT_THAT(json, HasSubstr("\"errors\": 3, \"first_error\": \"UNAVAILABLE: gone\""));
  EXPECT_THAT(json, HasSubstr("\"server\": null}]}\n"));
}

}  // namespace
}  // namespace tessera::client
