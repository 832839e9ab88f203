#include "common/flag_environment.h"

#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "common/log_flags.h"
#include "gtest/gtest.h"

ABSL_FLAG(int64_t, test_memory_mb, 0, "a test flag with a number");
ABSL_FLAG(std::string, test_address, "0.0.0.0:1", "a test flag with a string");
ABSL_FLAG(bool, test_switch, false, "a test flag with a bool");

namespace tessera {
namespace {

EnvironmentLookup Environment(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(FlagEnvironmentTest, VariableNames) {
  EXPECT_EQ(FlagEnvironmentVariable("worker_memory_mb"), "TESSERA_WORKER_MEMORY_MB");
  EXPECT_EQ(FlagEnvironmentVariable("worker-memory-mb"), "TESSERA_WORKER_MEMORY_MB");
  EXPECT_EQ(FlagEnvironmentVariable("listen"), "TESSERA_LISTEN");
}

TEST(FlagEnvironmentTest, SetsFlagsFromTheirVariables) {
  absl::FlagSaver saver;
  ASSERT_TRUE(SetFlagsFromEnvironment(Environment({{"TESSERA_TEST_MEMORY_MB", "64"},
                                                   {"TESSERA_TEST_ADDRESS", "127.0.0.1:9"},
                                                   {"TESSERA_TEST_SWITCH", "true"},
                                                   {"TESSERA_LOG_FORMAT", "json"},
                                                   {"TESSERA_LOG_LEVEL", "warning"}}))
                  .ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_memory_mb), 64);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_address), "127.0.0.1:9");
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_switch));
  const absl::CommandLineFlag* format = absl::FindCommandLineFlag("log_format");
  ASSERT_NE(format, nullptr);
  EXPECT_EQ(format->CurrentValue(), "json");
  // The log takes its settings from the flags.
  ConfigureLoggingFromFlags("prog");
  EXPECT_EQ(CurrentLogLevel(), LogLevel::kWarning);
  ConfigureLogging({});
}

TEST(FlagEnvironmentTest, UnsetAndEmptyVariablesLeaveFlagsAlone) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_test_address, "kept");
  ASSERT_TRUE(SetFlagsFromEnvironment(Environment({{"TESSERA_TEST_ADDRESS", ""}})).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_address), "kept");
  EXPECT_EQ(absl::GetFlag(FLAGS_test_memory_mb), 0);
}

TEST(FlagEnvironmentTest, BadValueNamesTheVariable) {
  absl::FlagSaver saver;
  absl::Status status = SetFlagsFromEnvironment(Environment({{"TESSERA_TEST_MEMORY_MB", "lots"}}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("environment variable TESSERA_TEST_MEMORY_MB"), std::string::npos) << status;
  EXPECT_NE(status.message().find("'lots'"), std::string::npos) << status;
  EXPECT_NE(status.message().find("--test-memory-mb"), std::string::npos) << status;
  status = SetFlagsFromEnvironment(Environment({{"TESSERA_LOG_LEVEL", "chatty"}}));
  EXPECT_NE(status.message().find("TESSERA_LOG_LEVEL"), std::string::npos) << status;
  EXPECT_NE(status.message().find("debug, info, warning or error"), std::string::npos) << status;
}

TEST(FlagEnvironmentTest, AbslBuiltinFlagsAreNotProgramFlags) {
  std::vector<std::string> names;
  for (const absl::CommandLineFlag* flag : ProgramFlags()) names.emplace_back(flag->Name());
  EXPECT_NE(std::find(names.begin(), names.end(), "test_memory_mb"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "log_level"), names.end());
  for (const char* builtin : {"flagfile", "fromenv", "tryfromenv", "undefok", "help", "helpfull"}) {
    EXPECT_EQ(std::find(names.begin(), names.end(), builtin), names.end()) << builtin;
  }
  // The environment cannot reach them either.
  absl::FlagSaver saver;
  ASSERT_TRUE(SetFlagsFromEnvironment(Environment({{"TESSERA_FLAGFILE", "/nonexistent"}})).ok());
  const absl::CommandLineFlag* flagfile = absl::FindCommandLineFlag("flagfile");
  ASSERT_NE(flagfile, nullptr);
  EXPECT_EQ(flagfile->CurrentValue(), "");
}

TEST(FlagEnvironmentTest, HelpListsBothSpellingsDefaultAndDescription) {
  const std::string help = FlagHelp("prog", "does things");
  EXPECT_EQ(help.rfind("prog: does things\n", 0), 0u) << help;
  EXPECT_NE(help.find("  --test-memory-mb   env TESSERA_TEST_MEMORY_MB   default: 0\n      a test flag with a number\n"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("--test-address   env TESSERA_TEST_ADDRESS   default: \"0.0.0.0:1\""), std::string::npos);
  EXPECT_NE(help.find("--log-level   env TESSERA_LOG_LEVEL   default: info"), std::string::npos);
  EXPECT_EQ(help.find("--flagfile"), std::string::npos);
}

TEST(FlagEnvironmentTest, AsksForHelp) {
  EXPECT_TRUE(AsksForHelp({"prog", "--listen", "x", "--help"}));
  EXPECT_TRUE(AsksForHelp({"prog", "-h"}));
  EXPECT_FALSE(AsksForHelp({"prog", "--", "--help"}));
  EXPECT_FALSE(AsksForHelp({"prog", "--helpfull"}));
}

// What InitServerMain does: the environment first, the command line over it.
TEST(FlagEnvironmentTest, CommandLineWinsOverTheEnvironment) {
  absl::FlagSaver saver;
  ASSERT_TRUE(SetFlagsFromEnvironment(Environment({{"TESSERA_TEST_MEMORY_MB", "64"},
                                                   {"TESSERA_TEST_ADDRESS", "from-env"}}))
                  .ok());
  std::vector<std::string> args = {"prog", "--test_memory_mb=128"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(absl::GetFlag(FLAGS_test_memory_mb), 128);
  EXPECT_EQ(absl::GetFlag(FLAGS_test_address), "from-env");
}

}  // namespace
}  // namespace tessera
