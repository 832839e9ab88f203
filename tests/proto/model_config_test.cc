// proto/model_config.proto: Triton field numbers, Tessera's parallelism
// extension, and parsing of config.pbtxt text.
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "proto/model_config.pb.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Keeps every message the text parser reports.
class CollectingErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    errors += "line " + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message + "\n";
  }
  std::string errors;
};

// Parses config.pbtxt text the way the repository will: strict, so unknown
// fields are errors. Returns "" on success, else the parser's messages.
std::string Parse(const std::string& text, inference::ModelConfig* config) {
  CollectingErrors errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(text, config)) return "";
  return errors.errors.empty() ? "parse failed" : errors.errors;
}

int FieldNumber(const google::protobuf::Descriptor* d, const char* field) {
  const google::protobuf::FieldDescriptor* f = d->FindFieldByName(field);
  EXPECT_NE(f, nullptr) << d->full_name() << "." << field;
  return f == nullptr ? -1 : f->number();
}

TEST(ModelConfigTest, TritonFieldNumbers) {
  const auto* config = inference::ModelConfig::descriptor();
  EXPECT_EQ(config->full_name(), "inference.ModelConfig");
  EXPECT_EQ(FieldNumber(config, "name"), 1);
  EXPECT_EQ(FieldNumber(config, "platform"), 2);
  EXPECT_EQ(FieldNumber(config, "version_policy"), 3);
  EXPECT_EQ(FieldNumber(config, "max_batch_size"), 4);
  EXPECT_EQ(FieldNumber(config, "input"), 5);
  EXPECT_EQ(FieldNumber(config, "output"), 6);
  EXPECT_EQ(FieldNumber(config, "instance_group"), 7);
  EXPECT_EQ(FieldNumber(config, "default_model_filename"), 8);
  EXPECT_EQ(FieldNumber(config, "cc_model_filenames"), 9);
  EXPECT_EQ(FieldNumber(config, "metric_tags"), 10);
  EXPECT_EQ(FieldNumber(config, "dynamic_batching"), 11);
  EXPECT_EQ(FieldNumber(config, "optimization"), 12);
  EXPECT_EQ(FieldNumber(config, "parameters"), 14);
  EXPECT_EQ(FieldNumber(config, "backend"), 17);
  EXPECT_EQ(FieldNumber(config, "model_transaction_policy"), 19);
  EXPECT_EQ(FieldNumber(config, "response_cache"), 24);
  EXPECT_EQ(FieldNumber(config, "parallelism"), 1000);

  const auto* input = inference::ModelInput::descriptor();
  EXPECT_EQ(FieldNumber(input, "name"), 1);
  EXPECT_EQ(FieldNumber(input, "data_type"), 2);
  EXPECT_EQ(FieldNumber(input, "format"), 3);
  EXPECT_EQ(FieldNumber(input, "dims"), 4);
  EXPECT_EQ(FieldNumber(input, "reshape"), 5);
  EXPECT_EQ(FieldNumber(input, "is_shape_tensor"), 6);
  EXPECT_EQ(FieldNumber(input, "allow_ragged_batch"), 7);
  EXPECT_EQ(FieldNumber(input, "optional"), 8);

  const auto* output = inference::ModelOutput::descriptor();
  EXPECT_EQ(FieldNumber(output, "name"), 1);
  EXPECT_EQ(FieldNumber(output, "data_type"), 2);
  EXPECT_EQ(FieldNumber(output, "dims"), 3);
  EXPECT_EQ(FieldNumber(output, "label_filename"), 4);
  EXPECT_EQ(FieldNumber(output, "reshape"), 5);
  EXPECT_EQ(FieldNumber(output, "is_shape_tensor"), 6);

  const auto* batching = inference::ModelDynamicBatching::descriptor();
  EXPECT_EQ(FieldNumber(batching, "preferred_batch_size"), 1);
  EXPECT_EQ(FieldNumber(batching, "max_queue_delay_microseconds"), 2);
  EXPECT_EQ(FieldNumber(batching, "preserve_ordering"), 3);
  EXPECT_EQ(FieldNumber(batching, "priority_levels"), 4);
  EXPECT_EQ(FieldNumber(batching, "default_priority_level"), 5);
  EXPECT_EQ(FieldNumber(batching, "default_queue_policy"), 6);
  EXPECT_EQ(FieldNumber(batching, "priority_queue_policy"), 7);

  const auto* group = inference::ModelInstanceGroup::descriptor();
  EXPECT_EQ(FieldNumber(group, "name"), 1);
  EXPECT_EQ(FieldNumber(group, "count"), 2);
  EXPECT_EQ(FieldNumber(group, "gpus"), 3);
  EXPECT_EQ(FieldNumber(group, "kind"), 4);

  EXPECT_EQ(FieldNumber(inference::ModelParameter::descriptor(), "string_value"), 1);
  EXPECT_EQ(FieldNumber(inference::ModelVersionPolicy::descriptor(), "latest"), 1);
  EXPECT_EQ(FieldNumber(inference::ModelVersionPolicy::descriptor(), "all"), 2);
  EXPECT_EQ(FieldNumber(inference::ModelVersionPolicy::descriptor(), "specific"), 3);

  // Triton's DataType values.
  EXPECT_EQ(inference::TYPE_INVALID, 0);
  EXPECT_EQ(inference::TYPE_BOOL, 1);
  EXPECT_EQ(inference::TYPE_UINT8, 2);
  EXPECT_EQ(inference::TYPE_INT8, 6);
  EXPECT_EQ(inference::TYPE_INT32, 8);
  EXPECT_EQ(inference::TYPE_INT64, 9);
  EXPECT_EQ(inference::TYPE_FP16, 10);
  EXPECT_EQ(inference::TYPE_FP32, 11);
  EXPECT_EQ(inference::TYPE_FP64, 12);
  EXPECT_EQ(inference::TYPE_STRING, 13);
  EXPECT_EQ(inference::TYPE_BF16, 14);
}

TEST(ModelConfigTest, ParsesFullConfig) {
  const std::string text = R"pb(
    # A Triton-style config with Tessera's parallelism block.
    name: "resnet"
    platform: "onnxruntime_onnx"
    max_batch_size: 32
    version_policy: { latest { num_versions: 2 } }
    default_model_filename: "model.onnx"
    input [
      {
        name: "data"
        data_type: TYPE_FP32
        format: FORMAT_NCHW
        dims: [ 3, 224, 224 ]
      },
      {
        name: "mask"
        data_type: TYPE_BOOL
        dims: [ -1 ]
        allow_ragged_batch: true
        optional: true
      }
    ]
    output [
      {
        name: "prob"
        data_type: TYPE_FP32
        dims: [ 1000 ]
        reshape: { shape: [ 1, 1000 ] }
        label_filename: "labels.txt"
      }
    ]
    instance_group [ { count: 2 kind: KIND_CPU } ]
    dynamic_batching {
      preferred_batch_size: [ 8, 16 ]
      max_queue_delay_microseconds: 500
      preserve_ordering: true
      priority_levels: 2
      default_priority_level: 1
      default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 100000 max_queue_size: 64 }
    }
    optimization { graph { level: 1 } execution_accelerators { cpu_execution_accelerator: [ { name: "openvino" } ] } }
    parameters { key: "intra_op_threads" value: { string_value: "2" } }
    parallelism { strategy: HYBRID stages: 2 replicas: 3 micro_batch_size: 4 }
  )pb";
  inference::ModelConfig config;
  ASSERT_EQ(Parse(text, &config), "");

  EXPECT_EQ(config.name(), "resnet");
  EXPECT_EQ(config.platform(), "onnxruntime_onnx");
  EXPECT_EQ(config.max_batch_size(), 32);
  EXPECT_EQ(config.version_policy().latest().num_versions(), 2u);
  EXPECT_EQ(config.default_model_filename(), "model.onnx");

  ASSERT_EQ(config.input_size(), 2);
  EXPECT_EQ(config.input(0).name(), "data");
  EXPECT_EQ(config.input(0).data_type(), inference::TYPE_FP32);
  EXPECT_EQ(config.input(0).format(), inference::ModelInput::FORMAT_NCHW);
  EXPECT_THAT(config.input(0).dims(), ElementsAre(3, 224, 224));
  EXPECT_EQ(config.input(1).data_type(), inference::TYPE_BOOL);
  EXPECT_THAT(config.input(1).dims(), ElementsAre(-1));
  EXPECT_TRUE(config.input(1).allow_ragged_batch());
  EXPECT_TRUE(config.input(1).optional());

  ASSERT_EQ(config.output_size(), 1);
  EXPECT_THAT(config.output(0).reshape().shape(), ElementsAre(1, 1000));
  EXPECT_EQ(config.output(0).label_filename(), "labels.txt");

  ASSERT_EQ(config.instance_group_size(), 1);
  EXPECT_EQ(config.instance_group(0).count(), 2);
  EXPECT_EQ(config.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);

  ASSERT_TRUE(config.has_dynamic_batching());
  const auto& batching = config.dynamic_batching();
  EXPECT_THAT(batching.preferred_batch_size(), ElementsAre(8, 16));
  EXPECT_EQ(batching.max_queue_delay_microseconds(), 500u);
  EXPECT_TRUE(batching.preserve_ordering());
  EXPECT_EQ(batching.priority_levels(), 2u);
  EXPECT_EQ(batching.default_queue_policy().timeout_action(), inference::ModelQueuePolicy::DELAY);
  EXPECT_EQ(batching.default_queue_policy().max_queue_size(), 64u);

  EXPECT_EQ(config.optimization().graph().level(), 1);
  EXPECT_EQ(config.optimization().execution_accelerators().cpu_execution_accelerator(0).name(), "openvino");
  EXPECT_EQ(config.parameters().at("intra_op_threads").string_value(), "2");

  ASSERT_TRUE(config.has_parallelism());
  EXPECT_EQ(config.parallelism().strategy(), inference::ModelParallelism::HYBRID);
  EXPECT_EQ(config.parallelism().stages(), 2u);
  EXPECT_EQ(config.parallelism().replicas(), 3u);
  EXPECT_EQ(config.parallelism().micro_batch_size(), 4u);
}

TEST(ModelConfigTest, MinimalConfigLeavesTheRestToDefaults) {
  inference::ModelConfig config;
  ASSERT_EQ(Parse("name: \"demo_cnn\"\nplatform: \"onnx\"\nmax_batch_size: 8\n", &config), "");
  EXPECT_EQ(config.input_size(), 0);  // read from the model later
  EXPECT_EQ(config.output_size(), 0);
  EXPECT_FALSE(config.has_dynamic_batching());
  EXPECT_FALSE(config.has_parallelism());
  // AUTO is the zero value, so an absent block means "choose for me".
  EXPECT_EQ(config.parallelism().strategy(), inference::ModelParallelism::AUTO);
  EXPECT_EQ(config.parallelism().stages(), 0u);
}

TEST(ModelConfigTest, EveryParallelismStrategyParses) {
  for (const char* strategy : {"AUTO", "DATA", "PIPELINE", "HYBRID"}) {
    inference::ModelConfig config;
    EXPECT_EQ(Parse(std::string("parallelism { strategy: ") + strategy + " }", &config), "") << strategy;
    EXPECT_EQ(inference::ModelParallelism::Strategy_Name(config.parallelism().strategy()), strategy);
  }
}

TEST(ModelConfigTest, UnknownFieldIsAnErrorNamingIt) {
  inference::ModelConfig config;
  const std::string errors = Parse("name: \"m\"\nmax_batch_sise: 4\n", &config);
  EXPECT_THAT(errors, HasSubstr("max_batch_sise"));
  EXPECT_THAT(errors, HasSubstr("line 2"));
}

TEST(ModelConfigTest, UnknownNestedFieldIsAnErrorNamingIt) {
  inference::ModelConfig config;
  const std::string errors = Parse("parallelism { strategy: DATA shards: 2 }", &config);
  EXPECT_THAT(errors, HasSubstr("shards"));
  EXPECT_THAT(errors, HasSubstr("inference.ModelParallelism"));
}

TEST(ModelConfigTest, UnsupportedTritonSectionIsAnError) {
  inference::ModelConfig config;
  EXPECT_THAT(Parse("sequence_batching { }", &config), HasSubstr("sequence_batching"));
}

TEST(ModelConfigTest, UnknownEnumValueIsAnErrorNamingIt) {
  inference::ModelConfig config;
  EXPECT_THAT(Parse("parallelism { strategy: TENSOR }", &config), HasSubstr("TENSOR"));
  EXPECT_THAT(Parse("input [ { name: \"x\" data_type: TYPE_FLOAT32 } ]", &config), HasSubstr("TYPE_FLOAT32"));
}

// A config serialized by Tessera decodes in a client that only knows
// Triton's fields: the parallelism block is skipped as an unknown field.
TEST(ModelConfigTest, ParallelismIsSkippedByDecodersThatDoNotKnowIt) {
  inference::ModelConfig config;
  config.set_name("m");
  config.set_max_batch_size(4);
  config.mutable_parallelism()->set_strategy(inference::ModelParallelism::PIPELINE);
  config.mutable_parallelism()->set_stages(3);
  config.add_input()->set_name("x");
  const std::string wire = config.SerializeAsString();

  // Stand-in for a Triton client: model_config.proto without field 1000,
  // built in a separate pool and decoded dynamically.
  google::protobuf::FileDescriptorProto file;
  inference::ModelConfig::descriptor()->file()->CopyTo(&file);
  bool removed = false;
  for (auto& message : *file.mutable_message_type()) {
    if (message.name() != "ModelConfig") continue;
    auto* fields = message.mutable_field();
    for (int i = 0; i < fields->size(); ++i) {
      if (fields->Get(i).number() == 1000) {
        fields->DeleteSubrange(i, 1);
        removed = true;
        break;
      }
    }
  }
  ASSERT_TRUE(removed);
  google::protobuf::DescriptorPool pool;
  ASSERT_NE(pool.BuildFile(file), nullptr);
  const google::protobuf::Descriptor* triton_config = pool.FindMessageTypeByName("inference.ModelConfig");
  ASSERT_NE(triton_config, nullptr);
  ASSERT_EQ(triton_config->FindFieldByName("parallelism"), nullptr);

  google::protobuf::DynamicMessageFactory factory(&pool);
  std::unique_ptr<google::protobuf::Message> decoded(factory.GetPrototype(triton_config)->New());
  ASSERT_TRUE(decoded->ParseFromString(wire));
  const google::protobuf::Reflection* reflection = decoded->GetReflection();
  EXPECT_EQ(reflection->GetString(*decoded, triton_config->FindFieldByName("name")), "m");
  EXPECT_EQ(reflection->GetInt32(*decoded, triton_config->FindFieldByName("max_batch_size")), 4);
  EXPECT_EQ(reflection->FieldSize(*decoded, triton_config->FindFieldByName("input")), 1);
  const google::protobuf::UnknownFieldSet& unknown = reflection->GetUnknownFields(*decoded);
  ASSERT_EQ(unknown.field_count(), 1);
  EXPECT_EQ(unknown.field(0).number(), 1000);
}

}  // namespace
}  // namespace tessera
