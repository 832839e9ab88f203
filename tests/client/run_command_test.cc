#include "client/run_command.h"

#include <atomic>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/exit_codes.h"
#include "common/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/onnx_test_models.h"

namespace tessera::client {
namespace {

namespace fs = std::filesystem;
using engine::Engine;
using engine::EngineOptions;
using engine::NamedTensor;
using engine::TensorInfo;
using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

// What the fake engine saw; shared with the test.
struct FakeEngineLog {
  std::atomic<int> runs{0};
  int threads = -1;
  std::vector<NamedTensor> last_inputs;
};

// An engine whose every output is Relu of its first input, or a failure.
class FakeEngine : public Engine {
 public:
  FakeEngine(std::vector<TensorInfo> inputs, std::vector<TensorInfo> outputs, FakeEngineLog* log, bool fail_runs)
      : inputs_(std::move(inputs)), outputs_(std::move(outputs)), log_(log), fail_runs_(fail_runs) {}

  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  std::vector<engine::OpProfile> Profile() const override { return {}; }

  absl::StatusOr<std::vector<Tensor>> Run(absl::Span<const NamedTensor> inputs) const override {
    ++log_->runs;
    log_->last_inputs.assign(inputs.begin(), inputs.end());
    if (fail_runs_) return absl::InternalError("kernel exploded");
    if (inputs.size() != inputs_.size()) return absl::InvalidArgumentError("wrong number of inputs");
    std::vector<Tensor> results;
    for (size_t i = 0; i < outputs_.size(); ++i) {
      Tensor out = inputs[0].tensor.Clone();
      if (out.dtype() == DataType::kFloat32) {
        float* v = out.data<float>();
        for (int64_t k = 0; k < out.num_elements(); ++k) v[k] = v[k] > 0 ? v[k] : 0;
      }
      results.push_back(out);
    }
    return results;
  }

 private:
  std::vector<TensorInfo> inputs_, outputs_;
  FakeEngineLog* log_;
  bool fail_runs_;
};

class RunCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("tessera_run_test_", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    model_ = (dir_ / "model.onnx").string();
    testing::WriteFile(model_, "not read by the fake engine");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs with a fake engine declaring `inputs` and `outputs`.
  int Run(const std::vector<std::string>& args, std::vector<TensorInfo> inputs = {{"x", DataType::kFloat32, {-1, 3}}},
          std::vector<TensorInfo> outputs = {{"y", DataType::kFloat32, {-1, 3}}}, bool fail_load = false,
          bool fail_runs = false) {
    std::ostringstream out, err;
    const int code = RunCommand(args, out, err, [&](const std::string& path, const EngineOptions& options)
                                                    -> absl::StatusOr<std::unique_ptr<Engine>> {
      EXPECT_EQ(path, model_);
      log_.threads = options.intra_op_threads;
      if (fail_load) return absl::InvalidArgumentError("model is broken");
      return std::make_unique<FakeEngine>(inputs, outputs, &log_, fail_runs);
    });
    out_ = out.str();
    err_ = err.str();
    return code;
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::string WriteInput(const std::string& name, const Tensor& tensor) {
    const std::string path = Path(name);
    EXPECT_TRUE(WriteNpyFile(path, tensor).ok());
    return path;
  }

  fs::path dir_;
  std::string model_;
  std::string out_, err_;
  FakeEngineLog log_;
};

TEST_F(RunCommandTest, JsonWithoutIterationsIsExactlyOneObject) {
  const std::string x = WriteInput("x.npy", Tensor::FromVector<float>({2, 3}, {-1, 2, -3, 4, -5, 6}));
  ASSERT_EQ(Run({"--model", model_, "--input", "x=" + x, "--json"}), kExitOk) << err_;
  EXPECT_EQ(out_, "{\"outputs\": {\"y\": {\"shape\": [2, 3], \"dtype\": \"float32\"}}}\n");
  EXPECT_THAT(err_, IsEmpty());
  EXPECT_EQ(log_.runs, 1);
  EXPECT_EQ(log_.threads, 0);
}

TEST_F(RunCommandTest, JsonWithIterationsReportsLatencyAndSkipsWarmupFromTiming) {
  ASSERT_EQ(Run({"--model=" + model_, "--random-input=x=4x3", "--iterations", "5", "--threads", "2", "--json"}),
            kExitOk)
      << err_;
  EXPECT_THAT(out_, MatchesRegex(R"(\{"outputs": \{"y": \{"shape": \[4, 3\], "dtype": "float32"\}\}, )"
                                 R"("latency_ms": \{"min": [0-9.]+, "p50": [0-9.]+, "p90": [0-9.]+, )"
                                 R"("p99": [0-9.]+, "mean": [0-9.]+\}, "iterations": 5\}
)"));
  EXPECT_EQ(log_.runs, 6);  // default warmup 1 + 5 timed
  EXPECT_EQ(log_.threads, 2);

  log_.runs = 0;
  ASSERT_EQ(Run({"--model", model_, "--random-input", "x=1x3", "--iterations", "2", "--warmup", "3", "--json"}),
            kExitOk);
  EXPECT_EQ(log_.runs, 5);
  log_.runs = 0;
  ASSERT_EQ(Run({"--model", model_, "--random-input", "x=1x3", "--iterations", "2", "--warmup", "0"}), kExitOk);
  EXPECT_EQ(log_.runs, 2);
}

TEST_F(RunCommandTest, OutputDirHoldsOneNpyPerOutputWithSanitizedNames) {
  const std::string x = WriteInput("x.npy", Tensor::FromVector<float>({1, 3}, {-1, 0.5f, 2}));
  const std::string out_dir = Path("outputs/nested");
  ASSERT_EQ(Run({"--model", model_, "--input", "x=" + x, "--output-dir", out_dir},
                {{"x", DataType::kFloat32, {-1, 3}}},
                {{"scores/prob", DataType::kFloat32, {-1, 3}}, {"scores_prob", DataType::kFloat32, {-1, 3}},
                 {"..", DataType::kFloat32, {-1, 3}}}),
            kExitOk)
      << err_;
  for (const char* file : {"scores_prob.npy", "scores_prob_1.npy", "_.npy"}) {
    absl::StatusOr<Tensor> y = ReadNpyFile((fs::path(out_dir) / file).string());
    ASSERT_TRUE(y.ok()) << file << ": " << y.status();
    EXPECT_EQ(y->shape(), (Shape{1, 3}));
    EXPECT_THAT(y->values<float>(), ::testing::ElementsAre(0, 0.5f, 2));
  }
}

TEST_F(RunCommandTest, OutputFileNames) {
  EXPECT_EQ(OutputFileName("logits"), "logits.npy");
  EXPECT_EQ(OutputFileName("a/b\\c"), "a_b_c.npy");
  EXPECT_EQ(OutputFileName(""), "_.npy");
  EXPECT_EQ(OutputFileName("."), "_.npy");
}

TEST_F(RunCommandTest, TextSummaryShowsOutputsAndLatency) {
  const std::string x = WriteInput("x.npy", Tensor::FromVector<float>({2, 3}, {-1, 2, -3, 4, -5, 6}));
  ASSERT_EQ(Run({"--model", model_, "--input", "x=" + x, "--iterations", "3"}), kExitOk) << err_;
  EXPECT_THAT(out_, HasSubstr("y  float32 [2,3]  [0, 2, 0, 4, 0, 6]"));
  EXPECT_THAT(out_, ContainsRegex("latency over 3 iterations \\(1 warmup, all cores\\): min [0-9.]+ ms  p50"));
}

TEST_F(RunCommandTest, FillsStaticInputsNotGivenWithANote) {
  ASSERT_EQ(Run({"--model", model_, "--json"}, {{"x", DataType::kFloat32, {2, 3}}},
                {{"y", DataType::kFloat32, {2, 3}}}),
            kExitOk)
      << err_;
  EXPECT_THAT(err_, HasSubstr("note: input 'x' not given; using random float32 [2,3]"));
  ASSERT_EQ(log_.last_inputs.size(), 1u);
  EXPECT_EQ(log_.last_inputs[0].tensor.shape(), (Shape{2, 3}));
  for (float v : log_.last_inputs[0].tensor.values<float>()) {
    EXPECT_GE(v, -1);
    EXPECT_LT(v, 1);
  }
}

TEST_F(RunCommandTest, RandomInputsUseTheDeclaredDtype) {
  ASSERT_EQ(Run({"--model", model_, "--random-input", "ids=2x8", "--random-input", "mask=2x8"},
                {{"ids", DataType::kInt64, {-1, 8}}, {"mask", DataType::kBool, {-1, 8}}},
                {{"y", DataType::kInt64, {-1, 8}}}),
            kExitOk)
      << err_;
  ASSERT_EQ(log_.last_inputs.size(), 2u);
  EXPECT_EQ(log_.last_inputs[0].name, "ids");
  EXPECT_EQ(log_.last_inputs[0].tensor.dtype(), DataType::kInt64);
  for (int64_t v : log_.last_inputs[0].tensor.values<int64_t>()) {
    EXPECT_GE(v, 0);
    EXPECT_LT(v, 10);
  }
  EXPECT_EQ(log_.last_inputs[1].tensor.dtype(), DataType::kBool);
  EXPECT_EQ(log_.last_inputs[1].tensor.shape(), (Shape{2, 8}));
}

TEST_F(RunCommandTest, DynamicInputNotGivenIsAnErrorNamingIt) {
  EXPECT_EQ(Run({"--model", model_}), kExitRuntimeError);
  EXPECT_THAT(err_, AllOf(HasSubstr("input 'x' has the dynamic shape [?,3]"), HasSubstr("--random-input x=")));
  EXPECT_THAT(out_, IsEmpty());
  EXPECT_EQ(log_.runs, 0);
}

TEST_F(RunCommandTest, UnknownInputNameIsAnErrorListingTheInputs) {
  EXPECT_EQ(Run({"--model", model_, "--random-input", "image=1x3"}), kExitRuntimeError);
  EXPECT_THAT(err_, AllOf(HasSubstr("no input named 'image'"), HasSubstr("x float32[?,3]")));
}

TEST_F(RunCommandTest, WrongDtypeNpyIsAnError) {
  const std::string x = WriteInput("x.npy", Tensor::FromVector<int64_t>({1, 3}, {1, 2, 3}));
  EXPECT_EQ(Run({"--model", model_, "--input", "x=" + x}), kExitRuntimeError);
  EXPECT_THAT(err_, HasSubstr("input 'x' expects float32 but " + x + " holds int64"));
}

TEST_F(RunCommandTest, WrongShapeIsAnError) {
  const std::string x = WriteInput("x.npy", Tensor::FromVector<float>({1, 4}, {1, 2, 3, 4}));
  EXPECT_EQ(Run({"--model", model_, "--input", "x=" + x}), kExitRuntimeError);
  EXPECT_THAT(err_, HasSubstr("input 'x' expects shape [?,3] but " + x + " has shape [1,4]"));
  EXPECT_EQ(Run({"--model", model_, "--random-input", "x=2x3x1"}), kExitRuntimeError);
  EXPECT_THAT(err_, HasSubstr("--random-input x has shape [2,3,1]"));
  EXPECT_EQ(Run({"--model", model_, "--random-input", "x=100000x3"}, {{"x", DataType::kFloat32, {-1, 3}}}), kExitOk);
  EXPECT_EQ(Run({"--model", model_, "--random-input", "x=2000000000x3"}), kExitRuntimeError);
  EXPECT_THAT(err_, HasSubstr("--random-input x: tensor of shape [2000000000,3] and type float32 exceeds"));
}

TEST_F(RunCommandTest, UnreadableNpyIsAnErrorNamingTheFile) {
  const std::string bad = Path("bad.npy");
  testing::WriteFile(bad, "garbage");
  EXPECT_EQ(Run({"--model", model_, "--input", "x=" + bad}), kExitRuntimeError);
  EXPECT_THAT(err_, AllOf(HasSubstr("input 'x'"), HasSubstr(bad), HasSubstr("bad magic")));
  EXPECT_EQ(Run({"--model", model_, "--input", "x=" + Path("missing.npy")}), kExitRuntimeError);
  EXPECT_THAT(err_, HasSubstr("cannot open " + Path("missing.npy")));
}

TEST_F(RunCommandTest, MissingModelFileIsARuntimeError) {
  EXPECT_EQ(Run({"--model", Path("nope.onnx"), "--random-input", "x=1x3"}), kExitRuntimeError);
  EXPECT_THAT(err_, HasSubstr("cannot open model '" + Path("nope.onnx") + "'"));
}

TEST_F(RunCommandTest, LoadAndRunFailuresAreRuntimeErrors) {
  EXPECT_EQ(Run({"--model", model_, "--random-input", "x=1x3"}, {{"x", DataType::kFloat32, {-1, 3}}},
                {{"y", DataType::kFloat32, {-1, 3}}}, /*fail_load=*/true),
            kExitRuntimeError);
  EXPECT_THAT(err_, HasSubstr("cannot load model '" + model_ + "': model is broken"));
  EXPECT_EQ(Run({"--model", model_, "--random-input", "x=1x3", "--json"}, {{"x", DataType::kFloat32, {-1, 3}}},
                {{"y", DataType::kFloat32, {-1, 3}}}, false, /*fail_runs=*/true),
            kExitRuntimeError);
  EXPECT_THAT(err_, HasSubstr("inference failed: kernel exploded"));
  EXPECT_THAT(out_, IsEmpty());
}

TEST_F(RunCommandTest, UsageErrorsExitWithTwo) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "--model is required"},
      {{"--random-input", "x=1x3"}, "--model is required"},
      {{"--model", model_, "--input", "x.npy"}, "--input expects NAME=FILE.npy, got 'x.npy'"},
      {{"--model", model_, "--input", "=x.npy"}, "--input expects NAME=FILE.npy"},
      {{"--model", model_, "--input", "x="}, "needs a file"},
      {{"--model", model_, "--random-input", "x=1xfoo"}, "bad shape '1xfoo'"},
      {{"--model", model_, "--random-input", "x=1x3", "--input", "x=a.npy"}, "input 'x' given twice"},
      {{"--model", model_, "--iterations", "0"}, "--iterations expects an integer >= 1, got '0'"},
      {{"--model", model_, "--threads", "-1"}, "--threads expects an integer >= 0"},
      {{"--model", model_, "--warmup", "many"}, "--warmup expects an integer"},
      {{"--model", model_, "--random-dist", "cauchy"}, "uniform or normal"},
      {{"--model", model_, "--frobnicate"}, "unknown flag '--frobnicate'"},
      {{"--model", model_, "stray"}, "unexpected argument 'stray'"},
      {{"--model"}, "--model needs a value"},
      {{"--model", model_, "--json=yes"}, "--json takes no value"},
  };
  for (const auto& [args, message] : cases) {
    EXPECT_EQ(Run(args), kExitUsageError) << message;
    EXPECT_THAT(err_, AllOf(HasSubstr(message), HasSubstr("tessera run --help"))) << message;
    EXPECT_THAT(out_, IsEmpty());
  }
  EXPECT_EQ(log_.runs, 0);
}

TEST_F(RunCommandTest, HelpGoesToStdout) {
  EXPECT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out_, AllOf(HasSubstr("usage: tessera run --model"), HasSubstr("--random-input"),
                          HasSubstr("--output-dir"), HasSubstr("Exit status")));
  EXPECT_THAT(err_, IsEmpty());
}

TEST(RunCliTest, DispatchesSubcommands) {
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({}, out, err), kExitUsageError);
  EXPECT_THAT(err.str(), HasSubstr("usage: tessera <command>"));
  std::ostringstream out2, err2;
  EXPECT_EQ(RunCli({"fly"}, out2, err2), kExitUsageError);
  EXPECT_THAT(err2.str(), HasSubstr("unknown command 'fly'"));
  std::ostringstream out3, err3;
  EXPECT_EQ(RunCli({"help"}, out3, err3), kExitOk);
  EXPECT_THAT(out3.str(), HasSubstr("run "));
  std::ostringstream out4, err4;
  EXPECT_EQ(RunCli({"run", "--help"}, out4, err4), kExitOk);
  EXPECT_THAT(out4.str(), HasSubstr("usage: tessera run"));
}

// The real engine on a model built here.
class RunCommandRealEngineTest : public RunCommandTest {};

TEST_F(RunCommandRealEngineTest, ReluModelEndToEnd) {
  testing::WriteFile(model_, testing::MakeSingleNodeModel("Relu", {"x"}, {-1, 3}));
  const std::string x = WriteInput("x.npy", Tensor::FromVector<float>({2, 3}, {-1, 2, -3, 4, -5, 6}));
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand({"--model", model_, "--input", "x=" + x, "--output-dir", Path("out"), "--json",
                        "--iterations", "2", "--threads", "1"},
                       out, err),
            kExitOk)
      << err.str();
  EXPECT_THAT(out.str(), HasSubstr("{\"outputs\": {\"y\": {\"shape\": [2, 3], \"dtype\": \"float32\"}}, "));
  EXPECT_THAT(out.str(), HasSubstr("\"iterations\": 2}"));
  absl::StatusOr<Tensor> y = ReadNpyFile(Path("out/y.npy"));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->values<float>(), ::testing::ElementsAre(0, 2, 0, 4, 0, 6));

  std::ostringstream out2, err2;
  const std::string ints = WriteInput("ints.npy", Tensor::FromVector<int64_t>({1, 3}, {1, 2, 3}));
  EXPECT_EQ(RunCommand({"--model", model_, "--input", "x=" + ints}, out2, err2), kExitRuntimeError);
  EXPECT_THAT(err2.str(), HasSubstr("expects float32"));
}

TEST_F(RunCommandRealEngineTest, ProfileListsOperatorTimes) {
  testing::WriteFile(model_, testing::MakeSingleNodeModel("Relu", {"x"}, {-1, 3}));
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand({"--model", model_, "--random-input", "x=4x3", "--iterations", "3", "--profile",
                        "--no-optimize"},
                       out, err),
            kExitOk)
      << err.str();
  EXPECT_THAT(err.str(), HasSubstr("time per operator type"));
  EXPECT_THAT(err.str(), ContainsRegex("Relu +3 calls"));
}

TEST_F(RunCommandRealEngineTest, GarbageModelIsARuntimeError) {
  testing::WriteFile(model_, "this is not a protobuf");
  std::ostringstream out, err;
  EXPECT_EQ(RunCommand({"--model", model_}, out, err), kExitRuntimeError);
  EXPECT_THAT(err.str(), HasSubstr("cannot load model '" + model_ + "'"));
}

}  // namespace
}  // namespace tessera::client
