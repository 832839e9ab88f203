// coordinator/repository/model_config_loader: strict parsing, validation and
// ONNX auto-complete of config.pbtxt.
#include "coordinator/repository/model_config_loader.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

inference::ModelConfig MustParse(const std::string& text) {
  absl::StatusOr<inference::ModelConfig> c = ParseModelConfig(text, "m/config.pbtxt");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : inference::ModelConfig();
}

absl::Status Validate(const std::string& text, const std::string& dir = "m") {
  inference::ModelConfig c = MustParse(text);
  return ValidateModelConfig(dir, &c);
}

TEST(ParseModelConfigTest, UnknownFieldNamesFileLineAndField) {
  absl::StatusOr<inference::ModelConfig> c =
      ParseModelConfig("name: \"m\"\nmax_batchsize: 4\n", "repo/m/config.pbtxt");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("repo/m/config.pbtxt:2:"), HasSubstr("max_batchsize")));
}

TEST(ParseModelConfigTest, UnknownNestedFieldAndEnumValue) {
  auto c = ParseModelConfig("input [ { name: \"x\" data_type: TYPE_FP32 dimz: [ 3 ] } ]", "c.pbtxt");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("c.pbtxt:1:"), HasSubstr("dimz")));
  c = ParseModelConfig("input [ { name: \"x\"\n data_type: TYPE_FLOAT32 } ]", "c.pbtxt");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("c.pbtxt:2:"), HasSubstr("TYPE_FLOAT32")));
}

TEST(ParseModelConfigTest, SyntaxErrorAndRepeatedSingularField) {
  auto c = ParseModelConfig("name: \"m\"\nmax_batch_size: 4\nmax_batch_size: 8\n", "c.pbtxt");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("c.pbtxt:3:"), HasSubstr("max_batch_size")));
  c = ParseModelConfig("name: \"m\"\ninput [ { name: \"x\" ", "c.pbtxt");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("c.pbtxt:2:"));
}

TEST(ParseModelConfigTest, ParsesTritonExample) {
  inference::ModelConfig c = MustParse(R"pb(
    name: "m"
    platform: "onnxruntime_onnx"
    max_batch_size: 8
    version_policy: { latest: { num_versions: 2 } }
    input [ { name: "x" data_type: TYPE_FP32 dims: [ 3, -1 ] } ]
    output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] } ]
    dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100 }
    instance_group [ { count: 2 kind: KIND_CPU } ]
    parallelism { strategy: PIPELINE stages: 2 micro_batch_size: 2 forwarding: DIRECT }
  )pb");
  EXPECT_EQ(c.max_batch_size(), 8);
  EXPECT_EQ(c.parallelism().forwarding(), inference::ModelParallelism::DIRECT);
  EXPECT_THAT(c.input(0).dims(), ElementsAre(3, -1));
  EXPECT_TRUE(Validate(c.DebugString()).ok()) << Validate(c.DebugString());
}

TEST(ReadModelConfigTest, MissingFileIsNotFound) {
  const std::string dir = ::testing::TempDir() + "/tessera_config_missing/m";
  std::filesystem::create_directories(dir);
  auto c = ReadModelConfig(dir);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("config.pbtxt"));
}

TEST(ReadModelConfigTest, FillsNameFromDirectoryAndNormalisesPlatform) {
  const std::string dir = ::testing::TempDir() + "/tessera_config_read/mnist";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.pbtxt") << "backend: \"onnxruntime\"\n";
  auto c = ReadModelConfig(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name(), "mnist");
  EXPECT_EQ(c->platform(), "onnxruntime_onnx");
  EXPECT_EQ(c->backend(), "onnxruntime");
  std::ofstream(dir + "/config.pbtxt") << "name: \"mnist\"\nplatform: \"onnx\"\nfoo: 1\n";
  c = ReadModelConfig(dir);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr(dir + "/config.pbtxt:3:"), HasSubstr("foo")));
}

struct BadConfig {
  const char* text;
  absl::StatusCode code;
  const char* message;
};

TEST(ValidateModelConfigTest, RejectsBadConfigsWithClearErrors) {
  const std::vector<BadConfig> cases = {
      {"platform: \"tensorflow_savedmodel\"", absl::StatusCode::kInvalidArgument, "tensorflow_savedmodel"},
      {"backend: \"python\"", absl::StatusCode::kInvalidArgument, "backend 'python'"},
      {"max_batch_size: 2", absl::StatusCode::kInvalidArgument, "platform ''"},
      {"name: \"other\" platform: \"onnx\"", absl::StatusCode::kInvalidArgument, "'other' but its directory is 'm'"},
      {"platform: \"onnx\" max_batch_size: -1", absl::StatusCode::kInvalidArgument, "max_batch_size is -1"},
      {"platform: \"onnx\" max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 2, 8 ] }",
       absl::StatusCode::kInvalidArgument, "preferred_batch_size 8 is outside 1..max_batch_size (4)"},
      {"platform: \"onnx\" max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 0 ] }",
       absl::StatusCode::kInvalidArgument, "preferred_batch_size 0"},
      {"platform: \"onnx\" dynamic_batching { }", absl::StatusCode::kInvalidArgument,
       "dynamic_batching needs max_batch_size > 0"},
      {"platform: \"onnx\" max_batch_size: 4 parallelism { micro_batch_size: 8 }",
       absl::StatusCode::kInvalidArgument, "micro_batch_size 8 exceeds max_batch_size 4"},
      {"platform: \"onnx\" parallelism { micro_batch_size: 2 }", absl::StatusCode::kInvalidArgument,
       "micro_batch_size needs max_batch_size > 0"},
      {"platform: \"onnx\" parallelism { stages: 4294967295 }", absl::StatusCode::kInvalidArgument,
       "stages 4294967295"},
      {"platform: \"onnx\" parallelism { forwarding: 7 }", absl::StatusCode::kInvalidArgument,
       "parallelism.forwarding 7 is not FORWARDING_DEFAULT, RELAY or DIRECT"},
      {"platform: \"onnx\" version_policy { latest { num_versions: 0 } }", absl::StatusCode::kInvalidArgument,
       "num_versions must be >= 1"},
      {"platform: \"onnx\" version_policy { specific { } }", absl::StatusCode::kInvalidArgument,
       "specific lists no versions"},
      {"platform: \"onnx\" version_policy { specific { versions: [ 0 ] } }", absl::StatusCode::kInvalidArgument,
       "names version 0"},
      {"platform: \"onnx\" instance_group [ { kind: KIND_GPU } ]", absl::StatusCode::kUnimplemented, "GPUs"},
      {"platform: \"onnx\" instance_group [ { count: -1 } ]", absl::StatusCode::kInvalidArgument, "count -1"},
      {"platform: \"onnx\" default_model_filename: \"../../etc/passwd\"", absl::StatusCode::kInvalidArgument,
       "plain file name"},
      {"platform: \"onnx\" input [ { name: \"x\" data_type: TYPE_FP32 dims: [ -2 ] } ]",
       absl::StatusCode::kInvalidArgument, "input 'x': dims [-2] has -2"},
      {"platform: \"onnx\" input [ { name: \"x\" dims: [ 1 ] } ]", absl::StatusCode::kInvalidArgument,
       "input 'x' has no data_type"},
      {"platform: \"onnx\" input [ { data_type: TYPE_FP32 dims: [ 1 ] } ]", absl::StatusCode::kInvalidArgument,
       "an input has no name"},
      {"platform: \"onnx\" input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 1 ] }, "
       "{ name: \"x\" data_type: TYPE_FP32 dims: [ 1 ] } ]",
       absl::StatusCode::kInvalidArgument, "input 'x' is listed more than once"},
      {"platform: \"onnx\" output [ { name: \"y\" data_type: TYPE_FP16 dims: [ 1 ] } ]",
       absl::StatusCode::kUnimplemented, "output 'y'"},
      {"platform: \"onnx\" input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 4 ] reshape: { shape: [ 2, 2 ] } } ]",
       absl::StatusCode::kUnimplemented, "reshape"},
      {"platform: \"onnx\" model_transaction_policy { decoupled: true }", absl::StatusCode::kUnimplemented,
       "decoupled"},
  };
  for (const BadConfig& c : cases) {
    absl::Status st = Validate(c.text);
    EXPECT_EQ(st.code(), c.code) << c.text << " -> " << st;
    EXPECT_THAT(st.message(), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(st.message(), HasSubstr("'m'")) << c.text;
  }
}

engine::TensorInfo Info(const std::string& name, DataType dtype, std::vector<int64_t> shape) {
  return engine::TensorInfo{name, dtype, std::move(shape)};
}

// A model x:[-1,3,8] FP32, ids:[-1] INT64 -> y:[-1,10] FP32, aux:[-1] INT64.
const std::vector<engine::TensorInfo> kInputs = {Info("x", DataType::kFloat32, {-1, 3, 8}),
                                                 Info("ids", DataType::kInt64, {-1})};
const std::vector<engine::TensorInfo> kOutputs = {Info("y", DataType::kFloat32, {-1, 10}),
                                                  Info("aux", DataType::kInt64, {-1})};

absl::StatusOr<inference::ModelConfig> Complete(const std::string& text,
                                                const std::vector<engine::TensorInfo>& inputs = kInputs,
                                                const std::vector<engine::TensorInfo>& outputs = kOutputs) {
  inference::ModelConfig c = MustParse(text);
  absl::Status st = ValidateModelConfig("m", &c);
  if (!st.ok()) return st;
  st = CompleteModelConfig(inputs, outputs, &c);
  if (!st.ok()) return st;
  return c;
}

TEST(CompleteModelConfigTest, FillsOmittedSectionsWithoutBatchAxis) {
  auto c = Complete("platform: \"onnx\" max_batch_size: 4");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->input_size(), 2);
  EXPECT_EQ(c->input(0).name(), "x");
  EXPECT_EQ(c->input(0).data_type(), inference::TYPE_FP32);
  EXPECT_THAT(c->input(0).dims(), ElementsAre(3, 8));
  EXPECT_EQ(c->input(1).data_type(), inference::TYPE_INT64);
  EXPECT_THAT(c->input(1).dims(), ElementsAre());
  ASSERT_EQ(c->output_size(), 2);
  EXPECT_THAT(c->output(0).dims(), ElementsAre(10));
  EXPECT_EQ(c->max_batch_size(), 4);
}

TEST(CompleteModelConfigTest, MaxBatchSizeZeroKeepsFullShapes) {
  auto c = Complete("platform: \"onnx\"");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_batch_size(), 0);  // not turned on behind the user's back
  EXPECT_THAT(c->input(0).dims(), ElementsAre(-1, 3, 8));
  EXPECT_THAT(c->output(0).dims(), ElementsAre(-1, 10));
}

TEST(CompleteModelConfigTest, AcceptsAgreeingAndNarrowingSections) {
  auto c = Complete(R"pb(platform: "onnx" max_batch_size: 2
    input [ { name: "ids" data_type: TYPE_INT64 dims: [ ] }, { name: "x" data_type: TYPE_FP32 dims: [ 3, 8 ] } ]
    output [ { name: "y" data_type: TYPE_FP32 dims: [ 10 ] } ])pb");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->input(0).name(), "ids");  // the config's order is kept
  EXPECT_EQ(c->output_size(), 1);        // a subset of outputs is served
  // A dynamic model dim may be narrowed by the config.
  auto narrowed = Complete("platform: \"onnx\" input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 2, 3, 8 ] }, "
                           "{ name: \"ids\" data_type: TYPE_INT64 dims: [ 5 ] } ]");
  EXPECT_TRUE(narrowed.ok()) << narrowed.status();
}

TEST(CompleteModelConfigTest, RejectsSectionsThatDisagreeWithTheModel) {
  struct Case {
    const char* text;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"platform: \"onnx\" max_batch_size: 2 input [ { name: \"nope\" data_type: TYPE_FP32 dims: [ 3 ] } ]",
       "input 'nope' in config.pbtxt is not an input of the ONNX model, whose inputs are 'x', 'ids'"},
      {"platform: \"onnx\" max_batch_size: 2 input [ { name: \"x\" data_type: TYPE_INT32 dims: [ 3, 8 ] } ]",
       "input 'x' has data_type TYPE_INT32 in config.pbtxt but TYPE_FP32 in the ONNX model"},
      {"platform: \"onnx\" max_batch_size: 2 input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 3 ] } ]",
       "config dims [3] have rank 1 but the model's dims [3,8] have rank 2"},
      {"platform: \"onnx\" max_batch_size: 2 input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 3, 9 ] } ]",
       "config dims [3,9] do not match the model's dims [3,8] at dim 1"},
      {"platform: \"onnx\" max_batch_size: 2 input [ { name: \"x\" data_type: TYPE_FP32 dims: [ -1, 8 ] } ]",
       "-1 in the config, but the model only accepts 3"},
      {"platform: \"onnx\" max_batch_size: 2 input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 3, 8 ] } ]",
       "the ONNX model's input 'ids' is missing from config.pbtxt's input list"},
      {"platform: \"onnx\" max_batch_size: 2 output [ { name: \"z\" data_type: TYPE_FP32 dims: [ 10 ] } ]",
       "output 'z' in config.pbtxt is not an output of the ONNX model"},
  };
  for (const Case& c : cases) {
    auto r = Complete(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(CompleteModelConfigTest, BatchingNeedsADynamicFirstDim) {
  const std::vector<engine::TensorInfo> fixed = {Info("x", DataType::kFloat32, {3, 8})};
  const std::vector<engine::TensorInfo> out = {Info("y", DataType::kFloat32, {3, 8})};
  auto c = Complete("platform: \"onnx\" max_batch_size: 4", fixed, out);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), AllOf(HasSubstr("input 'x' has shape [3,8]"), HasSubstr("must be dynamic")));
  // Without batching the same model is served with its own shapes.
  EXPECT_TRUE(Complete("platform: \"onnx\"", fixed, out).ok());
  // A fixed batch of 1 is accepted with max_batch_size 1.
  const std::vector<engine::TensorInfo> one = {Info("x", DataType::kFloat32, {1, 8})};
  const std::vector<engine::TensorInfo> one_out = {Info("y", DataType::kFloat32, {1, 8})};
  auto b1 = Complete("platform: \"onnx\" max_batch_size: 1", one, one_out);
  ASSERT_TRUE(b1.ok()) << b1.status();
  EXPECT_THAT(b1->input(0).dims(), ElementsAre(8));
  EXPECT_FALSE(Complete("platform: \"onnx\" max_batch_size: 2", one, one_out).ok());
  // A scalar cannot carry a batch dimension.
  const std::vector<engine::TensorInfo> scalar = {Info("s", DataType::kFloat32, {})};
  auto s = Complete("platform: \"onnx\" max_batch_size: 2", scalar, out);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("input 's' has no batch dimension"));
}

}  // namespace
}  // namespace tessera::coordinator
