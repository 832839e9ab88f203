// DNS discovery of workers and `tessera status`, as real processes in a
// network namespace whose hosts file the test rewrites.
//
// Setup (root only: the test skips, saying why, where namespaces cannot be
// made): a namespace with a veth pair to the test's own namespace, two
// addresses on its side (.2 and .3 of a 10.251.N.0/24), and
// /etc/netns/NS/hosts, which `ip netns exec` mounts over /etc/hosts for the
// processes it starts. Two tessera-workers listen on .2 and .3 (same port),
// both with certificates naming only "tessera-worker" (plus the loopback
// names every certificate carries), and a tessera-coordinator is given
// --workers dns:///tessera-worker:PORT. The test talks to them from its own
// namespace over the veth pair, and runs `tessera status` as a process.
//
//   1. hosts lists worker A: requests succeed on A; the status names A with
//      its certificate name.
//   2. hosts lists A and B: B is used within seconds (its own Status counts
//      Executes; the coordinator's status shows it holding the partition).
//   3. hosts lists only B: A leaves the membership and gets no more work,
//      while every request keeps succeeding.
//   4. the name stops resolving: the coordinator keeps B and warns.
//
// Every wait is bounded; processes, the namespace and the hosts file go away
// when the test ends, failed or not.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/kserve_request.h"
#include "client/process.h"
#include "common/certificate_authority.h"
#include "common/tls_credentials.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"
#include "proto/worker.grpc.pb.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using client::Process;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
// Discovery and health intervals are short, so changes show within about a
// second; the bound leaves room for a loaded machine.
constexpr absl::Duration kChangeTimeout = absl::Seconds(20);
constexpr int kWorkerPort = 18001;
constexpr char kWorkerName[] = "tessera-worker";

std::string Bin(const std::string& name) { return absl::StrCat(TESSERA_BIN_DIR, "/", name); }

// Runs a shell command; its exit code (-1 if it could not run).
int Shell(const std::string& command) {
  const int rc = std::system(absl::StrCat(command, " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Rewrites `path` in place (same inode): `ip netns exec` bind-mounts the file
// itself over /etc/hosts, so a rename would go unseen by running processes.
void RewriteInPlace(const fs::path& path, const std::string& contents) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
  ::close(fd);
}

// y = Relu(x @ W): x [-1, 16], W [16, 8].
std::string TinyModel() {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> w(16 * 8);
  for (float& v : w) v = dist(rng);
  engine::testing::ModelBuilder b;
  b.Input("input", onnx::TensorProto::FLOAT, {-1, 16})
      .Initializer("W", Tensor::FromVector<float>({16, 8}, w))
      .Node("MatMul", {"input", "W"}, {"h"})
      .Node("Relu", {"h"}, {"output"})
      .Output("output", {-1, 8});
  return b.Bytes();
}

class DiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create network namespaces (ip netns add)";
    if (Shell("ip -V") != 0) GTEST_SKIP() << "the ip command (iproute2) is not installed";
    const int id = ::getpid() % 100000;
    ns_ = absl::StrCat("tessera-disc-", id);
    host_link_ = absl::StrCat("tdh", id);
    ns_link_ = absl::StrCat("tdn", id);
    // A /24 not already in use here.
    for (int n = id % 200; n < id % 200 + 50 && subnet_.empty(); ++n) {
      const std::string candidate = absl::StrCat("10.251.", n % 250);
      if (Shell(absl::StrCat("ip -4 addr show | grep -q ' ", candidate, ".'")) != 0) subnet_ = candidate;
    }
    ASSERT_FALSE(subnet_.empty()) << "no free 10.251.N.0/24";
    if (Shell(absl::StrCat("ip netns add ", ns_)) != 0) {
      GTEST_SKIP() << "cannot create a network namespace here (ip netns add " << ns_ << " failed)";
    }
    ns_made_ = true;
    hosts_dir_ = fs::path("/etc/netns") / ns_;
    fs::create_directories(hosts_dir_);
    const std::vector<std::string> setup = {
        absl::StrCat("ip link add ", host_link_, " type veth peer name ", ns_link_),
        absl::StrCat("ip link set ", ns_link_, " netns ", ns_),
        absl::StrCat("ip addr add ", subnet_, ".1/24 dev ", host_link_),
        absl::StrCat("ip link set ", host_link_, " up"),
        absl::StrCat("ip -n ", ns_, " addr add ", Address(2), "/24 dev ", ns_link_),
        absl::StrCat("ip -n ", ns_, " addr add ", Address(3), "/24 dev ", ns_link_),
        absl::StrCat("ip -n ", ns_, " link set ", ns_link_, " up"),
        absl::StrCat("ip -n ", ns_, " link set lo up"),
    };
    for (const std::string& command : setup) ASSERT_EQ(Shell(command), 0) << command;
    SetHosts({});

    dir_ = fs::temp_directory_path() / absl::StrCat("tessera_discovery_test_", ::getpid());
    fs::remove_all(dir_);
    ASSERT_TRUE(MakeClusterCertificates((dir_ / "certs").string(), {kWorkerName}).ok());
    fs::create_directories(dir_ / "models" / "tiny" / "1");
    std::ofstream(dir_ / "models" / "tiny" / "config.pbtxt")
        << "platform: \"onnx\"\nmax_batch_size: 8\nparallelism { strategy: DATA }\n";
    std::ofstream(dir_ / "models" / "tiny" / "1" / "model.onnx", std::ios::binary) << TinyModel();
  }

  void TearDown() override {
    coordinator_.reset();
    workers_.clear();
    if (ns_made_) Shell(absl::StrCat("ip netns del ", ns_));  // takes the veth pair along
    if (!host_link_.empty()) Shell(absl::StrCat("ip link del ", host_link_));
    if (!hosts_dir_.empty()) fs::remove_all(hosts_dir_);
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string Address(int host) const { return absl::StrCat(subnet_, ".", host); }
  std::string WorkerAddress(int host) const { return absl::StrCat(Address(host), ":", kWorkerPort); }
  std::string Certs() const { return (dir_ / "certs").string(); }

  // The namespace's hosts file: localhost plus `worker_hosts` as kWorkerName.
  void SetHosts(const std::vector<int>& worker_hosts) {
    std::string hosts = "127.0.0.1 localhost\n::1 localhost\n";
    for (int host : worker_hosts) absl::StrAppend(&hosts, Address(host), " ", kWorkerName, "\n");
    RewriteInPlace(hosts_dir_ / "hosts", hosts);
  }

  // Starts `argv` inside the namespace; waits for "listening on HOST:PORT".
  std::pair<std::unique_ptr<Process>, std::string> StartInNamespace(std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"/usr/sbin/ip", "netns", "exec", ns_});
    if (!fs::exists(argv[0])) argv[0] = "/sbin/ip";
    auto process = Process::Spawn({.argv = std::move(argv)});
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return {};
    absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(kStartTimeout);
    EXPECT_TRUE(line.ok()) << line.status() << "\n" << (*process)->StderrTail();
    if (!line.ok()) return {};
    return {*std::move(process), line->substr(line->rfind(' ') + 1)};
  }

  void StartWorker(int host) {
    auto [process, address] = StartInNamespace({Bin("tessera-worker"), "--listen", WorkerAddress(host), "--certs",
                                                Certs(), "--threads", "1"});
    ASSERT_NE(process, nullptr);
    workers_.push_back(std::move(process));
  }

  void StartCoordinator() {
    auto [process, address] = StartInNamespace(
        {Bin("tessera-coordinator"), "--listen", absl::StrCat(Address(2), ":0"), "--model-repository",
         (dir_ / "models").string(), "--workers", absl::StrCat("dns:///", kWorkerName, ":", kWorkerPort),
         "--resolve-interval-ms", "250", "--health-interval-ms", "200", "--certs", Certs(), "--threads", "1"});
    ASSERT_NE(process, nullptr);
    coordinator_ = std::move(process);
    coordinator_address_ = address;
    TlsOptions tls{.files = TlsFiles::InDirectory(Certs(), NodeRole::kClient), .expected_server_name = "localhost"};
    auto channel = MakeChannel(coordinator_address_, tls);
    ASSERT_TRUE(channel.ok()) << channel.status();
    inference_ = inference::GRPCInferenceService::NewStub(*channel);
  }

  static std::unique_ptr<grpc::ClientContext> Context(int seconds = 20) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    return context;
  }

  void WaitReady() {
    const absl::Time give_up = absl::Now() + kStartTimeout;
    while (absl::Now() < give_up) {
      inference::ModelReadyRequest request;
      request.set_name("tiny");
      inference::ModelReadyResponse ready;
      if (inference_->ModelReady(Context(2).get(), request, &ready).ok() && ready.ready()) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL() << "the coordinator did not become ready\n" << coordinator_->StderrTail();
  }

  grpc::Status Infer() {
    inference::ModelInferRequest request;
    request.set_model_name("tiny");
    Tensor input = Tensor::Allocate(DataType::kFloat32, {8, 16});
    for (int64_t i = 0; i < input.num_elements(); ++i) input.data<float>()[i] = static_cast<float>(i % 7) - 3;
    client::AddInferInput("input", input, client::InferContents::kRaw, &request);
    inference::ModelInferResponse response;
    return inference_->ModelInfer(Context().get(), request, &response);
  }

  // Sends `n` requests; every one must succeed.
  void InferAll(int n) {
    for (int i = 0; i < n; ++i) {
      const grpc::Status status = Infer();
      ASSERT_TRUE(status.ok()) << "request " << i << ": " << status.error_message() << "\n"
                               << coordinator_->StderrTail();
    }
  }

  // The worker's own count of Executes, asked with the coordinator's
  // certificate, verified against kWorkerName while dialling the IP.
  uint64_t WorkerExecutes(int host) {
    TlsOptions tls{.files = TlsFiles::InDirectory(Certs(), NodeRole::kCoordinator),
                   .expected_server_name = kWorkerName};
    auto channel = MakeChannel(WorkerAddress(host), tls);
    EXPECT_TRUE(channel.ok()) << channel.status();
    if (!channel.ok()) return 0;
    worker::StatusResponse status;
    const grpc::Status called = worker::Worker::NewStub(*channel)->Status(Context(5).get(), {}, &status);
    EXPECT_TRUE(called.ok()) << called.error_message();
    return status.executes_total();
  }

  // `tessera status --json` against the coordinator, as a process.
  Struct ClusterStatus() {
    auto process = Process::Spawn({.argv = {Bin("tessera"), "status", "--server", coordinator_address_, "--certs",
                                            Certs(), "--server-name", "localhost", "--json"}});
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return {};
    absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(absl::Seconds(20));
    EXPECT_TRUE(line.ok()) << line.status() << "\n" << (*process)->StderrTail();
    absl::StatusOr<client::ExitStatus> exit = (*process)->Wait(absl::Seconds(20));
    EXPECT_TRUE(exit.ok() && exit->success()) << (*process)->StderrTail();
    Struct parsed;
    if (line.ok()) {
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(*line, &parsed).ok()) << *line;
    }
    return parsed;
  }

  // Worker entries of a status, by address.
  static std::map<std::string, Struct> Workers(const Struct& status) {
    std::map<std::string, Struct> out;
    auto it = status.fields().find("workers");
    if (it == status.fields().end()) return out;
    for (const Value& worker : it->second.list_value().values()) {
      out[worker.struct_value().fields().at("address").string_value()] = worker.struct_value();
    }
    return out;
  }

  static bool Healthy(const std::map<std::string, Struct>& workers, const std::string& address) {
    auto it = workers.find(address);
    return it != workers.end() && it->second.fields().at("healthy").bool_value();
  }

  std::string ns_, host_link_, ns_link_, subnet_;
  bool ns_made_ = false;
  fs::path hosts_dir_, dir_;
  std::vector<std::unique_ptr<Process>> workers_;
  std::unique_ptr<Process> coordinator_;
  std::string coordinator_address_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> inference_;
};

TEST_F(DiscoveryTest, WorkersFollowTheNameAndStatusShowsThem) {
  const std::string a = WorkerAddress(2), b = WorkerAddress(3);
  StartWorker(2);
  StartWorker(3);
  SetHosts({2});
  StartCoordinator();
  ASSERT_NE(inference_, nullptr);
  WaitReady();

  // 1. Only A behind the name.
  InferAll(5);
  EXPECT_GT(WorkerExecutes(2), 0u);
  EXPECT_EQ(WorkerExecutes(3), 0u);
  {
    const Struct status = ClusterStatus();
    const std::map<std::string, Struct> workers = Workers(status);
    ASSERT_EQ(workers.size(), 1u) << absl::StrJoin(workers, ",", [](std::string* out, const auto& w) {
      out->append(w.first);
    });
    ASSERT_TRUE(workers.contains(a));
    EXPECT_EQ(workers.at(a).fields().at("tls_server_name").string_value(), kWorkerName);
    EXPECT_TRUE(workers.at(a).fields().at("healthy").bool_value());
    const auto& models = status.fields().at("models").list_value().values();
    ASSERT_EQ(models.size(), 1);
    const auto& model = models[0].struct_value().fields();
    EXPECT_EQ(model.at("name").string_value(), "tiny");
    EXPECT_TRUE(model.at("ready").bool_value());
    EXPECT_EQ(model.at("plan").struct_value().fields().at("strategy").string_value(), "DATA");
  }

  // 2. B appears: used within seconds.
  SetHosts({2, 3});
  const absl::Time give_up = absl::Now() + kChangeTimeout;
  while (absl::Now() < give_up && !Healthy(Workers(ClusterStatus()), b)) absl::SleepFor(absl::Milliseconds(200));
  ASSERT_TRUE(Healthy(Workers(ClusterStatus()), b)) << coordinator_->StderrTail();
  uint64_t b_executes = 0;
  while (absl::Now() < give_up && (b_executes = WorkerExecutes(3)) == 0) InferAll(2);
  EXPECT_GT(b_executes, 0u) << "the new worker got no work";
  {
    // The placement names both workers once their Status lists the partition.
    bool both_hold = false;
    while (absl::Now() < give_up && !both_hold) {
      const Struct status = ClusterStatus();
      const auto& placements = status.fields().at("models").list_value().values(0).struct_value().fields()
                                   .at("plan").struct_value().fields().at("placements").list_value().values();
      std::set<std::string> holders;
      for (const Value& holder : placements.at(0).struct_value().fields().at("workers").list_value().values()) {
        holders.insert(holder.string_value());
      }
      both_hold = holders.contains(a) && holders.contains(b);
      if (!both_hold) absl::SleepFor(absl::Milliseconds(200));
    }
    EXPECT_TRUE(both_hold);
  }

  // 3. A vanishes from the name: it leaves the membership and gets no more work.
  SetHosts({3});
  while (absl::Now() < give_up + kChangeTimeout && Workers(ClusterStatus()).contains(a)) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_FALSE(Workers(ClusterStatus()).contains(a)) << coordinator_->StderrTail();
  const uint64_t a_before = WorkerExecutes(2);
  const uint64_t b_before = WorkerExecutes(3);
  InferAll(10);
  EXPECT_EQ(WorkerExecutes(2), a_before) << "a removed worker still got work";
  EXPECT_GT(WorkerExecutes(3), b_before);

  // 4. The name stops resolving: the last good set stays, with a warning.
  SetHosts({});
  absl::SleepFor(absl::Milliseconds(1000));  // several resolve intervals
  InferAll(3);
  const std::map<std::string, Struct> workers = Workers(ClusterStatus());
  EXPECT_TRUE(Healthy(workers, b));
  EXPECT_EQ(workers.size(), 1u);
  EXPECT_NE(coordinator_->StderrTail().find("keeping the last good addresses"), std::string::npos)
      << coordinator_->StderrTail();
}

TEST_F(DiscoveryTest, StatusTextNamesTheWorkersAndTheirCertificateName) {
  StartWorker(2);
  SetHosts({2});
  StartCoordinator();
  ASSERT_NE(inference_, nullptr);
  WaitReady();
  InferAll(2);
  auto process = Process::Spawn({.argv = {Bin("tessera"), "status", "--server", coordinator_address_, "--certs",
                                          Certs(), "--server-name", "localhost"}});
  ASSERT_TRUE(process.ok()) << process.status();
  std::string text;
  for (;;) {
    absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(absl::Seconds(20));
    if (!line.ok()) break;
    absl::StrAppend(&text, *line, "\n");
  }
  absl::StatusOr<client::ExitStatus> exit = (*process)->Wait(absl::Seconds(20));
  ASSERT_TRUE(exit.ok() && exit->success()) << (*process)->StderrTail();
  EXPECT_NE(text.find("tiny"), std::string::npos) << text;
  EXPECT_NE(text.find("DATA"), std::string::npos) << text;
  EXPECT_NE(text.find(absl::StrCat(WorkerAddress(2), "  ", kWorkerName, "  yes")), std::string::npos) << text;

  // A worker certificate gets nothing from the status service.
  auto denied = Process::Spawn({.argv = {Bin("tessera"), "status", "--server", coordinator_address_, "--ca",
                                         (dir_ / "certs" / "ca.pem").string(), "--cert",
                                         (dir_ / "certs" / "worker.pem").string(), "--key",
                                         (dir_ / "certs" / "worker.key").string(), "--server-name", "localhost"}});
  ASSERT_TRUE(denied.ok());
  absl::StatusOr<client::ExitStatus> refused = (*denied)->Wait(absl::Seconds(20));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->code, 1);
  EXPECT_NE((*denied)->StderrTail().find("PERMISSION_DENIED"), std::string::npos) << (*denied)->StderrTail();
}

}  // namespace
}  // namespace tessera
