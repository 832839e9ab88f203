// coordinator/repository/model_override: RepositoryModelLoad's parameters.
#include "coordinator/repository/model_override.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

using ::testing::HasSubstr;
using Parameters = google::protobuf::Map<std::string, inference::ModelRepositoryParameter>;

Parameters Good() {
  Parameters p;
  p["config"].set_string_param(R"({"platform": "onnx", "max_batch_size": 4, "parallelism": {"strategy": "DATA"}})");
  p["file:1/model.onnx"].set_bytes_param("model one");
  p["file:3/model.onnx"].set_bytes_param("model three");
  return p;
}

TEST(ModelOverrideTest, NoParametersMeansTheRepository) {
  auto m = ModelOverrideFromParameters({}, 100);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->has_value());
}

TEST(ModelOverrideTest, ConfigJsonAndFilesByVersion) {
  auto m = ModelOverrideFromParameters(Good(), 100);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ((*m)->config.platform(), "onnx");
  EXPECT_EQ((*m)->config.max_batch_size(), 4);
  ASSERT_EQ((*m)->files.size(), 2u);
  EXPECT_EQ((*m)->files.at(1), "model one");
  EXPECT_EQ((*m)->files.at(3), "model three");
}

TEST(ModelOverrideTest, BadParametersAreRefusedNamingThem) {
  struct Case {
    std::function<void(Parameters*)> mutate;
    absl::StatusCode code;
    std::string message;
  };
  const Case cases[] = {
      {[](Parameters* p) { (*p)["config"].set_string_param("{not json"); }, absl::StatusCode::kInvalidArgument,
       "load parameter 'config' is not a model configuration"},
      {[](Parameters* p) { (*p)["config"].set_string_param(R"({"max_batch_size": "many"})"); },
       absl::StatusCode::kInvalidArgument, "load parameter 'config' is not a model configuration"},
      {[](Parameters* p) { (*p)["config"].set_string_param(R"({"no_such_field": 1})"); },
       absl::StatusCode::kInvalidArgument, "not a model configuration"},
      {[](Parameters* p) { (*p)["config"].set_bytes_param("{}"); }, absl::StatusCode::kInvalidArgument,
       "load parameter 'config' is a bytes_param; it must be a string_param (JSON)"},
      {[](Parameters* p) { (*p)["file:1/model.onnx"].set_string_param("x"); }, absl::StatusCode::kInvalidArgument,
       "load parameter 'file:1/model.onnx' is a string_param; it must be a bytes_param"},
      {[](Parameters* p) { (*p)["file:0/model.onnx"].set_bytes_param("x"); }, absl::StatusCode::kInvalidArgument,
       "'file:0/model.onnx' is not of the form 'file:<version>/<filename>'"},
      {[](Parameters* p) { (*p)["file:model.onnx"].set_bytes_param("x"); }, absl::StatusCode::kInvalidArgument,
       "'file:model.onnx' is not of the form"},
      {[](Parameters* p) { (*p)["file:1/../../etc/passwd"].set_bytes_param("x"); },
       absl::StatusCode::kInvalidArgument, "is not of the form"},
      {[](Parameters* p) { (*p)["file:2/other.onnx"].set_bytes_param("x"); }, absl::StatusCode::kInvalidArgument,
       "'file:.../other.onnx' is not the model file; the config's model file is 'model.onnx'"},
      {[](Parameters* p) { (*p)["file:2/model.onnx"].set_bytes_param(std::string(101, 'x')); },
       absl::StatusCode::kInvalidArgument, "'file:2/model.onnx' holds 101 bytes, above the limit of 100"},
      {[](Parameters* p) { (*p)["priority"].set_int64_param(1); }, absl::StatusCode::kInvalidArgument,
       "unknown load parameter 'priority'"},
      {[](Parameters* p) { p->erase("config"); }, absl::StatusCode::kInvalidArgument,
       "load parameters give model files but no 'config'"},
      {[](Parameters* p) {
         p->erase("file:1/model.onnx");
         p->erase("file:3/model.onnx");
       },
       absl::StatusCode::kUnimplemented, "without model files is not supported"},
  };
  for (const Case& c : cases) {
    Parameters p = Good();
    c.mutate(&p);
    auto m = ModelOverrideFromParameters(p, 100);
    EXPECT_EQ(m.status().code(), c.code) << c.message << ": " << m.status();
    EXPECT_THAT(m.status().message(), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace tessera::coordinator
