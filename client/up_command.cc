#include "client/up_command.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <system_error>
#include <utility>

#include <grpcpp/client_context.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/exit_codes.h"
#include "client/flag_argument.h"
#include "client/process.h"
#include "common/bearer_token_auth.h"
#include "common/certificate_authority.h"
#include "common/file_contents.h"
#include "common/tls_credentials.h"
#include "proto/inference.grpc.pb.h"

namespace tessera::client {
namespace {

constexpr char kWorkerBinary[] = "tessera-worker";
constexpr char kCoordinatorBinary[] = "tessera-coordinator";
constexpr char kWorkerAnnounce[] = "tessera-worker: listening on ";
constexpr char kCoordinatorAnnounce[] = "tessera-coordinator: listening on ";
// The server binaries take dashed flag names (common/dashed_flags.h).
constexpr char kWorkerMemoryFlag[] = "--worker-memory-mb";
constexpr char kModelRepositoryFlag[] = "--model-repository";
constexpr char kClientAuthFlag[] = "--client-auth";
constexpr char kClientTokensFileFlag[] = "--client-tokens-file";
// The generated tokens file's name, in the run's temporary directory.
constexpr char kGeneratedTokenFileName[] = "client-token";
// Random bytes in a generated token (64 hex characters).
constexpr int kGeneratedTokenBytes = 32;
// How long a worker may take to announce its port.
constexpr absl::Duration kWorkerStartTimeout = absl::Seconds(30);
// Bounds of the shutdown: per group (coordinator, then workers).
constexpr absl::Duration kStopTimeout = absl::Seconds(5);
// Granularity of every wait, so a signal is noticed quickly.
constexpr absl::Duration kPollSlice = absl::Milliseconds(200);

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

// `err` shared by this thread and the children's reader threads.
class Log {
 public:
  explicit Log(std::ostream* err) : err_(err) {}
  void Line(absl::string_view prefix, absl::string_view text) {
    absl::MutexLock lock(&mu_);
    *err_ << prefix << text << "\n";
    err_->flush();
  }

 private:
  absl::Mutex mu_;
  std::ostream* err_ ABSL_GUARDED_BY(mu_);
};

// SIGINT and SIGTERM, blocked while alive and collected synchronously.
class ShutdownSignals {
 public:
  ShutdownSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &previous_);
  }
  ~ShutdownSignals() {
    // Consume signals that arrived meanwhile: they were answered already.
    while (Poll(absl::ZeroDuration()) != 0) {
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // The signal that arrived within `timeout` (remembered), or 0.
  int Poll(absl::Duration timeout) {
    const timespec ts = absl::ToTimespec(timeout);
    const int signal = sigtimedwait(&set_, nullptr, &ts);
    if (signal > 0 && received_ == 0) received_ = signal;
    return signal > 0 ? signal : 0;
  }
  int received() const { return received_; }

 private:
  sigset_t set_;
  sigset_t previous_;
  int received_ = 0;
};

struct Child {
  std::string label;  // "worker-0", "coordinator"
  std::unique_ptr<Process> process;
};

// Why startup or serving ended early.
absl::Status ChildFailure(const Child& child, absl::string_view what) {
  std::string message = absl::StrCat(child.label, " (", child.process->name(), ", pid ", child.process->pid(), ") ",
                                     what);
  // A child that just closed its output may take a moment to be reapable;
  // the pause also lets the reader collect its last stderr lines.
  if (absl::StatusOr<ExitStatus> status = child.process->Wait(absl::Seconds(1)); status.ok()) {
    absl::StrAppend(&message, "; it ended with ", status->ToString());
  }
  absl::SleepFor(absl::Milliseconds(100));
  const std::string tail = child.process->StderrTail();
  if (!tail.empty()) absl::StrAppend(&message, "\nlast lines of its stderr:\n", tail);
  return absl::UnavailableError(message);
}

std::string ExecutableDirectory() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string(".") : self.parent_path().string();
}

absl::Status CheckExecutable(const std::string& path) {
  if (access(path.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot run ", path, ": ", std::strerror(errno),
                                            " (build it, or point --bin-dir at the directory holding ",
                                            kWorkerBinary, " and ", kCoordinatorBinary, ")"));
  }
  return absl::OkStatus();
}

// Waits for the line "<prefix>HOST:PORT" on the child's stdout; other lines
// are passed on to the log. Cancelled by a shutdown signal (Cancelled).
absl::StatusOr<std::string> AwaitAnnouncement(const Child& child, absl::string_view prefix, absl::Duration timeout,
                                              ShutdownSignals& signals, Log& log) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (signals.Poll(absl::ZeroDuration()) != 0) return absl::CancelledError("interrupted");
    absl::StatusOr<std::string> line = child.process->ReadStdoutLine(kPollSlice);
    if (line.ok()) {
      if (absl::StartsWith(*line, prefix)) {
        const std::string address = line->substr(prefix.size());
        if (address.rfind(':') == std::string::npos) {
          return ChildFailure(child, absl::StrCat("announced an address without a port: '", *line, "'"));
        }
        return address;
      }
      log.Line(absl::StrCat("[", child.label, "] "), *line);
      continue;
    }
    if (line.status().code() == absl::StatusCode::kOutOfRange) {
      return ChildFailure(child, "exited before announcing its address");
    }
    if (absl::Now() >= deadline) {
      return ChildFailure(child, absl::StrCat("did not announce its address within ", absl::FormatDuration(timeout)));
    }
  }
}

// "0.0.0.0:8000" -> "127.0.0.1:8000": an address this host can dial.
std::string DialableAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  const std::string host = address.substr(0, colon);
  if (host.empty() || host == "0.0.0.0") return absl::StrCat("127.0.0.1", address.substr(colon));
  if (host == "[::]" || host == "::") return absl::StrCat("[::1]", address.substr(colon));
  return address;
}

absl::Status CheckChildrenAlive(const std::vector<Child>& children) {
  for (const Child& child : children) {
    if (child.process->TryWait().has_value()) return ChildFailure(child, "exited");
  }
  return absl::OkStatus();
}

// Polls ServerReady until it says ready.
absl::Status AwaitReady(const std::string& address, const TlsOptions& tls,
                        const std::function<absl::Status()>& check_children, absl::Duration timeout,
                        ShutdownSignals& signals) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(address, tls);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub = inference::GRPCInferenceService::NewStub(*channel);
  const absl::Time deadline = absl::Now() + timeout;
  std::string last_answer = "no answer yet";
  while (true) {
    if (absl::Status s = check_children(); !s.ok()) return s;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    inference::ServerReadyResponse response;
    const grpc::Status status = stub->ServerReady(&context, inference::ServerReadyRequest(), &response);
    if (status.ok() && response.ready()) return absl::OkStatus();
    last_answer = status.ok() ? std::string("ready=false")
                              : absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                                             ": ", status.error_message());
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the coordinator at ", address, " was not ready within ",
          absl::FormatDuration(absl::Ceil(timeout, absl::Seconds(1))), " (last answer: ", last_answer,
          "; its log above may say why)"));
    }
    if (signals.Poll(std::min(absl::Milliseconds(250), deadline - absl::Now())) != 0) {
      return absl::CancelledError("interrupted");
    }
  }
}

// Stops `group` with SIGTERM, then SIGKILL after kStopTimeout.
void StopGroup(std::vector<Child>& group, Log& log) {
  for (Child& child : group) {
    if (absl::Status s = child.process->Signal(SIGTERM); !s.ok()) log.Line("tessera up: ", s.message());
  }
  const absl::Time deadline = absl::Now() + kStopTimeout;
  for (Child& child : group) {
    absl::StatusOr<ExitStatus> status = child.process->Wait(std::max(deadline - absl::Now(), absl::ZeroDuration()));
    if (!status.ok()) {
      log.Line("tessera up: ",
               absl::StrCat(child.label, " did not stop within ", absl::FormatDuration(kStopTimeout), "; killing it"));
      (void)child.process->Signal(SIGKILL);
      status = child.process->Wait(absl::Seconds(5));
    }
    log.Line("tessera up: ", absl::StrCat(child.label, " stopped (",
                                          status.ok() ? status->ToString() : std::string(status.status().message()),
                                          ")"));
  }
  group.clear();
}

// A temporary certificate directory, deleted with this object.
class TemporaryDirectory {
 public:
  static absl::StatusOr<std::unique_ptr<TemporaryDirectory>> Create() {
    std::error_code error;
    std::string pattern = (std::filesystem::temp_directory_path(error) / "tessera-up-XXXXXX").string();
    if (error) pattern = "/tmp/tessera-up-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create a temporary directory: ", std::strerror(errno)));
    }
    return std::make_unique<TemporaryDirectory>(pattern);
  }
  explicit TemporaryDirectory(std::string path) : path_(std::move(path)) {}
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes a file holding one fresh random token (kGeneratedTokenBytes from
// OpenSSL's CSPRNG, hex) and a newline, mode 0600. The token is wiped from
// memory afterwards and never returned.
absl::Status WriteGeneratedTokenFile(const std::string& path) {
  unsigned char bytes[kGeneratedTokenBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("cannot generate a bearer token: OpenSSL's RAND_bytes failed");
  }
  std::string contents = absl::StrCat(
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes))), "\n");
  OPENSSL_cleanse(bytes, sizeof(bytes));
  absl::Status written = WriteFileAtomically(path, contents, 0600);
  OPENSSL_cleanse(contents.data(), contents.size());
  return written;
}

// The cluster's lifetime: everything UpCommand does after parsing.
int RunCluster(const UpOptions& options, std::ostream& out, Log& log) {
  // Blocked before any thread starts, so that every thread inherits the mask.
  ShutdownSignals signals;
  auto fail = [&](const absl::Status& status) {
    log.Line("tessera up: ", status.message());
    return kExitRuntimeError;
  };
  std::error_code error;
  if (!std::filesystem::is_directory(options.model_repository, error)) {
    return fail(absl::NotFoundError(
        absl::StrCat("the model repository '", options.model_repository, "' is not a directory")));
  }
  const std::string repository = std::filesystem::absolute(options.model_repository, error).string();
  const std::string bin_dir = options.bin_dir.empty() ? ExecutableDirectory() : options.bin_dir;
  const std::string worker_path = (std::filesystem::path(bin_dir) / kWorkerBinary).string();
  const std::string coordinator_path = (std::filesystem::path(bin_dir) / kCoordinatorBinary).string();
  for (const std::string& path : {worker_path, coordinator_path}) {
    if (absl::Status s = CheckExecutable(path); !s.ok()) return fail(s);
  }

  std::unique_ptr<TemporaryDirectory> temporary_certs;
  std::string certs_dir = options.certs_dir;
  if (!options.insecure && certs_dir.empty()) {
    absl::StatusOr<std::unique_ptr<TemporaryDirectory>> dir = TemporaryDirectory::Create();
    if (!dir.ok()) return fail(dir.status());
    temporary_certs = *std::move(dir);
    certs_dir = temporary_certs->path();
    if (absl::Status s = MakeClusterCertificates(certs_dir, {}); !s.ok()) return fail(s);
    out << "certificates: " << certs_dir << " (temporary; removed when the cluster stops)\n";
    out.flush();
  }
  TlsOptions client_tls;
  client_tls.insecure = options.insecure;
  if (!options.insecure) {
    client_tls.files = TlsFiles::InDirectory(certs_dir, NodeRole::kClient);
    for (NodeRole role : {NodeRole::kClient, NodeRole::kWorker, NodeRole::kCoordinator}) {
      if (absl::Status s = ValidateTlsFiles(TlsFiles::InDirectory(certs_dir, role)); !s.ok()) return fail(s);
    }
  }
  // Token mode: the tokens file the coordinator checks calls against, the
  // one AwaitReady and the printed command line use as the client's.
  std::unique_ptr<TemporaryDirectory> temporary_token_dir;
  std::string tokens_file;
  if (options.token_auth) {
    if (!options.client_tokens_file.empty()) {
      tokens_file = std::filesystem::absolute(options.client_tokens_file, error).string();
      // Checked now, as the coordinator will: a bad file stops everything
      // before a process starts, with the file and line named.
      absl::StatusOr<std::shared_ptr<BearerTokenAuthenticator>> check =
          BearerTokenAuthenticator::Create({.tokens_file = tokens_file, .start_refresh_thread = false});
      if (!check.ok()) return fail(check.status());
      out << "token-file: " << tokens_file << "\n";
    } else {
      std::string dir;
      if (temporary_certs != nullptr) {
        dir = temporary_certs->path();
      } else {
        absl::StatusOr<std::unique_ptr<TemporaryDirectory>> created = TemporaryDirectory::Create();
        if (!created.ok()) return fail(created.status());
        temporary_token_dir = *std::move(created);
        dir = temporary_token_dir->path();
      }
      tokens_file = (std::filesystem::path(dir) / kGeneratedTokenFileName).string();
      if (absl::Status s = WriteGeneratedTokenFile(tokens_file); !s.ok()) return fail(s);
      out << "token-file: " << tokens_file << " (temporary; removed when the cluster stops)\n";
    }
    out.flush();
    // The client side of token mode: the CA to trust the server, no
    // certificate of its own, the token on every call.
    client_tls.files.cert.clear();
    client_tls.files.key.clear();
    client_tls.bearer_token_file = tokens_file;
  }

  std::vector<std::string> security = options.insecure ? std::vector<std::string>{"--insecure"}
                                                       : std::vector<std::string>{"--certs", certs_dir};

  std::vector<Child> workers;
  std::vector<Child> coordinators;  // zero or one
  auto stop_all = [&] {
    StopGroup(coordinators, log);
    StopGroup(workers, log);
  };
  auto spawn = [&](std::string label, std::vector<std::string> argv) -> absl::StatusOr<Child> {
    Process::Options spawn_options;
    spawn_options.argv = std::move(argv);
    spawn_options.new_process_group = true;
    const std::string prefix = absl::StrCat("[", label, "] ");
    spawn_options.stderr_sink = [&log, prefix](absl::string_view line) { log.Line(prefix, line); };
    absl::StatusOr<std::unique_ptr<Process>> process = Process::Spawn(std::move(spawn_options));
    if (!process.ok()) return process.status();
    return Child{std::move(label), *std::move(process)};
  };
  // A failure or signal while starting: stop what runs and leave.
  auto abandon = [&](const absl::Status& status) {
    const bool interrupted = absl::IsCancelled(status);
    if (!interrupted) log.Line("tessera up: ", status.message());
    else log.Line("tessera up: ", absl::StrCat("signal ", signals.received(), " while starting; stopping"));
    stop_all();
    return interrupted ? kExitOk : kExitRuntimeError;
  };

  // Coordinator first: its failure is the likelier and more telling one.
  const std::function<absl::Status()> check_all = [&]() -> absl::Status {
    if (absl::Status s = CheckChildrenAlive(coordinators); !s.ok()) return s;
    return CheckChildrenAlive(workers);
  };

  std::vector<std::string> worker_addresses;
  for (int i = 0; i < options.workers; ++i) {
    std::vector<std::string> argv = {worker_path, "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), security.begin(), security.end());
    if (options.worker_memory_mb >= 0) argv.push_back(absl::StrCat(kWorkerMemoryFlag, "=", options.worker_memory_mb));
    if (options.threads >= 0) argv.push_back(absl::StrCat("--threads=", options.threads));
    absl::StatusOr<Child> child = spawn(absl::StrCat("worker-", i), std::move(argv));
    if (!child.ok()) return abandon(child.status());
    workers.push_back(*std::move(child));
    absl::StatusOr<std::string> address =
        AwaitAnnouncement(workers.back(), kWorkerAnnounce, kWorkerStartTimeout, signals, log);
    if (!address.ok()) return abandon(address.status());
    const std::string prefix = absl::StrCat("[", workers.back().label, "] ");
    workers.back().process->ForwardStdout([&log, prefix](absl::string_view line) { log.Line(prefix, line); });
    log.Line("tessera up: ", absl::StrCat(workers.back().label, " serving at ", *address));
    worker_addresses.push_back(DialableAddress(*address));
  }

  std::vector<std::string> argv = {coordinator_path, "--listen", options.listen, kModelRepositoryFlag, repository,
                                   "--workers", absl::StrJoin(worker_addresses, ",")};
  argv.insert(argv.end(), security.begin(), security.end());
  if (options.token_auth) {
    argv.push_back(absl::StrCat(kClientAuthFlag, "=token"));
    argv.push_back(absl::StrCat(kClientTokensFileFlag, "=", tokens_file));
  }
  if (options.threads >= 0) argv.push_back(absl::StrCat("--threads=", options.threads));
  absl::StatusOr<Child> coordinator = spawn("coordinator", std::move(argv));
  if (!coordinator.ok()) return abandon(coordinator.status());
  coordinators.push_back(*std::move(coordinator));
  const absl::Time ready_deadline = absl::Now() + absl::Seconds(options.ready_timeout_s);
  absl::StatusOr<std::string> announced = AwaitAnnouncement(
      coordinators.back(), kCoordinatorAnnounce, absl::Seconds(options.ready_timeout_s), signals, log);
  if (!announced.ok()) return abandon(announced.status());
  coordinators.back().process->ForwardStdout([&log](absl::string_view line) { log.Line("[coordinator] ", line); });
  const std::string address = DialableAddress(*announced);
  log.Line("tessera up: ", absl::StrCat("coordinator serving at ", address, "; waiting until it is ready"));

  const absl::Duration remaining = std::max(ready_deadline - absl::Now(), absl::Seconds(1));
  if (absl::Status ready = AwaitReady(address, client_tls, check_all, remaining, signals); !ready.ok()) {
    return abandon(ready);
  }

  out << "ready: " << address << "\n";
  out.flush();
  if (options.insecure) {
    log.Line("tessera up: ", absl::StrCat("try: tessera infer --server ", address, " --insecure --model NAME"));
  } else if (options.token_auth) {
    log.Line("tessera up: ", absl::StrCat("try: tessera infer --server ", address, " --ca ", client_tls.files.ca,
                                          " --token-file ", tokens_file, " --model NAME"));
  } else {
    log.Line("tessera up: ", absl::StrCat("try: tessera infer --server ", address, " --certs ", certs_dir,
                                          " --model NAME"));
  }

  while (true) {
    if (signals.Poll(kPollSlice) != 0) {
      log.Line("tessera up: ", absl::StrCat("signal ", signals.received(), "; stopping the cluster"));
      stop_all();
      return kExitOk;
    }
    if (absl::Status s = check_all(); !s.ok()) {
      log.Line("tessera up: ", absl::StrCat(s.message(), "\nstopping the cluster"));
      stop_all();
      return kExitRuntimeError;
    }
  }
}

}  // namespace

std::string UpUsage() {
  return R"(usage: tessera up --model-repository DIR --workers N [--listen ADDR] [--certs DIR | --insecure]
                  [--client-auth mtls|token [--client-tokens-file F]]
                  [--worker-memory-mb M] [--threads T] [--bin-dir DIR] [--ready-timeout-s S]

Starts a Tessera cluster on this machine -- N tessera-worker processes and one
tessera-coordinator -- prints "ready: ADDR" once the coordinator reports ready,
and stops everything on Ctrl-C (SIGINT) or SIGTERM.

  --model-repository DIR  the model repository the coordinator serves (required)
  --workers N             number of workers, at least 1 (required)
  --listen ADDR           the coordinator's address (default 127.0.0.1:8000;
                          port 0 picks a free port)
  --certs DIR             cluster certificates as `tessera certs` writes them;
                          default: fresh ones in a temporary directory, printed
                          as "certificates: DIR" and removed on exit
  --insecure              plaintext, no authentication (local experiments only)
  --client-auth MODE      how clients authenticate to the coordinator: mtls (a
                          client certificate, the default) or token (server-side
                          TLS and "authorization: Bearer <token>" on every call;
                          workers still use mutual TLS)
  --client-tokens-file F  with --client-auth=token: the accepted tokens, one a
                          line; default: one fresh random token in a temporary
                          file (mode 0600), printed as "token-file: PATH" and
                          removed on exit. Clients pass
                          --ca DIR/ca.pem --token-file PATH
  --worker-memory-mb M    memory budget of each worker's partition cache
  --threads T             engine threads per worker and coordinator
  --bin-dir DIR           where tessera-worker and tessera-coordinator are
                          (default: the directory of this executable)
  --ready-timeout-s S     how long the coordinator may take to become ready
                          (default 120)
  --help                  this text

Children's output goes to stderr, prefixed with [worker-I] or [coordinator].
Exit status: 0 after a clean stop on a signal, 1 when the cluster could not
start or a process died, 2 usage error.
)";
}

absl::StatusOr<UpOptions> ParseUpArgs(const std::vector<std::string>& args) {
  UpOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::StatusOr<FlagArgument> parsed = FlagArgument::Split(args[i]);
    if (!parsed.ok()) return parsed.status();
    const std::string& flag = parsed->flag;
    const std::string& value = parsed->value;
    const bool has_value = parsed->has_value;
    if (parsed->is_help()) {
      options.help = true;
      return options;
    }
    if (flag == "--insecure") {
      if (has_value) return Usage("--insecure takes no value");
      options.insecure = true;
      continue;
    }
    static const std::set<std::string> kValueFlags = {
        "--model-repository", "--workers",  "--listen",          "--certs",         "--client-auth",
        "--client-tokens-file", "--worker-memory-mb", "--threads", "--bin-dir", "--ready-timeout-s"};
    if (kValueFlags.count(flag) == 0) return Usage(absl::StrCat("unknown flag '", flag, "'"));
    if (absl::Status taken = parsed->TakeValue(args, i); !taken.ok()) return taken;
    if (value.empty()) return Usage(absl::StrCat(flag, " needs a non-empty value"));
    auto integer = [&](int64_t minimum, int64_t* result) -> absl::Status {
      if (!absl::SimpleAtoi(value, result) || *result < minimum) {
        return Usage(absl::StrCat(flag, " expects an integer >= ", minimum, ", got '", value, "'"));
      }
      return absl::OkStatus();
    };
    int64_t n = 0;
    if (flag == "--model-repository") {
      options.model_repository = value;
    } else if (flag == "--workers") {
      if (absl::Status s = integer(1, &n); !s.ok()) return s;
      if (n > 256) return Usage("--workers: at most 256 on one machine");
      options.workers = static_cast<int>(n);
    } else if (flag == "--listen") {
      if (value.rfind(':') == std::string::npos) return Usage("--listen expects HOST:PORT");
      options.listen = value;
    } else if (flag == "--certs") {
      options.certs_dir = value;
    } else if (flag == "--client-auth") {
      if (value != "mtls" && value != "token") {
        return Usage(absl::StrCat("--client-auth expects mtls or token, got '", value, "'"));
      }
      options.token_auth = value == "token";
    } else if (flag == "--client-tokens-file") {
      options.client_tokens_file = value;
    } else if (flag == "--worker-memory-mb") {
      if (absl::Status s = integer(0, &n); !s.ok()) return s;
      options.worker_memory_mb = n;
    } else if (flag == "--threads") {
      if (absl::Status s = integer(0, &n); !s.ok()) return s;
      if (n > 1024) return Usage("--threads: at most 1024");
      options.threads = static_cast<int>(n);
    } else if (flag == "--bin-dir") {
      options.bin_dir = value;
    } else if (flag == "--ready-timeout-s") {
      if (absl::Status s = integer(1, &n); !s.ok()) return s;
      if (n > 3600) return Usage("--ready-timeout-s: at most 3600");
      options.ready_timeout_s = static_cast<int>(n);
    }
  }
  if (options.model_repository.empty()) return Usage("--model-repository is required");
  if (options.workers == 0) return Usage("--workers is required");
  if (options.insecure && !options.certs_dir.empty()) return Usage("--certs and --insecure exclude each other");
  if (!options.client_tokens_file.empty() && !options.token_auth) {
    return Usage("--client-tokens-file needs --client-auth=token");
  }
  if (options.token_auth && options.insecure) return Usage("--client-auth=token needs TLS; drop --insecure");
  return options;
}

int UpCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<UpOptions> parsed = ParseUpArgs(args);
  if (!parsed.ok()) {
    err << "tessera up: " << parsed.status().message() << "\nTry 'tessera up --help'.\n";
    return kExitUsageError;
  }
  if (parsed->help) {
    out << UpUsage();
    return kExitOk;
  }
  Log log(&err);
  return RunCluster(*parsed, out, log);
}

}  // namespace tessera::client
