// Child processes for `tessera up`: spawn an executable with its stdout and
// stderr on pipes, read announce lines from stdout with a timeout, forward
// the rest, signal it and wait for it with a bound.
//
// Spawn uses fork + execve (not posix_spawn) because the child must call
// prctl(PR_SET_PDEATHSIG, death_signal) before exec: the child then gets
// `death_signal` when the parent dies, even by SIGKILL. Linux ties that
// signal to the parent *thread* that forked, not the process: spawn from a
// thread that outlives the child (the main thread in `tessera up`). Between
// fork and exec the child only makes async-signal-safe calls. It also starts
// with an empty signal mask and default dispositions, whatever the parent
// had blocked (a parent waiting for SIGTERM with sigwait blocks it).
//
// Output: one reader thread per process drains both pipes for the child's
// whole life, so a chatty child never blocks on a full pipe. Stdout lines
// queue for ReadStdoutLine until ForwardStdout installs a sink; stderr lines
// go to Options::stderr_sink (if any) and the last kStderrTailLines of them
// are kept for StderrTail (error messages when a child dies early). Sinks
// are called on the reader thread, one line at a time, without the newline.
//
// Ownership and thread safety: a Process owns its child. Destroying a
// Process whose child is still running kills it (SIGKILL) and reaps it;
// the destructor joins the reader thread. Methods may be called from any
// thread; Wait and TryWait must not race each other.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tessera::client {

// How a child ended.
struct ExitStatus {
  bool exited = false;  // true: returned `code`; false: killed by `signal`
  int code = 0;
  int signal = 0;

  bool success() const { return exited && code == 0; }
  // "exit code 3", "killed by signal 15 (Terminated)".
  std::string ToString() const;
};

class Process {
 public:
  using LineSink = std::function<void(absl::string_view line)>;

  static constexpr size_t kStderrTailLines = 40;

  struct Options {
    // argv[0] is the executable's path (no PATH search).
    std::vector<std::string> argv;
    // The child's environment as "NAME=VALUE"; empty: the parent's.
    std::vector<std::string> env;
    // Signal the child receives when the spawning thread dies; 0: none.
    int death_signal = SIGTERM;
    // Receives each stderr line; empty: stderr is only kept for StderrTail.
    LineSink stderr_sink;
    // Puts the child in a process group of its own, so that a terminal's
    // Ctrl-C reaches only the parent, which then stops children in order.
    bool new_process_group = false;
  };

  // Starts the child. NotFound / PermissionDenied (etc., from errno) when the
  // executable cannot be run, InvalidArgument for an empty argv.
  static absl::StatusOr<std::unique_ptr<Process>> Spawn(Options options);

  // Only Spawn, which owns the pipes' and child's setup, can make one.
  struct ConstructionKey {
    explicit ConstructionKey() = default;
  };
  Process(ConstructionKey, pid_t pid, std::string name, int stdout_fd, int stderr_fd, LineSink stderr_sink);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // argv[0]'s last path component, for messages.
  const std::string& name() const { return name_; }

  // The next stdout line (without '\n'). DeadlineExceeded when none arrives
  // within `timeout`; OutOfRange once stdout is closed and drained;
  // FailedPrecondition after ForwardStdout.
  absl::StatusOr<std::string> ReadStdoutLine(absl::Duration timeout);

  // From now on stdout lines (those queued first) go to `sink`.
  void ForwardStdout(LineSink sink);

  // Sends `signal` unless the child was already reaped (then OK: nothing to
  // signal).
  absl::Status Signal(int signal);

  // Waits until the child exits, at most `timeout`; DeadlineExceeded if it
  // is still running. Once reaped, returns the same status again.
  absl::StatusOr<ExitStatus> Wait(absl::Duration timeout);

  // The exit status if the child has exited (reaping it), else nullopt.
  std::optional<ExitStatus> TryWait();

  // The last stderr lines, joined with '\n'.
  std::string StderrTail() const;

 private:
  void ReadLoop();
  void DeliverLine(bool is_stdout, std::string line);

  const pid_t pid_;
  const std::string name_;
  const int stdout_fd_;
  const int stderr_fd_;
  const LineSink stderr_sink_;
  std::atomic<bool> stop_reading_{false};

  mutable absl::Mutex mu_;
  std::optional<ExitStatus> exit_status_ ABSL_GUARDED_BY(mu_);  // set once reaped
  std::deque<std::string> stdout_lines_ ABSL_GUARDED_BY(mu_);
  bool stdout_closed_ ABSL_GUARDED_BY(mu_) = false;
  LineSink stdout_sink_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> stderr_tail_ ABSL_GUARDED_BY(mu_);

  std::thread reader_;  // last: starts after everything it reads is built
};

}  // namespace tessera::client
