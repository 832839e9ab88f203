#include "client/flag_argument.h"

#include "gtest/gtest.h"

namespace tessera::client {
namespace {

TEST(FlagArgumentTest, SplitsAndTakesValues) {
  absl::StatusOr<FlagArgument> with_value = FlagArgument::Split("--model=a=b.onnx");
  ASSERT_TRUE(with_value.ok());
  EXPECT_EQ(with_value->flag, "--model");
  EXPECT_EQ(with_value->value, "a=b.onnx");
  EXPECT_TRUE(with_value->has_value);

  const std::vector<std::string> args = {"--stages", "3", "--json"};
  size_t i = 0;
  absl::StatusOr<FlagArgument> stages = FlagArgument::Split(args[i]);
  ASSERT_TRUE(stages.ok());
  ASSERT_TRUE(stages->TakeValue(args, i).ok());
  EXPECT_EQ(stages->value, "3");
  EXPECT_EQ(i, 1u);
  i = 2;
  absl::StatusOr<FlagArgument> json = FlagArgument::Split(args[i]);
  absl::Status missing = json->TakeValue(args, i);
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.message(), "--json needs a value");

  EXPECT_TRUE(FlagArgument::Split("-h")->is_help());
  absl::StatusOr<FlagArgument> positional = FlagArgument::Split("model.onnx");
  EXPECT_EQ(positional.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(positional.status().message(), "unexpected argument 'model.onnx'");
}

}  // namespace
}  // namespace tessera::client
