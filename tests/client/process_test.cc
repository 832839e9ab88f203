#include "client/process.h"

#include <pthread.h>
#include <signal.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::client {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::unique_ptr<Process>> SpawnShell(const std::string& script) {
  Process::Options options;
  options.argv = {"/bin/sh", "-c", script};
  return Process::Spawn(std::move(options));
}

TEST(ProcessTest, ReadsStdoutLinesAndExitCode) {
  absl::StatusOr<std::unique_ptr<Process>> p = SpawnShell("echo first; echo second; exit 3");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GT((*p)->pid(), 0);
  EXPECT_EQ((*p)->name(), "sh");
  EXPECT_EQ((*p)->ReadStdoutLine(absl::Seconds(10)).value_or("?"), "first");
  EXPECT_EQ((*p)->ReadStdoutLine(absl::Seconds(10)).value_or("?"), "second");
  EXPECT_EQ((*p)->ReadStdoutLine(absl::Seconds(10)).status().code(), absl::StatusCode::kOutOfRange);
  absl::StatusOr<ExitStatus> status = (*p)->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 3);
  EXPECT_FALSE(status->success());
  EXPECT_EQ(status->ToString(), "exit code 3");
  // Waiting again returns the same status; signalling a reaped child is a no-op.
  EXPECT_EQ((*p)->Wait(absl::Seconds(1))->code, 3);
  EXPECT_TRUE((*p)->Signal(SIGTERM).ok());
}

TEST(ProcessTest, ReadLineTimesOut) {
  absl::StatusOr<std::unique_ptr<Process>> p = SpawnShell("exec sleep 30");
  ASSERT_TRUE(p.ok()) << p.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> line = (*p)->ReadStdoutLine(absl::Milliseconds(200));
  EXPECT_EQ(line.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ((*p)->Wait(absl::Milliseconds(50)).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE((*p)->TryWait().has_value());
}

TEST(ProcessTest, SignalTerminates) {
  absl::StatusOr<std::unique_ptr<Process>> p = SpawnShell("echo up; exec sleep 30");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ((*p)->ReadStdoutLine(absl::Seconds(10)).value_or("?"), "up");
  ASSERT_TRUE((*p)->Signal(SIGTERM).ok());
  absl::StatusOr<ExitStatus> status = (*p)->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->exited);
  EXPECT_EQ(status->signal, SIGTERM);
  EXPECT_THAT(status->ToString(), HasSubstr("signal 15"));
}

TEST(ProcessTest, ChildStartsWithSignalsUnblocked) {
  // A parent that blocked SIGTERM (to sigwait for it) must not pass that on.
  sigset_t term, previous;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &previous), 0);
  absl::StatusOr<std::unique_ptr<Process>> p = SpawnShell("echo up; exec sleep 30");
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ((*p)->ReadStdoutLine(absl::Seconds(10)).value_or("?"), "up");
  ASSERT_TRUE((*p)->Signal(SIGTERM).ok());
  absl::StatusOr<ExitStatus> status = (*p)->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->signal, SIGTERM);
}

TEST(ProcessTest, StderrGoesToSinkAndTail) {
  absl::Mutex mu;
  std::vector<std::string> seen;
  Process::Options options;
  options.argv = {"/bin/sh", "-c", "echo one >&2; echo two >&2; printf partial >&2; exit 1"};
  options.stderr_sink = [&](absl::string_view line) {
    absl::MutexLock lock(&mu);
    seen.emplace_back(line);
  };
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Spawn(std::move(options));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->Wait(absl::Seconds(10)).ok());
  // The reader may still be draining after the exit: wait for EOF on stdout.
  EXPECT_EQ((*p)->ReadStdoutLine(absl::Seconds(10)).status().code(), absl::StatusCode::kOutOfRange);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*p)->StderrTail() != "one\ntwo\npartial" && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ((*p)->StderrTail(), "one\ntwo\npartial");
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "two", "partial"}));
}

TEST(ProcessTest, StderrTailKeepsTheLastLines) {
  absl::StatusOr<std::unique_ptr<Process>> p = SpawnShell("i=0; while [ $i -lt 100 ]; do echo line$i >&2; i=$((i+1)); done");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->Wait(absl::Seconds(10)).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!absl::EndsWith((*p)->StderrTail(), "line99") && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  const std::string tail = (*p)->StderrTail();
  EXPECT_TRUE(absl::StartsWith(tail, "line60\n")) << tail;
  EXPECT_TRUE(absl::EndsWith(tail, "\nline99")) << tail;
}

TEST(ProcessTest, ForwardStdoutFlushesQueuedThenNewLines) {
  absl::StatusOr<std::unique_ptr<Process>> p = SpawnShell("echo announce; echo queued; read x; echo later");
  // stdin is /dev/null, so `read` returns at once; "later" may come any time.
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ((*p)->ReadStdoutLine(absl::Seconds(10)).value_or("?"), "announce");
  absl::Mutex mu;
  std::vector<std::string> seen;
  (*p)->ForwardStdout([&](absl::string_view line) {
    absl::MutexLock lock(&mu);
    seen.emplace_back(line);
  });
  EXPECT_EQ((*p)->ReadStdoutLine(absl::Seconds(1)).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*p)->Wait(absl::Seconds(10)).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    {
      absl::MutexLock lock(&mu);
      if (seen.size() >= 2) break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::MutexLock lock(&mu);
  EXPECT_THAT(seen, ::testing::UnorderedElementsAre("queued", "later"));
}

TEST(ProcessTest, MissingExecutableIsNotFound) {
  Process::Options options;
  options.argv = {"/nonexistent/tessera-nothing"};
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Spawn(std::move(options));
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(p.status().message(), HasSubstr("/nonexistent/tessera-nothing"));
  Process::Options empty;
  EXPECT_EQ(Process::Spawn(std::move(empty)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProcessTest, EnvironmentIsReplacedWhenGiven) {
  Process::Options options;
  options.argv = {"/bin/sh", "-c", "echo \"$TESSERA_TEST_VALUE:$HOME\""};
  options.env = {"TESSERA_TEST_VALUE=42", "PATH=/usr/bin:/bin"};
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Spawn(std::move(options));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->ReadStdoutLine(absl::Seconds(10)).value_or("?"), "42:");
}

TEST(ProcessTest, DestructorKillsARunningChild) {
  pid_t pid = 0;
  {
    absl::StatusOr<std::unique_ptr<Process>> p = SpawnShell("exec sleep 30");
    ASSERT_TRUE(p.ok()) << p.status();
    pid = (*p)->pid();
  }
  // Reaped by the destructor: the pid no longer names our child.
  EXPECT_NE(kill(pid, 0), 0);
}

TEST(ProcessTest, ChildGetsDeathSignalWhenTheSpawningThreadEnds) {
  // PR_SET_PDEATHSIG fires when the thread that forked exits; the same
  // mechanism kills children when `tessera up` itself is killed.
  std::unique_ptr<Process> child;
  std::thread spawner([&] {
    absl::StatusOr<std::unique_ptr<Process>> p = SpawnShell("echo up; exec sleep 30");
    if (p.ok()) child = *std::move(p);
  });
  spawner.join();
  ASSERT_NE(child, nullptr);
  absl::StatusOr<ExitStatus> status = child->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->signal, SIGTERM);
}

}  // namespace
}  // namespace tessera::client
