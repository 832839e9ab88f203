#include "client/bench_command.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "client/cli.h"
#include "client/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"
#include "tests/client/delayed_completer.h"

namespace tessera::client {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------
// Ranges and flags

TEST(BenchRangeTest, ConcurrencyRangesAddOrMultiply) {
  EXPECT_THAT(*ParseConcurrencyRange("4"), ElementsAre(4));
  EXPECT_THAT(*ParseConcurrencyRange("1:8:2"), ElementsAre(1, 3, 5, 7));
  EXPECT_THAT(*ParseConcurrencyRange("2:5"), ElementsAre(2, 3, 4, 5));
  EXPECT_THAT(*ParseConcurrencyRange("1:64:x2"), ElementsAre(1, 2, 4, 8, 16, 32, 64));
  EXPECT_THAT(*ParseConcurrencyRange("3:30:x3"), ElementsAre(3, 9, 27));
}

TEST(BenchRangeTest, BadConcurrencyRangesNameTheProblem) {
  struct Case {
    const char* spec;
    const char* message;
  };
  for (const Case& c :
       {Case{"0", "START must be >= 1"}, Case{"8:1", "END must be >= START"}, Case{"1:8:0", "STEP must be >= 1"},
        Case{"1:8:x1", "F >= 2"}, Case{"a:b", "integers"}, Case{"1:2:3:4", "START[:END[:STEP]]"},
        Case{"1:1000000", "END must be <="}, Case{"1:2:x", "integers"}}) {
    absl::StatusOr<std::vector<int64_t>> range = ParseConcurrencyRange(c.spec);
    ASSERT_FALSE(range.ok()) << c.spec;
    EXPECT_EQ(range.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(range.status().message(), HasSubstr(c.message)) << c.spec;
    EXPECT_THAT(range.status().message(), HasSubstr("--concurrency-range")) << c.spec;
  }
}

TEST(BenchRangeTest, RequestRateRanges) {
  EXPECT_THAT(*ParseRequestRateRange("50"), ElementsAre(50));
  EXPECT_THAT(*ParseRequestRateRange("100:300:100"), ElementsAre(100, 200, 300));
  EXPECT_THAT(*ParseRequestRateRange("0.1:0.3:0.1"), ElementsAre(0.1, 0.2, ::testing::DoubleNear(0.3, 1e-12)));
  EXPECT_THAT(*ParseRequestRateRange("10:80:x2"), ElementsAre(10, 20, 40, 80));
  EXPECT_THAT(ParseRequestRateRange("0").status().message(), HasSubstr("the rate must be > 0"));
  EXPECT_THAT(ParseRequestRateRange("10:20:x1").status().message(), HasSubstr("F > 1"));
  EXPECT_THAT(ParseRequestRateRange("10:20:-1").status().message(), HasSubstr("STEP must be > 0"));
  EXPECT_THAT(ParseRequestRateRange("1:100000:0.001").status().message(), HasSubstr("more than 1000 steps"));
}

TEST(ParseBenchArgsTest, FullCommandLine) {
  absl::StatusOr<BenchOptions> options = ParseBenchArgs({"--server",
                                                         "h:1",
                                                         "--certs=/c",
                                                         "--model",
                                                         "m",
                                                         "--version",
                                                         "2",
                                                         "--request-rate",
                                                         "10:30:10",
                                                         "--request-distribution",
                                                         "poisson",
                                                         "--duration",
                                                         "0.5",
                                                         "--warmup=0",
                                                         "--batch",
                                                         "4",
                                                         "--input",
                                                         "a=a.npy",
                                                         "--random-input",
                                                         "b=2x3",
                                                         "--shape",
                                                         "c=3x5",
                                                         "--typed-contents",
                                                         "--csv",
                                                         "out.csv",
                                                         "--json",
                                                         "--max-outstanding",
                                                         "9",
                                                         "--timeout-ms",
                                                         "100",
                                                         "--seed",
                                                         "3"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->server, "h:1");
  EXPECT_EQ(options->tls_flags.certs_dir, "/c");
  EXPECT_EQ(options->model, "m");
  EXPECT_EQ(options->version, "2");
  EXPECT_TRUE(options->concurrencies.empty());
  EXPECT_THAT(options->rates, ElementsAre(10, 20, 30));
  EXPECT_EQ(options->distribution, RequestDistribution::kPoisson);
  EXPECT_EQ(options->duration_s, 0.5);
  EXPECT_EQ(options->warmup_s, 0);
  EXPECT_EQ(options->batch, 4);
  ASSERT_EQ(options->npy_inputs.size(), 1u);
  EXPECT_EQ(options->npy_inputs[0].path, "a.npy");
  ASSERT_EQ(options->random_inputs.size(), 1u);
  EXPECT_EQ(options->random_inputs[0].shape, (Shape{2, 3}));
  ASSERT_EQ(options->shapes.size(), 1u);
  EXPECT_EQ(options->shapes[0].name, "c");
  EXPECT_EQ(options->shapes[0].dims, (Shape{3, 5}));
  EXPECT_TRUE(options->typed_contents);
  EXPECT_EQ(options->csv_path, "out.csv");
  EXPECT_TRUE(options->json);
  EXPECT_EQ(options->max_outstanding, 9);
  EXPECT_EQ(options->timeout_ms, 100);
  EXPECT_EQ(options->seed, 3u);

  absl::StatusOr<BenchOptions> defaults = ParseBenchArgs({"--server=h:1", "--insecure", "--model=m"});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_THAT(defaults->concurrencies, ElementsAre(1));
  EXPECT_TRUE(defaults->rates.empty());
  EXPECT_EQ(defaults->duration_s, 5);
  EXPECT_EQ(defaults->warmup_s, 1);
  EXPECT_EQ(defaults->batch, 1);
  EXPECT_EQ(defaults->max_outstanding, 1024);
}

TEST(ParseBenchArgsTest, UsageErrorsNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"--server=h:1", "--insecure"}, "--model is required"},
      {{"--model=m", "--insecure"}, "--server is required"},
      {{"--server=h:1", "--model=m"}, "--certs"},
      {{"--server=h:1", "--model=m", "--insecure", "--certs=/c"}, "--insecure"},
      {{"--server=h:1", "--model=m", "--insecure", "--concurrency-range", "0:4"}, "START must be >= 1"},
      {{"--server=h:1", "--model=m", "--insecure", "--concurrency-range", "1:4", "--request-rate", "5"},
       "exclude each other"},
      {{"--server=h:1", "--model=m", "--insecure", "--request-distribution", "burst"}, "constant or poisson"},
      {{"--server=h:1", "--model=m", "--insecure", "--duration", "0"}, "--duration expects seconds > 0"},
      {{"--server=h:1", "--model=m", "--insecure", "--warmup", "-1"}, "--warmup expects seconds >= 0"},
      {{"--server=h:1", "--model=m", "--insecure", "--batch", "0"}, "--batch expects an integer >= 1"},
      {{"--server=h:1", "--model=m", "--insecure", "--max-outstanding", "x"}, "--max-outstanding"},
      {{"--server=h:1", "--model=m", "--insecure", "--shape", "x"}, "--shape expects NAME=DIMS"},
      {{"--server=h:1", "--model=m", "--insecure", "--shape", "x=3", "--shape", "x=4"}, "given twice"},
      {{"--server=h:1", "--model=m", "--insecure", "--input", "x=a.npy", "--random-input", "x"}, "given twice"},
      {{"--server=h:1", "--model=m", "--insecure", "--frobnicate"}, "unknown flag '--frobnicate'"},
      {{"--server=h:1", "--model=m", "--insecure", "--json=yes"}, "--json takes no value"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<BenchOptions> options = ParseBenchArgs(c.args);
    ASSERT_FALSE(options.ok()) << c.message;
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(options.status().message(), HasSubstr(c.message));
  }
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"bench", "--server=h:1", "--insecure", "--concurrency-range=1:8:x0", "--model=m"}, out, err),
            kExitUsageError);
  EXPECT_THAT(err.str(), HasSubstr("tessera bench: --concurrency-range '1:8:x0': the factor xF needs F >= 2"));
  out.str("");
  EXPECT_EQ(RunCli({"bench", "--help"}, out, err), kExitOk);
  EXPECT_THAT(out.str(), HasSubstr("usage: tessera bench --server ADDR"));
}

// ---------------------------------------------------------------------------
// Inputs from the metadata

inference::ModelMetadataResponse Metadata() {
  inference::ModelMetadataResponse md;
  md.set_name("echo");
  auto* x = md.add_inputs();
  x->set_name("x");
  x->set_datatype("FP32");
  x->add_shape(-1);
  x->add_shape(4);
  auto* y = md.add_inputs();
  y->set_name("y");
  y->set_datatype("INT64");
  y->add_shape(-1);
  y->add_shape(-1);
  y->add_shape(3);
  return md;
}

BenchOptions Options(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--server=h:1", "--insecure", "--model=echo"};
  args.insert(args.end(), extra.begin(), extra.end());
  absl::StatusOr<BenchOptions> options = ParseBenchArgs(args);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? *options : BenchOptions{};
}

TEST(ResolveBenchInputsTest, BatchDimFromConfigOrLeadingMinusOne) {
  for (std::optional<int64_t> max_batch : {std::optional<int64_t>(8), std::optional<int64_t>()}) {
    absl::StatusOr<std::vector<ResolvedInput>> inputs =
        ResolveBenchInputs(Options({"--batch=3", "--shape=y=5x3"}), Metadata(), max_batch);
    ASSERT_TRUE(inputs.ok()) << inputs.status();
    ASSERT_EQ(inputs->size(), 2u);
    EXPECT_EQ((*inputs)[0].name, "x");
    EXPECT_EQ((*inputs)[0].datatype, "FP32");
    EXPECT_EQ(*(*inputs)[0].shape, (Shape{3, 4}));
    EXPECT_EQ(*(*inputs)[1].shape, (Shape{3, 5, 3}));
  }
}

TEST(ResolveBenchInputsTest, FilesAndWholeShapesAreTakenAsGiven) {
  absl::StatusOr<std::vector<ResolvedInput>> inputs =
      ResolveBenchInputs(Options({"--input=x=x.npy", "--random-input=y=2x7x3"}), Metadata(), 8);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_FALSE((*inputs)[0].shape.has_value());
  EXPECT_EQ(*(*inputs)[1].shape, (Shape{2, 7, 3}));
}

TEST(ResolveBenchInputsTest, ErrorsNameTheInputAndFlag) {
  struct Case {
    std::vector<std::string> extra;
    std::optional<int64_t> max_batch;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{}, 8, "input 'y' has dynamic dims [-1,-1,3]; give their sizes with --shape y=DIMS"},
      {{"--shape=y=5x3", "--random-input=q"}, 8, "--random-input names input 'q', but model 'echo' has no such input"},
      {{"--shape=y=5x3", "--input=z=z.npy"}, 8, "--input names input 'z'"},
      {{"--shape=w=5"}, 8, "--shape names input 'w'"},
      {{"--shape=y=5"}, 8, "--shape y gives 1 dims, but the input has 2 after the batch dim"},
      {{"--shape=y=5x4"}, 8, "--shape y: dim 1 is fixed at 3, not 4"},
      {{"--shape=y=5x3", "--batch=9"}, 8, "--batch 9 exceeds model 'echo''s max_batch_size 8"},
      {{"--shape=y=5x3", "--batch=2"}, 0, "does not batch (max_batch_size 0)"},
      {{"--random-input=y=1x2x3", "--shape=y=2x3"}, 8, "--shape y conflicts"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<ResolvedInput>> inputs = ResolveBenchInputs(Options(c.extra), Metadata(), c.max_batch);
    ASSERT_FALSE(inputs.ok()) << c.message;
    EXPECT_EQ(inputs.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(inputs.status().message(), HasSubstr(c.message));
  }
  // Its inputs are listed for a wrong name.
  EXPECT_THAT(ResolveBenchInputs(Options({"--random-input=q"}), Metadata(), 8).status().message(),
              HasSubstr("its inputs are: x FP32[-1,4], y INT64[-1,-1,3]"));
}

// ---------------------------------------------------------------------------
// End to end against an in-process KServe server

// Per-request server figures the fake reports (ns).
constexpr uint64_t kQueueNs = 100000, kInputNs = 20000, kInferNs = 300000, kOutputNs = 10000;
// Per-piece stage figures: stage 1 runs 2 pieces a request, stage 2 one.
struct StageFigures {
  uint32_t stage, pieces_per_request;
  uint64_t queue_ns, compute_ns, transfer_ns;
};
constexpr StageFigures kStages[] = {{1, 2, 5000, 50000, 7000}, {2, 1, 6000, 60000, 8000}};

// A KServe service on the callback API: model "echo" (x FP32[-1,4], y
// INT64[-1,-1,3]); ModelInfer answers 2 ms later from a timer thread (never
// blocking a callback thread) and fails for version "fail"; ModelStatistics
// grows by fixed figures per answered request.
class FakeKServe final : public inference::GRPCInferenceService::CallbackService {
 public:
  bool with_config = true;
  bool with_statistics = true;

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override {
    auto* reactor = context->DefaultReactor();
    if (request->name() != "echo") {
      reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no model " + request->name()));
    } else {
      *response = Metadata();
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context, const inference::ModelConfigRequest*,
                                        inference::ModelConfigResponse* response) override {
    auto* reactor = context->DefaultReactor();
    if (!with_config) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no ModelConfig here"));
    } else {
      response->mutable_config()->set_name("echo");
      response->mutable_config()->set_max_batch_size(8);
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    auto* reactor = context->DefaultReactor();
    {
      absl::MutexLock lock(&mu_);
      last_request_ = *request;
    }
    const bool fail = request->model_version() == "fail";
    completer_.Schedule([this, reactor, response, fail] {
      if (fail) {
        reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "fake failure"));
        return;
      }
      response->set_model_name("echo");
      Count();
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override {
    auto* reactor = context->DefaultReactor();
    if (!with_statistics) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no statistics here"));
      return reactor;
    }
    absl::MutexLock lock(&mu_);
    inference::ModelStatistics other;
    other.set_name("other");
    other.mutable_inference_stats()->mutable_queue()->set_ns(123456789);
    if (request->name().empty() || request->name() == "other") *response->add_model_stats() = other;
    if (request->name().empty() || request->name() == "echo") *response->add_model_stats() = stats_;
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  inference::ModelInferRequest last_request() {
    absl::MutexLock lock(&mu_);
    return last_request_;
  }

 private:
  static void Add(inference::StatisticDuration* d, uint64_t count, uint64_t ns) {
    d->set_count(d->count() + count);
    d->set_ns(d->ns() + ns);
  }

  void Count() {
    absl::MutexLock lock(&mu_);
    if (stats_.name().empty()) {
      stats_.set_name("echo");
      stats_.set_version("1");
      for (const StageFigures& f : kStages) {
        stats_.add_stage_stats()->set_stage(f.stage);
      }
    }
    inference::InferStatistics* s = stats_.mutable_inference_stats();
    Add(s->mutable_success(), 1, 2000000);
    Add(s->mutable_queue(), 1, kQueueNs);
    Add(s->mutable_compute_input(), 1, kInputNs);
    Add(s->mutable_compute_infer(), 1, kInferNs);
    Add(s->mutable_compute_output(), 1, kOutputNs);
    for (int i = 0; i < stats_.stage_stats_size(); ++i) {
      const StageFigures& f = kStages[i];
      inference::StageStatistics* stage = stats_.mutable_stage_stats(i);
      stage->set_workers(2);
      Add(stage->mutable_dispatch(), f.pieces_per_request,
          f.pieces_per_request * (f.queue_ns + f.compute_ns + f.transfer_ns));
      Add(stage->mutable_queue(), f.pieces_per_request, f.pieces_per_request * f.queue_ns);
      Add(stage->mutable_compute(), f.pieces_per_request, f.pieces_per_request * f.compute_ns);
      Add(stage->mutable_transfer(), f.pieces_per_request, f.pieces_per_request * f.transfer_ns);
    }
  }

  test_support::DelayedCompleter completer_{std::chrono::milliseconds(2)};
  absl::Mutex mu_;
  inference::ModelInferRequest last_request_ ABSL_GUARDED_BY(mu_);
  inference::ModelStatistics stats_ ABSL_GUARDED_BY(mu_);
};

class BenchEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("bench_command_test_", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_",
                        ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    fs::remove_all(dir_);
  }

  void Start() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    address_ = absl::StrCat("127.0.0.1:", port);
  }

  int Bench(std::vector<std::string> extra) {
    std::vector<std::string> args = {"bench", "--server",   address_, "--insecure", "--model",
                                     "echo",  "--duration", "0.4",    "--warmup",   "0.1"};
    args.insert(args.end(), extra.begin(), extra.end());
    out_.str("");
    err_.str("");
    return RunCli(args, out_, err_);
  }

  std::string ReadFile(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  fs::path dir_;
  FakeKServe service_;  // outlives the server: Shutdown waits for its timer
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(BenchEndToEndTest, ConcurrencyStepsCsvAndServerBreakdown) {
  Start();
  const fs::path csv = dir_ / "bench.csv";
  ASSERT_EQ(Bench({"--concurrency-range", "1:3:2", "--batch", "2", "--shape", "y=5x3", "--csv", csv.string()}), kExitOk)
      << err_.str();
  const std::vector<std::string> lines = absl::StrSplit(ReadFile(csv), '\n');
  ASSERT_EQ(lines.size(), 4u) << ReadFile(csv);
  EXPECT_EQ(lines[0],
            "Concurrency,Inferences/Second,Requests/Second,Errors,p50 latency,p90 latency,p95 latency,p99 latency,"
            "Avg latency,Max latency,Server Queue,Server Compute Input,Server Compute Infer,Server Compute Output,"
            "Stage 1 Queue,Stage 1 Compute,Stage 1 Transfer,Stage 2 Queue,Stage 2 Compute,Stage 2 Transfer");
  for (int row = 1; row <= 2; ++row) {
    const std::vector<std::string> cells = absl::StrSplit(lines[row], ',');
    ASSERT_EQ(cells.size(), 20u) << lines[row];
    EXPECT_EQ(cells[0], row == 1 ? "1" : "3");
    double infer_per_s = 0, requests_per_s = 0, p50_us = 0;
    ASSERT_TRUE(absl::SimpleAtod(cells[1], &infer_per_s));
    ASSERT_TRUE(absl::SimpleAtod(cells[2], &requests_per_s));
    ASSERT_TRUE(absl::SimpleAtod(cells[4], &p50_us));
    EXPECT_GT(requests_per_s, 0);
    EXPECT_NEAR(infer_per_s, 2 * requests_per_s, 0.011);
    // The fake answers 2 ms after each request arrives.
    EXPECT_GE(p50_us, 2000);
    // A closed loop of N with 2 ms answers cannot exceed N / 2 ms.
    EXPECT_LE(requests_per_s, (row == 1 ? 1 : 3) * 500 * 1.05);
    EXPECT_EQ(cells[3], "0");
    // The fake's per-request and per-piece figures, exactly.
    EXPECT_THAT(std::vector<std::string>(cells.begin() + 10, cells.end()),
                ElementsAre("100", "20", "300", "10", "5", "50", "7", "6", "60", "8"));
  }
  EXPECT_EQ(lines[3], "");

  EXPECT_THAT(out_.str(), HasSubstr("model echo, batch 2"));
  EXPECT_THAT(
      out_.str(),
      HasSubstr("concurrency 3: request 2.000 ms: queue 0.100 ms, compute input 0.020 ms, compute infer 0.300 ms, "
                "compute output 0.010 ms"));
  EXPECT_THAT(out_.str(), HasSubstr("queue 0.005 ms, compute 0.050 ms, transfer 0.007 ms"));
  const inference::ModelInferRequest request = service_.last_request();
  ASSERT_EQ(request.inputs_size(), 2);
  EXPECT_EQ(request.inputs(0).name(), "x");
  EXPECT_THAT(request.inputs(0).shape(), ElementsAre(2, 4));
  EXPECT_THAT(request.inputs(1).shape(), ElementsAre(2, 5, 3));
  ASSERT_EQ(request.raw_input_contents_size(), 2);
  EXPECT_EQ(request.raw_input_contents(0).size(), 2u * 4 * 4);
  EXPECT_EQ(request.raw_input_contents(1).size(), 2u * 5 * 3 * 8);
}

TEST_F(BenchEndToEndTest, RequestRateJson) {
  Start();
  ASSERT_EQ(Bench({"--request-rate", "100", "--shape", "y=1x3", "--json"}), kExitOk) << err_.str();
  const std::string json = out_.str();
  EXPECT_THAT(json, HasSubstr("{\"model\": \"echo\", \"batch\": 1, \"steps\": [{\"request_rate\": 100.000000, "));
  EXPECT_THAT(json, HasSubstr("\"errors\": 0, \"first_error\": \"\", \"delayed\": 0"));
  EXPECT_THAT(json, HasSubstr("\"server\": {\"requests\": "));
  EXPECT_THAT(json, HasSubstr(", \"request_us\": 2000.000000, \"queue_us\""));
  EXPECT_THAT(json, HasSubstr("\"queue_us\": 100.000000, \"compute_input_us\": 20.000000, \"compute_infer_us\": "
                              "300.000000, \"compute_output_us\": 10.000000, \"stages\": [{\"stage\": 1, "
                              "\"workers\": 2, \"pieces\": "));
  EXPECT_THAT(json, HasSubstr("\"queue_us\": 6.000000, \"compute_us\": 60.000000, \"transfer_us\": 8.000000}]}}]}"));
  EXPECT_THAT(json, ::testing::Not(HasSubstr("concurrency")));
  // About 40 requests in a 0.4 s window at 100/s.
  const size_t at = json.find("\"requests\": ");
  ASSERT_NE(at, std::string::npos);
  const int requests = std::stoi(json.substr(at + 12));
  EXPECT_GE(requests, 30);
  EXPECT_LE(requests, 45);
}

TEST_F(BenchEndToEndTest, BareServerWithoutConfigOrStatistics) {
  service_.with_config = false;
  service_.with_statistics = false;
  Start();
  ASSERT_EQ(Bench({"--batch", "3", "--shape", "y=2x3", "--typed-contents"}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("server breakdown: not available"));
  EXPECT_THAT(err_.str(), ::testing::Not(HasSubstr("note")));
  const inference::ModelInferRequest request = service_.last_request();
  ASSERT_EQ(request.inputs_size(), 2);
  EXPECT_THAT(request.inputs(0).shape(), ElementsAre(3, 4));
  EXPECT_EQ(request.inputs(0).contents().fp32_contents_size(), 12);
  EXPECT_EQ(request.inputs(1).contents().int64_contents_size(), 18);
  EXPECT_EQ(request.raw_input_contents_size(), 0);
}

TEST_F(BenchEndToEndTest, FailedRequestsStillPrintTheTableAndExitNonzero) {
  Start();
  EXPECT_EQ(Bench({"--version", "fail", "--shape", "y=1x3", "--concurrency-range", "2"}), kExitRuntimeError);
  EXPECT_THAT(out_.str(), HasSubstr("concurrency  requests  errors"));
  EXPECT_THAT(out_.str(), HasSubstr("concurrency 2: "));
  EXPECT_THAT(out_.str(), HasSubstr("errors; first: INTERNAL: fake failure"));
  EXPECT_THAT(err_.str(), HasSubstr("request(s) failed"));
}

TEST_F(BenchEndToEndTest, InputProblemsAreUsageErrors) {
  Start();
  EXPECT_EQ(Bench({}), kExitUsageError);
  EXPECT_THAT(err_.str(), HasSubstr("input 'y' has dynamic dims [-1,-1,3]; give their sizes with --shape y=DIMS"));
  EXPECT_EQ(Bench({"--shape", "y=1x3", "--random-input", "nope"}), kExitUsageError);
  EXPECT_THAT(err_.str(), HasSubstr("--random-input names input 'nope'"));
  EXPECT_EQ(Bench({"--shape", "y=1x3", "--batch", "9"}), kExitUsageError);
  EXPECT_THAT(err_.str(), HasSubstr("max_batch_size 8"));
  // An unknown model is the server's answer: a runtime error.
  out_.str("");
  std::vector<std::string> args = {"bench", "--server", address_, "--insecure", "--model", "ghost"};
  EXPECT_EQ(RunCli(args, out_, err_), kExitRuntimeError);
  EXPECT_THAT(err_.str(), HasSubstr("ModelMetadata failed: NOT_FOUND: no model ghost"));
}

}  // namespace
}  // namespace tessera::client
