#include "client/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace tessera::client {
namespace {

// Lines longer than this are split, so a child without newlines cannot make
// the reader buffer grow without bound.
constexpr size_t kMaxLineBytes = 64 * 1024;

absl::Status ErrnoStatus(int error, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOEXEC:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

void CloseIfOpen(int fd) {
  if (fd >= 0) close(fd);
}

ExitStatus FromWaitStatus(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

// The child's side of Spawn: async-signal-safe calls only.
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, int stdout_w, int stderr_w, int error_w,
                            int death_signal, bool new_process_group, pid_t parent) {
  if (death_signal != 0) {
    prctl(PR_SET_PDEATHSIG, death_signal);
    // The parent may have died before prctl: then nobody would signal us.
    if (getppid() != parent) _exit(127);
  }
  if (new_process_group) setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &default_action, nullptr);
  }
  const int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  dup2(stdout_w, STDOUT_FILENO);
  dup2(stderr_w, STDERR_FILENO);
  execve(argv[0], argv, envp);
  const int error = errno;
  ssize_t ignored = write(error_w, &error, sizeof(error));
  (void)ignored;
  _exit(127);
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (exited) return absl::StrCat("exit code ", code);
  const char* description = strsignal(signal);
  return absl::StrCat("killed by signal ", signal, " (", description != nullptr ? description : "?", ")");
}

absl::StatusOr<std::unique_ptr<Process>> Process::Spawn(Options options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError("Process::Spawn needs an executable");
  }
  // Everything the child needs is built before fork: after it, no allocation.
  std::vector<char*> argv;
  for (std::string& arg : options.argv) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> env_storage;
  for (std::string& entry : options.env) env_storage.push_back(entry.data());
  env_storage.push_back(nullptr);
  char* const* envp = options.env.empty() ? environ : env_storage.data();

  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  int exec_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], exec_pipe[0], exec_pipe[1]}) CloseIfOpen(fd);
  };
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 || pipe2(exec_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    close_all();
    return ErrnoStatus(error, "cannot create pipes");
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close_all();
    return ErrnoStatus(error, absl::StrCat("cannot fork for ", options.argv[0]));
  }
  if (pid == 0) {
    ExecChild(argv.data(), envp, out_pipe[1], err_pipe[1], exec_pipe[1], options.death_signal,
              options.new_process_group, parent);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(exec_pipe[1]);
  // execve closes exec_pipe (O_CLOEXEC) on success; on failure the child
  // writes errno first.
  int exec_error = 0;
  ssize_t n;
  do {
    n = read(exec_pipe[0], &exec_error, sizeof(exec_error));
  } while (n < 0 && errno == EINTR);
  close(exec_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(exec_error))) {
    int status = 0;
    waitpid(pid, &status, 0);
    close(out_pipe[0]);
    close(err_pipe[0]);
    return ErrnoStatus(exec_error, absl::StrCat("cannot run ", options.argv[0]));
  }
  std::string name = options.argv[0];
  if (const size_t slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  return std::make_unique<Process>(ConstructionKey(), pid, std::move(name), out_pipe[0], err_pipe[0],
                                   std::move(options.stderr_sink));
}

Process::Process(ConstructionKey, pid_t pid, std::string name, int stdout_fd, int stderr_fd, LineSink stderr_sink)
    : pid_(pid),
      name_(std::move(name)),
      stdout_fd_(stdout_fd),
      stderr_fd_(stderr_fd),
      stderr_sink_(std::move(stderr_sink)),
      reader_([this] { ReadLoop(); }) {}

Process::~Process() {
  if (!TryWait().has_value()) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  // The pipes may stay open in grandchildren: stop reading regardless.
  stop_reading_ = true;
  reader_.join();
  close(stdout_fd_);
  close(stderr_fd_);
}

void Process::DeliverLine(bool is_stdout, std::string line) {
  if (is_stdout) {
    LineSink sink;
    {
      absl::MutexLock lock(&mu_);
      if (!stdout_sink_) {
        stdout_lines_.push_back(std::move(line));
        return;
      }
      sink = stdout_sink_;
    }
    sink(line);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    stderr_tail_.push_back(line);
    if (stderr_tail_.size() > kStderrTailLines) stderr_tail_.pop_front();
  }
  if (stderr_sink_) stderr_sink_(line);
}

void Process::ReadLoop() {
  struct Stream {
    int fd;
    bool is_stdout;
    bool open = true;
    std::string pending;
  };
  Stream streams[2] = {{stdout_fd_, true}, {stderr_fd_, false}};
  char buffer[4096];
  while (!stop_reading_ && (streams[0].open || streams[1].open)) {
    pollfd fds[2];
    for (int i = 0; i < 2; ++i) fds[i] = {streams[i].open ? streams[i].fd : -1, POLLIN, 0};
    const int ready = poll(fds, 2, 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      Stream& s = streams[i];
      if (!s.open || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(s.fd, buffer, sizeof(buffer));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        s.open = false;
        if (!s.pending.empty()) DeliverLine(s.is_stdout, std::exchange(s.pending, {}));
        if (s.is_stdout) {
          absl::MutexLock lock(&mu_);
          stdout_closed_ = true;
        }
        continue;
      }
      s.pending.append(buffer, static_cast<size_t>(n));
      size_t start = 0;
      for (size_t newline; (newline = s.pending.find('\n', start)) != std::string::npos; start = newline + 1) {
        DeliverLine(s.is_stdout, s.pending.substr(start, newline - start));
      }
      s.pending.erase(0, start);
      while (s.pending.size() > kMaxLineBytes) {
        DeliverLine(s.is_stdout, s.pending.substr(0, kMaxLineBytes));
        s.pending.erase(0, kMaxLineBytes);
      }
    }
  }
  absl::MutexLock lock(&mu_);
  stdout_closed_ = true;
}

absl::StatusOr<std::string> Process::ReadStdoutLine(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !stdout_lines_.empty() || stdout_closed_ || stdout_sink_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (stdout_sink_) return absl::FailedPreconditionError(absl::StrCat(name_, ": stdout is being forwarded"));
  if (!stdout_lines_.empty()) {
    std::string line = std::move(stdout_lines_.front());
    stdout_lines_.pop_front();
    return line;
  }
  if (stdout_closed_) return absl::OutOfRangeError(absl::StrCat(name_, " closed its standard output"));
  return absl::DeadlineExceededError(
      absl::StrCat(name_, " printed no line within ", absl::FormatDuration(timeout)));
}

void Process::ForwardStdout(LineSink sink) {
  std::deque<std::string> queued;
  {
    absl::MutexLock lock(&mu_);
    // Lines the reader delivers from now on go to the sink; it may run
    // before the queued ones are flushed below (harmless for logs).
    stdout_sink_ = sink;
    queued.swap(stdout_lines_);
  }
  for (const std::string& line : queued) sink(line);
}

absl::Status Process::Signal(int signal) {
  {
    absl::MutexLock lock(&mu_);
    if (exit_status_.has_value()) return absl::OkStatus();
  }
  if (kill(pid_, signal) != 0 && errno != ESRCH) {
    return ErrnoStatus(errno, absl::StrCat("cannot signal ", name_, " (pid ", pid_, ")"));
  }
  return absl::OkStatus();
}

std::optional<ExitStatus> Process::TryWait() {
  {
    absl::MutexLock lock(&mu_);
    if (exit_status_.has_value()) return exit_status_;
  }
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  // r < 0 (ECHILD): reaped elsewhere; report it as an unknown exit.
  const ExitStatus result = r == pid_ ? FromWaitStatus(status) : ExitStatus{.exited = true, .code = -1};
  absl::MutexLock lock(&mu_);
  exit_status_ = result;
  return result;
}

absl::StatusOr<ExitStatus> Process::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  while (true) {
    if (std::optional<ExitStatus> status = TryWait(); status.has_value()) return *status;
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(name_, " (pid ", pid_, ") still running after ",
                                                      absl::FormatDuration(timeout)));
    }
    absl::SleepFor(std::min(pause, deadline - now));
    pause = std::min(pause * 2, absl::Milliseconds(20));
  }
}

std::string Process::StderrTail() const {
  absl::MutexLock lock(&mu_);
  return absl::StrJoin(stderr_tail_, "\n");
}

}  // namespace tessera::client
