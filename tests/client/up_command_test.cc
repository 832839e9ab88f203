#include "client/up_command.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/exit_codes.h"
#include "client/process.h"
#include "common/certificate_authority.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------
// Argument parsing

TEST(ParseUpArgsTest, DefaultsAndFlags) {
  absl::StatusOr<UpOptions> minimal = ParseUpArgs({"--model-repository", "repo", "--workers", "2"});
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_EQ(minimal->model_repository, "repo");
  EXPECT_EQ(minimal->workers, 2);
  EXPECT_EQ(minimal->listen, "127.0.0.1:8000");
  EXPECT_TRUE(minimal->certs_dir.empty());
  EXPECT_FALSE(minimal->insecure);
  EXPECT_EQ(minimal->worker_memory_mb, -1);
  EXPECT_EQ(minimal->threads, -1);
  EXPECT_EQ(minimal->ready_timeout_s, 120);
  EXPECT_FALSE(minimal->token_auth);
  EXPECT_TRUE(minimal->client_tokens_file.empty());

  absl::StatusOr<UpOptions> full =
      ParseUpArgs({"--model-repository=r", "--workers=3", "--listen", "0.0.0.0:9000", "--certs", "c",
                   "--worker-memory-mb", "512", "--threads=2", "--bin-dir", "/b", "--ready-timeout-s", "30"});
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->workers, 3);
  EXPECT_EQ(full->listen, "0.0.0.0:9000");
  EXPECT_EQ(full->certs_dir, "c");
  EXPECT_EQ(full->worker_memory_mb, 512);
  EXPECT_EQ(full->threads, 2);
  EXPECT_EQ(full->bin_dir, "/b");
  EXPECT_EQ(full->ready_timeout_s, 30);

  absl::StatusOr<UpOptions> insecure = ParseUpArgs({"--model-repository=r", "--workers=1", "--insecure"});
  ASSERT_TRUE(insecure.ok());
  EXPECT_TRUE(insecure->insecure);

  absl::StatusOr<UpOptions> token = ParseUpArgs({"--model-repository=r", "--workers=1", "--client-auth=token"});
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(token->token_auth);
  EXPECT_TRUE(token->client_tokens_file.empty());
  absl::StatusOr<UpOptions> token_file = ParseUpArgs(
      {"--model-repository=r", "--workers=1", "--client-auth", "token", "--client-tokens-file", "t.txt"});
  ASSERT_TRUE(token_file.ok()) << token_file.status();
  EXPECT_TRUE(token_file->token_auth);
  EXPECT_EQ(token_file->client_tokens_file, "t.txt");
  absl::StatusOr<UpOptions> mtls = ParseUpArgs({"--model-repository=r", "--workers=1", "--client-auth=mtls"});
  ASSERT_TRUE(mtls.ok()) << mtls.status();
  EXPECT_FALSE(mtls->token_auth);
}

TEST(ParseUpArgsTest, UsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--workers", "1"}, "--model-repository is required"},
      {{"--model-repository", "r"}, "--workers is required"},
      {{"--model-repository", "r", "--workers", "0"}, "--workers expects an integer >= 1"},
      {{"--model-repository", "r", "--workers", "x"}, "--workers expects an integer >= 1"},
      {{"--model-repository", "r", "--workers", "1", "--listen", "nocolon"}, "--listen expects HOST:PORT"},
      {{"--model-repository", "r", "--workers", "1", "--certs", "c", "--insecure"}, "exclude each other"},
      {{"--model-repository", "r", "--workers", "1", "--bogus"}, "unknown flag '--bogus'"},
      {{"--model-repository", "r", "--workers"}, "--workers needs a value"},
      {{"--model-repository", "r", "--workers", "1", "--threads", "-1"}, "--threads expects an integer >= 0"},
      {{"--model-repository", "r", "--workers", "1", "stray"}, "unexpected argument 'stray'"},
      {{"--model-repository", "r", "--workers", "1", "--client-auth", "bearer"},
       "--client-auth expects mtls or token, got 'bearer'"},
      {{"--model-repository", "r", "--workers", "1", "--client-auth="}, "--client-auth needs a non-empty value"},
      {{"--model-repository", "r", "--workers", "1", "--client-tokens-file", "t"},
       "--client-tokens-file needs --client-auth=token"},
      {{"--model-repository", "r", "--workers", "1", "--client-auth=mtls", "--client-tokens-file", "t"},
       "--client-tokens-file needs --client-auth=token"},
      {{"--model-repository", "r", "--workers", "1", "--client-auth=token", "--insecure"},
       "--client-auth=token needs TLS; drop --insecure"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ParseUpArgs(c.args).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"up", "--workers", "1"}, out, err), kExitUsageError);
  EXPECT_THAT(err.str(), HasSubstr("tessera up --help"));
  std::ostringstream help;
  EXPECT_EQ(RunCli({"up", "--help"}, help, err), kExitOk);
  EXPECT_THAT(help.str(), HasSubstr("usage: tessera up"));
}

TEST(UpCommandTest, MissingBinariesAreNamed) {
  std::ostringstream out, err;
  EXPECT_EQ(UpCommand({"--model-repository", TESSERA_SOURCE_DIR "/examples/models", "--workers", "1", "--bin-dir",
                       "/nonexistent/bin", "--insecure"},
                      out, err),
            kExitRuntimeError);
  EXPECT_THAT(err.str(), HasSubstr("/nonexistent/bin/tessera-worker"));
}

TEST(UpCommandTest, MissingRepositoryIsNamed) {
  std::ostringstream out, err;
  EXPECT_EQ(UpCommand({"--model-repository", "/nonexistent/repo", "--workers", "1", "--insecure"}, out, err),
            kExitRuntimeError);
  EXPECT_THAT(err.str(), HasSubstr("'/nonexistent/repo' is not a directory"));
}

// ---------------------------------------------------------------------------
// The `tessera` binary as a subprocess, with stand-in server binaries
// (shell scripts) in --bin-dir.

std::string CliBinary() { return TESSERA_CLI_BINARY; }

class UpProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("up_command_test_", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_",
                        ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void WriteScript(const std::string& name, const std::string& body) {
    const fs::path path = dir_ / "bin" / name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), 0755);
  }

  // Starts `tessera up` with the stand-ins; every line it writes to stderr
  // is collected.
  std::unique_ptr<Process> StartUp(std::vector<std::string> extra) {
    Process::Options options;
    options.argv = {CliBinary(), "up", "--model-repository", TESSERA_SOURCE_DIR "/examples/models",
                    "--bin-dir", (dir_ / "bin").string()};
    options.argv.insert(options.argv.end(), extra.begin(), extra.end());
    absl::StatusOr<std::unique_ptr<Process>> up = Process::Spawn(std::move(options));
    EXPECT_TRUE(up.ok()) << up.status();
    return up.ok() ? *std::move(up) : nullptr;
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(UpProcessTest, CoordinatorDyingEarlyStopsWorkersAndShowsItsStderr) {
  // Each worker records its arguments and pid, announces a port, and waits.
  WriteScript("tessera-worker", absl::StrCat("echo \"$@\" >> ", Path("worker_args"), "\necho $$ >> ",
                                             Path("worker_pids"),
                                             "\necho \"tessera-worker: listening on 127.0.0.1:$((40000 + $$ % 1000))\""
                                             "\nexec sleep 60"));
  WriteScript("tessera-coordinator",
              absl::StrCat("echo \"$@\" > ", Path("coordinator_args"),
                           "\necho 'model demo_cnn: cannot load' >&2\necho 'giving up' >&2\nexit 3"));
  std::unique_ptr<Process> up =
      StartUp({"--workers", "2", "--insecure", "--worker-memory-mb", "64", "--threads", "1"});
  ASSERT_NE(up, nullptr);
  absl::StatusOr<ExitStatus> status = up->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->ToString(), "exit code 1");
  absl::SleepFor(absl::Milliseconds(200));
  const std::string err = up->StderrTail();
  EXPECT_THAT(err, HasSubstr("coordinator (tessera-coordinator"));
  EXPECT_THAT(err, HasSubstr("exit code 3"));
  EXPECT_THAT(err, HasSubstr("giving up"));

  std::ifstream worker_args(Path("worker_args"));
  std::string line;
  ASSERT_TRUE(std::getline(worker_args, line));
  EXPECT_EQ(line, "--listen 127.0.0.1:0 --insecure --worker-memory-mb=64 --threads=1");
  std::ifstream coordinator_args(Path("coordinator_args"));
  ASSERT_TRUE(std::getline(coordinator_args, line));
  EXPECT_THAT(line, HasSubstr("--listen 127.0.0.1:8000 --model-repository "));
  EXPECT_THAT(line, ::testing::MatchesRegex(".*--workers 127\\.0\\.0\\.1:[0-9]+,127\\.0\\.0\\.1:[0-9]+ "
                                            "--insecure --threads=1"));
  // Both workers were stopped.
  std::ifstream pids(Path("worker_pids"));
  int count = 0;
  for (pid_t pid; pids >> pid; ++count) EXPECT_NE(::kill(pid, 0), 0) << "worker " << pid << " still running";
  EXPECT_EQ(count, 2);
}

TEST_F(UpProcessTest, WorkerThatNeverAnnouncesIsReported) {
  WriteScript("tessera-worker", "echo 'cannot bind' >&2\nexit 1");
  WriteScript("tessera-coordinator", "exit 0");
  std::unique_ptr<Process> up = StartUp({"--workers", "1"});
  ASSERT_NE(up, nullptr);
  // Without --certs it makes temporary certificates first.
  absl::StatusOr<std::string> line = up->ReadStdoutLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(absl::StartsWith(*line, "certificates: ")) << *line;
  const std::string certs = line->substr(std::string("certificates: ").size(), line->find(' ', 14) - 14);
  absl::StatusOr<ExitStatus> status = up->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->ToString(), "exit code 1");
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_THAT(up->StderrTail(), HasSubstr("exited before announcing its address"));
  EXPECT_THAT(up->StderrTail(), HasSubstr("cannot bind"));
  EXPECT_FALSE(fs::exists(certs)) << certs << " should be removed on exit";
}

TEST_F(UpProcessTest, SigtermWhileStartingStopsCleanly) {
  WriteScript("tessera-worker", "echo \"tessera-worker: listening on 127.0.0.1:40001\"\nexec sleep 60");
  WriteScript("tessera-coordinator", "exec sleep 60");  // never announces
  std::unique_ptr<Process> up = StartUp({"--workers", "1", "--insecure"});
  ASSERT_NE(up, nullptr);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!absl::StrContains(up->StderrTail(), "worker-0 serving at") && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_THAT(up->StderrTail(), HasSubstr("worker-0 serving at 127.0.0.1:40001"));
  ASSERT_TRUE(up->Signal(SIGTERM).ok());
  absl::StatusOr<ExitStatus> status = up->Wait(absl::Seconds(15));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->ToString(), "exit code 0");
}

// Token mode without a tokens file: a fresh token in a 0600 file in the
// temporary directory, handed to the coordinator (not the workers), its path
// printed and the token itself nowhere in the output; removed on exit.
TEST_F(UpProcessTest, GeneratedTokenFileGoesToTheCoordinatorOnly) {
  WriteScript("tessera-worker", absl::StrCat("echo \"$@\" >> ", Path("worker_args"),
                                             "\necho \"tessera-worker: listening on 127.0.0.1:40002\"\nexec sleep 60"));
  // The stand-in coordinator keeps a copy of the file and its mode, then fails.
  WriteScript("tessera-coordinator",
              absl::StrCat("for a in \"$@\"; do case \"$a\" in --client-tokens-file=*) f=\"${a#*=}\"; "
                           "stat -c %a \"$f\" > ", Path("token_mode"), "; cp \"$f\" ", Path("token_copy"),
                           ";; esac; done\necho \"$@\" > ", Path("coordinator_args"), "\nexit 3"));
  std::unique_ptr<Process> up = StartUp({"--workers", "1", "--client-auth=token"});
  ASSERT_NE(up, nullptr);
  std::string stdout_text, token_file;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> line = up->ReadStdoutLine(absl::Seconds(1));
    if (!line.ok()) {
      if (line.status().code() == absl::StatusCode::kOutOfRange) break;
      continue;
    }
    absl::StrAppend(&stdout_text, *line, "\n");
    if (absl::StartsWith(*line, "token-file: ")) token_file = line->substr(12, line->find(' ', 12) - 12);
  }
  absl::StatusOr<ExitStatus> status = up->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->ToString(), "exit code 1");
  ASSERT_FALSE(token_file.empty()) << stdout_text;
  EXPECT_THAT(stdout_text, HasSubstr("(temporary; removed when the cluster stops)"));
  EXPECT_EQ(fs::path(token_file).filename(), "client-token");

  std::ifstream mode(Path("token_mode"));
  std::string mode_text;
  ASSERT_TRUE(std::getline(mode, mode_text));
  EXPECT_EQ(mode_text, "600");
  std::ifstream copy(Path("token_copy"));
  std::string token;
  ASSERT_TRUE(std::getline(copy, token));
  EXPECT_THAT(token, ::testing::MatchesRegex("[0-9a-f]{64}"));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_THAT(stdout_text, ::testing::Not(HasSubstr(token)));
  EXPECT_THAT(up->StderrTail(), ::testing::Not(HasSubstr(token)));

  std::ifstream coordinator_args(Path("coordinator_args"));
  std::string line;
  ASSERT_TRUE(std::getline(coordinator_args, line));
  EXPECT_THAT(line, HasSubstr(absl::StrCat("--client-auth=token --client-tokens-file=", token_file)));
  std::ifstream worker_args(Path("worker_args"));
  ASSERT_TRUE(std::getline(worker_args, line));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("client-auth")));
  EXPECT_FALSE(fs::exists(token_file)) << token_file << " should be removed on exit";
}

// A tokens file the coordinator would refuse stops `tessera up` before any
// process starts, naming the file and line but not the line's contents.
TEST_F(UpProcessTest, BadTokensFileIsRefusedBeforeStarting) {
  WriteScript("tessera-worker", absl::StrCat("echo started >> ", Path("worker_args"), "\nexit 1"));
  WriteScript("tessera-coordinator", "exit 1");
  std::ofstream(Path("tokens")) << "# tokens\nshort-secret\n";
  std::unique_ptr<Process> up =
      StartUp({"--workers", "1", "--client-auth=token", "--client-tokens-file", Path("tokens")});
  ASSERT_NE(up, nullptr);
  absl::StatusOr<ExitStatus> status = up->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->ToString(), "exit code 1");
  absl::SleepFor(absl::Milliseconds(200));
  const std::string err = up->StderrTail();
  EXPECT_THAT(err, HasSubstr(Path("tokens")));
  EXPECT_THAT(err, HasSubstr("line 2"));
  EXPECT_THAT(err, ::testing::Not(HasSubstr("short-secret")));
  EXPECT_FALSE(fs::exists(Path("worker_args"))) << "a worker was started";

  // A missing file is named too.
  std::unique_ptr<Process> missing =
      StartUp({"--workers", "1", "--client-auth=token", "--client-tokens-file", Path("no_such_tokens")});
  ASSERT_NE(missing, nullptr);
  status = missing->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->ToString(), "exit code 1");
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_THAT(missing->StderrTail(), HasSubstr(Path("no_such_tokens")));
}

// With --certs DIR (the user's directory), a generated token goes into a
// temporary directory of its own, never into DIR, and is removed on exit.
TEST_F(UpProcessTest, GeneratedTokenWithGivenCertsStaysOutOfTheCertsDirectory) {
  ASSERT_TRUE(MakeClusterCertificates(Path("certs"), {}).ok());
  std::set<std::string> before;
  for (const auto& entry : fs::directory_iterator(Path("certs"))) before.insert(entry.path().filename());
  WriteScript("tessera-worker", "echo \"tessera-worker: listening on 127.0.0.1:40003\"\nexec sleep 60");
  WriteScript("tessera-coordinator", absl::StrCat("echo \"$@\" > ", Path("coordinator_args"), "\nexit 3"));
  std::unique_ptr<Process> up = StartUp({"--workers", "1", "--certs", Path("certs"), "--client-auth=token"});
  ASSERT_NE(up, nullptr);
  absl::StatusOr<std::string> line = up->ReadStdoutLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status() << up->StderrTail();
  ASSERT_TRUE(absl::StartsWith(*line, "token-file: ")) << *line;
  const std::string token_file = line->substr(12, line->find(' ', 12) - 12);
  EXPECT_NE(fs::path(token_file).parent_path(), fs::path(Path("certs")));
  absl::StatusOr<ExitStatus> status = up->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->ToString(), "exit code 1");
  std::ifstream coordinator_args(Path("coordinator_args"));
  std::string args;
  ASSERT_TRUE(std::getline(coordinator_args, args));
  EXPECT_THAT(args, HasSubstr(absl::StrCat("--client-tokens-file=", token_file)));
  EXPECT_FALSE(fs::exists(token_file));
  EXPECT_FALSE(fs::exists(fs::path(token_file).parent_path()));
  std::set<std::string> after;
  for (const auto& entry : fs::directory_iterator(Path("certs"))) after.insert(entry.path().filename());
  EXPECT_EQ(before, after);
}

// ---------------------------------------------------------------------------
// The real cluster: needs tessera-coordinator and tessera-worker next to
// tessera.

bool ServerBinariesBuilt() {
  const fs::path bin_dir = fs::path(CliBinary()).parent_path();
  return fs::exists(bin_dir / "tessera-coordinator") && fs::exists(bin_dir / "tessera-worker");
}

// A running `tessera up` and what it printed on stdout before its ready line.
struct RunningUp {
  std::unique_ptr<Process> process;
  std::string certs;       // "certificates: DIR" (generated ones)
  std::string token_line;  // the whole "token-file: ..." line, if any
  std::string token_file;  // its path
  std::string address;     // "ready: ADDR"
};

// Starts `tessera up ARGS` and reads its stdout until the ready line, for at
// most `timeout`; a failure names what was missing, with up's stderr.
absl::StatusOr<RunningUp> StartRealUp(const std::vector<std::string>& args, absl::Duration timeout) {
  Process::Options options;
  options.argv = {CliBinary(), "up"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  absl::StatusOr<std::unique_ptr<Process>> spawned = Process::Spawn(std::move(options));
  if (!spawned.ok()) return spawned.status();
  RunningUp up{.process = *std::move(spawned)};
  const absl::Time deadline = absl::Now() + timeout;
  while (up.address.empty() && absl::Now() < deadline) {
    absl::StatusOr<std::string> line = up.process->ReadStdoutLine(absl::Seconds(1));
    if (!line.ok()) {
      if (line.status().code() != absl::StatusCode::kDeadlineExceeded) {
        return absl::Status(line.status().code(),
                            absl::StrCat(line.status().message(), "; stderr:\n", up.process->StderrTail()));
      }
      continue;
    }
    if (absl::StartsWith(*line, "certificates: ")) up.certs = line->substr(14, line->find(' ', 14) - 14);
    if (absl::StartsWith(*line, "token-file: ")) {
      up.token_line = *line;
      up.token_file = line->substr(12, line->find(' ', 12) - 12);
    }
    if (absl::StartsWith(*line, "ready: ")) up.address = line->substr(7);
  }
  if (up.address.empty()) {
    return absl::DeadlineExceededError(absl::StrCat("no ready line; stderr:\n", up.process->StderrTail()));
  }
  return up;
}

// SIGTERM, then `tessera up` must exit 0 within 15 s.
void ExpectStopsCleanly(Process& up) {
  ASSERT_TRUE(up.Signal(SIGTERM).ok());
  absl::StatusOr<ExitStatus> status = up.Wait(absl::Seconds(15));
  ASSERT_TRUE(status.ok()) << status.status() << "\n" << up.StderrTail();
  EXPECT_EQ(status->ToString(), "exit code 0") << up.StderrTail();
}

// A model repository in a fresh directory holding only the data-parallel
// demo model (one worker serves it).
fs::path DemoCnnOnlyRepository(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / absl::StrCat(name, "_", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "models");
  fs::copy(TESSERA_SOURCE_DIR "/examples/models/demo_cnn", dir / "models" / "demo_cnn",
           fs::copy_options::recursive);
  return dir;
}

// Four workers, because examples/models serves demo_cnn_hybrid (2 stages x 2
// replicas) and the coordinator reports ready only once every model is
// deployed.
TEST(UpClusterTest, ServesTheDemoRepositoryAndStopsOnSigterm) {
  if (!ServerBinariesBuilt()) GTEST_SKIP() << "tessera-coordinator or tessera-worker not built";
  absl::StatusOr<RunningUp> up =
      StartRealUp({"--model-repository", TESSERA_SOURCE_DIR "/examples/models", "--workers", "4", "--listen",
                   "127.0.0.1:0", "--threads", "1", "--ready-timeout-s", "120"},
                  absl::Seconds(150));
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_FALSE(up->certs.empty());

  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"infer", "--server", up->address, "--certs", up->certs, "--model", "demo_cnn", "--random-input",
                    "input=2x3x32x32", "--json", "--timeout-ms", "60000"},
                   out, err),
            kExitOk)
      << err.str();
  EXPECT_THAT(out.str(), HasSubstr("\"model_name\": \"demo_cnn\""));

  ExpectStopsCleanly(*up->process);
  EXPECT_FALSE(fs::exists(up->certs));
}

// Token mode with the user's tokens file (a comment and two tokens): readiness
// is polled with its first token, and a client holding the second is served.
TEST(UpClusterTest, TokenModeWithAGivenTokensFile) {
  if (!ServerBinariesBuilt()) GTEST_SKIP() << "tessera-coordinator or tessera-worker not built";
  const fs::path dir = DemoCnnOnlyRepository("up_given_tokens");
  const std::string tokens = (dir / "tokens").string();
  std::ofstream(tokens) << "# clients\nfirst-token-0123456789abcdef\nsecond-token-0123456789abcdef\n";
  const std::string second = (dir / "second").string();
  std::ofstream(second) << "second-token-0123456789abcdef\n";

  absl::StatusOr<RunningUp> up =
      StartRealUp({"--model-repository", (dir / "models").string(), "--workers", "1", "--listen", "127.0.0.1:0",
                   "--threads", "1", "--ready-timeout-s", "60", "--client-auth", "token", "--client-tokens-file",
                   tokens},
                  absl::Seconds(90));
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->token_line, absl::StrCat("token-file: ", tokens));
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"infer", "--server", up->address, "--ca", up->certs + "/ca.pem", "--token-file", second,
                    "--model", "demo_cnn", "--random-input", "input=1x3x32x32", "--json", "--timeout-ms", "30000"},
                   out, err),
            kExitOk)
      << err.str();
  EXPECT_THAT(out.str(), HasSubstr("\"model_name\": \"demo_cnn\""));
  ExpectStopsCleanly(*up->process);
  EXPECT_TRUE(fs::exists(tokens)) << "the user's tokens file must stay";
  fs::remove_all(dir);
}

// Token mode with the real binaries, one worker and a repository of only the
// data-parallel demo model: an infer with the generated token file (and the
// CA, no client certificate) is answered; one with the client certificate but
// no token, and one with a token not in the file, are refused with
// UNAUTHENTICATED.
TEST(UpClusterTest, TokenModeAnswersTheTokenAndRefusesCallsWithoutIt) {
  if (!ServerBinariesBuilt()) GTEST_SKIP() << "tessera-coordinator or tessera-worker not built";
  const fs::path dir = DemoCnnOnlyRepository("up_token_cluster");
  absl::StatusOr<RunningUp> up =
      StartRealUp({"--model-repository", (dir / "models").string(), "--workers", "1", "--listen", "127.0.0.1:0",
                   "--threads", "1", "--ready-timeout-s", "60", "--client-auth=token"},
                  absl::Seconds(90));
  ASSERT_TRUE(up.ok()) << up.status();
  const std::string& certs = up->certs;
  const std::string& token_file = up->token_file;
  const std::string& address = up->address;
  ASSERT_FALSE(certs.empty());
  ASSERT_EQ(fs::path(token_file).parent_path(), fs::path(certs));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_THAT(up->process->StderrTail(),
              HasSubstr(absl::StrCat("try: tessera infer --server ", address, " --ca ", certs, "/ca.pem --token-file ",
                                     token_file, " --model NAME")));

  const std::vector<std::string> request = {"--model", "demo_cnn", "--random-input", "input=2x3x32x32",
                                            "--json", "--timeout-ms", "30000"};
  auto infer = [&](std::vector<std::string> security, std::string* out_text, std::string* err_text) {
    std::vector<std::string> args = {"infer", "--server", address};
    args.insert(args.end(), security.begin(), security.end());
    args.insert(args.end(), request.begin(), request.end());
    std::ostringstream out, err;
    const int code = RunCli(args, out, err);
    *out_text = out.str();
    *err_text = err.str();
    return code;
  };
  std::string out, err;
  EXPECT_EQ(infer({"--ca", certs + "/ca.pem", "--token-file", token_file}, &out, &err), kExitOk) << err;
  EXPECT_THAT(out, HasSubstr("\"model_name\": \"demo_cnn\""));

  EXPECT_NE(infer({"--certs", certs}, &out, &err), kExitOk) << out;
  EXPECT_THAT(err, HasSubstr("UNAUTHENTICATED"));

  const std::string wrong_token = (dir / "wrong-token").string();
  std::ofstream(wrong_token) << "0123456789abcdef0123456789abcdef\n";
  EXPECT_NE(infer({"--ca", certs + "/ca.pem", "--token-file", wrong_token}, &out, &err), kExitOk) << out;
  EXPECT_THAT(err, HasSubstr("UNAUTHENTICATED"));

  ExpectStopsCleanly(*up->process);
  EXPECT_FALSE(fs::exists(token_file));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tessera::client
