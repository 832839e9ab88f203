// The server binaries' flags as a container sees them: --help lists every
// flag with its TESSERA_* variable, and a bad value in a variable stops the
// binary with a message naming the variable (the real tessera-worker).
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/process.h"
#include "gtest/gtest.h"

extern char** environ;

namespace tessera {
namespace {

using client::Process;

std::string Bin(const std::string& name) { return absl::StrCat(TESSERA_BIN_DIR, "/", name); }

std::vector<std::string> EnvironmentWith(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "TESSERA_")) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::string AllStdout(Process& process) {
  std::string text;
  while (true) {
    absl::StatusOr<std::string> line = process.ReadStdoutLine(absl::Seconds(30));
    if (!line.ok()) break;
    absl::StrAppend(&text, *line, "\n");
  }
  return text;
}

TEST(ServerFlagsTest, HelpListsEveryFlagWithItsEnvironmentVariable) {
  for (const std::string binary : {"tessera-worker", "tessera-coordinator"}) {
    SCOPED_TRACE(binary);
    auto process = Process::Spawn({.argv = {Bin(binary), "--help"}});
    ASSERT_TRUE(process.ok()) << process.status();
    const std::string help = AllStdout(**process);
    absl::StatusOr<client::ExitStatus> exit = (*process)->Wait(absl::Seconds(30));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_TRUE(exit->success()) << exit->ToString();
    for (const char* expected :
         {"--listen   env TESSERA_LISTEN   default: ", "--certs   env TESSERA_CERTS   default: \"\"",
          "--log-level   env TESSERA_LOG_LEVEL   default: info", "--log-format   env TESSERA_LOG_FORMAT   default: text",
          "--drain-seconds   env TESSERA_DRAIN_SECONDS   default: 10"}) {
      EXPECT_TRUE(absl::StrContains(help, expected)) << expected << "\n" << help;
    }
    if (binary == "tessera-worker") {
      EXPECT_TRUE(absl::StrContains(help, "--worker-memory-mb   env TESSERA_WORKER_MEMORY_MB   default: 0\n      "))
          << help;
    } else {
      EXPECT_TRUE(absl::StrContains(help, "--model-repository   env TESSERA_MODEL_REPOSITORY")) << help;
    }
  }
}

TEST(ServerFlagsTest, BadEnvironmentValueNamesTheVariable) {
  auto process = Process::Spawn({.argv = {Bin("tessera-worker"), "--insecure", "--listen", "127.0.0.1:0"},
                                 .env = EnvironmentWith({"TESSERA_WORKER_MEMORY_MB=lots"})});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<client::ExitStatus> exit = (*process)->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->exited && exit->code == 1) << exit->ToString();
  const std::string stderr_text = (*process)->StderrTail();
  EXPECT_TRUE(absl::StrContains(stderr_text, "environment variable TESSERA_WORKER_MEMORY_MB: invalid value 'lots'"))
      << stderr_text;
}

TEST(ServerFlagsTest, CommandLineWinsOverTheEnvironment) {
  // The environment asks for a port that is not a number; the command line's
  // --listen wins, so the worker starts and announces its port.
  auto process = Process::Spawn({.argv = {Bin("tessera-worker"), "--insecure", "--listen", "127.0.0.1:0"},
                                 .env = EnvironmentWith({"TESSERA_LISTEN=127.0.0.1:notaport",
                                                         "TESSERA_LOG_LEVEL=debug"})});
  ASSERT_TRUE(process.ok()) << process.status();
  absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(absl::Seconds(60));
  ASSERT_TRUE(line.ok()) << line.status() << "\n" << (*process)->StderrTail();
  EXPECT_TRUE(absl::StartsWith(*line, "tessera-worker: listening on 127.0.0.1:")) << *line;
  // The settings line shows both sources' effect (stderr may trail stdout).
  std::string stderr_text;
  for (int i = 0; i < 500 && !absl::StrContains(stderr_text, "INFO tessera-worker: serving"); ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    stderr_text = (*process)->StderrTail();
  }
  EXPECT_TRUE(absl::StrContains(stderr_text, "listen=127.0.0.1:0")) << stderr_text;
  EXPECT_TRUE(absl::StrContains(stderr_text, "log_level=debug")) << stderr_text;
  ASSERT_TRUE((*process)->Signal(SIGTERM).ok());
  absl::StatusOr<client::ExitStatus> exit = (*process)->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->success()) << exit->ToString() << "\n" << (*process)->StderrTail();
}

}  // namespace
}  // namespace tessera
