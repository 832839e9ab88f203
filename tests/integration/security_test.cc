// Security of the cluster as real processes on loopback: tessera-coordinator
// and tessera-worker binaries with certificates from `tessera certs`' code.
//
//   - refused, each on its own: plaintext to the coordinator's and a worker's
//     TLS port, no client certificate, a certificate from another CA, an
//     expired client certificate, a client certificate at a worker, a worker
//     certificate calling coordinator-only RPCs (and worker-only ones of
//     another worker), TLS 1.1;
//   - bearer tokens (--client-auth=token): no token, a wrong one, the right
//     one, the tokens file changed while running, coordinator-internal paths
//     still refused, `tessera infer/status --token-file`;
//   - certificates and keys of every node re-issued on disk under a running
//     cluster: new connections see the new certificates, and clients that
//     kept sending requests meanwhile saw no failure; the CA rotated the same
//     way through an old+new bundle, after which old-CA certificates are
//     refused and a restarted worker trusting only the new CA is re-admitted;
//   - tensor contents, private keys and tokens never reach either process's
//     output, at --log-level debug, over every error path we can trigger
//     (every test's processes are scanned the same way in TearDown).
// Every wait is bounded; processes are killed when their fixture ends.
#include <openssl/ssl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "client/process.h"
#include "common/certificate_authority.h"
#include "common/file_contents.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/cluster_status.grpc.pb.h"
#include "proto/inference.grpc.pb.h"
#include "proto/worker.grpc.pb.h"
#include "tests/common/tls_test_cluster.h"
#include "tests/integration/real_cluster.h"
#include "tests/worker/engine/model_builder.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using client::Process;
using testing::Call;
using testing::CallResult;
using testing::CapturedOutput;
using testing::CertificateFileSerial;
using testing::CertificateSerial;
using testing::FreshConnectionArguments;
using testing::HandshakeWithVersion;
using ::testing::HasSubstr;
using testing::PollUntil;
using testing::RealCluster;
using testing::ReissueCertificate;

constexpr char kServerLive[] = "/inference.GRPCInferenceService/ServerLive";
constexpr char kModelInfer[] = "/inference.GRPCInferenceService/ModelInfer";
constexpr char kRepositoryLoad[] = "/inference.GRPCInferenceService/RepositoryModelLoad";
constexpr char kRepositoryUnload[] = "/inference.GRPCInferenceService/RepositoryModelUnload";
constexpr char kGetStatus[] = "/tessera.status.ClusterStatus/GetStatus";
constexpr char kWorkerStatus[] = "/tessera.worker.Worker/Status";
constexpr char kWorkerExecute[] = "/tessera.worker.Worker/Execute";
constexpr char kWorkerLoad[] = "/tessera.worker.Worker/LoadPartition";
constexpr char kWorkerUnload[] = "/tessera.worker.Worker/Unload";

// The input every test sends: 4 float32 values whose bytes are this printable
// text, so a leak shows up in a log whatever escaping the log applies.
constexpr char kTensorPattern[] = "SECRETtensorDATA";

constexpr char kGoodToken[] = "good-token-3f9a2c71d0e84b56";
constexpr char kRotatedToken[] = "rotated-token-8e1d4c0b7a6f2e93";
constexpr char kWrongToken[] = "wrong-token-c4d2e0f1a3b59768";

void WriteFile(const fs::path& path, const std::string& contents) {
  fs::create_directories(path.parent_path());
  ASSERT_TRUE(WriteFileAtomically(path.string(), contents, 0600).ok());
}

std::string ReadFile(const fs::path& path) {
  absl::StatusOr<std::string> contents = ReadFileToString(path.string());
  return contents.ok() ? *contents : "";
}

std::vector<float> PatternFloats() {
  std::vector<float> values(4);
  std::memcpy(values.data(), kTensorPattern, 16);
  return values;
}

// output = input * 2, exact in float32.
std::string DoublingModel() {
  engine::testing::ModelBuilder b;
  b.Input("input", onnx::TensorProto::FLOAT, {-1, 4})
      .Initializer("two", Tensor::FromVector<float>({1}, {2.0f}))
      .Node("Mul", {"input", "two"}, {"output"})
      .Output("output", {-1, 4});
  return b.Bytes();
}

inference::ModelInferRequest PatternRequest(const std::string& model = "doubling") {
  inference::ModelInferRequest request;
  request.set_model_name(model);
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(1);
  input->add_shape(4);
  request.add_raw_input_contents(std::string(kTensorPattern, 16));
  return request;
}

// Checks a ModelInfer answer to PatternRequest: 2 * the pattern's floats.
void ExpectDoubled(const inference::ModelInferResponse& response) {
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  const std::string& raw = response.raw_output_contents(0);
  ASSERT_EQ(raw.size(), 16u);
  std::vector<float> got(4);
  std::memcpy(got.data(), raw.data(), 16);
  const std::vector<float> in = PatternFloats();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i], 2 * in[i]) << i;
}

// The port of "HOST:PORT".
int PortOf(const std::string& address) {
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) << address;
  return port;
}

// A channel presenting `files` (client side), each channel with its own
// connection.
std::shared_ptr<grpc::Channel> Channel(const std::string& address, TlsOptions tls) {
  grpc::ChannelArguments arguments = FreshConnectionArguments();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(address, tls, arguments);
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

std::unique_ptr<grpc::ClientContext> Context(int seconds = 10) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

// The base64 lines of a PEM file's body.
std::vector<std::string> PemBodyLines(const std::string& pem) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(pem, '\n')) {
    if (line.empty() || line.front() == '-') continue;
    lines.emplace_back(line);
  }
  return lines;
}

// Secrets no process may ever print: the tensor pattern, every token these
// tests use, and the body of every private key under `dir` (all the tests'
// keys, rotated ones included).
std::vector<std::pair<std::string, std::string>> Secrets(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> secrets = {
      {"tensor bytes", kTensorPattern},
      {"tensor bytes (first half)", std::string(kTensorPattern, 8)},
      {"tensor bytes (hex)", absl::BytesToHexString(kTensorPattern)},
      {"tensor bytes (HEX)", absl::AsciiStrToUpper(absl::BytesToHexString(kTensorPattern))},
      {"tensor bytes (base64)", absl::Base64Escape(kTensorPattern).substr(0, 16)},
      {"good token", kGoodToken},
      {"rotated token", kRotatedToken},
      {"wrong token", kWrongToken},
      {"bad token line", "short-secret-x"},
  };
  for (float v : PatternFloats()) {
    secrets.push_back({"tensor value", absl::StrCat(v)});
    secrets.push_back({"doubled tensor value", absl::StrCat(2 * v)});
    secrets.push_back({"tensor value %g", absl::StrFormat("%g", v)});
  }
  std::error_code error;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir, error)) {
    if (entry.path().extension() != ".key" || entry.is_symlink()) continue;
    for (const std::string& line : PemBodyLines(ReadFile(entry.path()))) {
      secrets.push_back({entry.path().string(), line});
    }
  }
  return secrets;
}

// Fails the test for every secret found in `output`.
void ExpectNoSecrets(const std::string& output, const std::string& whose, const fs::path& dir) {
  for (const auto& [what, secret] : Secrets(dir)) {
    EXPECT_THAT(output, ::testing::Not(HasSubstr(secret))) << what << " in the output of " << whose;
  }
}

// Each test gets a RealCluster of its own (certificates, a second CA in
// other_ca/, the models doubling and garbage) and starts its processes.
class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<RealCluster>("security_test",
                                             RealCluster::Options{.cnn_models = false, .ops_endpoint = false});
    ASSERT_TRUE(MakeClusterCertificates((cluster_dir() / "other_ca").string(), {}).ok());
    cluster_->WriteModel("doubling", "max_batch_size: 8\nparallelism { strategy: DATA }", DoublingModel());
    // Not ONNX: holds the tensor pattern, which must not be logged either.
    cluster_->WriteModel("garbage", "max_batch_size: 8\nparallelism { strategy: DATA }",
                         absl::StrCat("\x0a\x05", kTensorPattern, kTensorPattern));
  }

  // Every test's processes are checked for leaked secrets once stopped,
  // whatever error paths the test went through.
  void TearDown() override {
    if (cluster_ == nullptr) return;
    cluster_->Stop();
    ExpectNoSecrets(cluster_->coordinator_output(), "the coordinator", cluster_dir());
    for (int i = 0; i < cluster_->workers(); ++i) {
      ExpectNoSecrets(cluster_->worker_output(i), absl::StrCat("worker ", i), cluster_dir());
    }
    cluster_.reset();
  }

  const fs::path& cluster_dir() const { return cluster_->dir(); }
  std::string certs() const { return cluster_->certs(); }
  TlsFiles Files(NodeRole role) const { return TlsFiles::InDirectory(certs(), role); }
  TlsOptions As(NodeRole role) const { return {.files = Files(role)}; }
  std::unique_ptr<CertificateAuthority> ClusterCa() const {
    auto ca = CertificateAuthority::LoadFromFiles(certs() + "/ca.pem", certs() + "/ca.key");
    EXPECT_TRUE(ca.ok()) << ca.status();
    return ca.ok() ? *std::move(ca) : nullptr;
  }

  // Starts `workers` workers and a coordinator over them. Every process gets
  // `extra` flags too; the coordinator also `coordinator_extra`, worker i
  // also `worker_tls[i]` (if there).
  void StartCluster(int workers, std::vector<std::string> extra = {},
                    std::vector<std::string> coordinator_extra = {},
                    std::vector<std::vector<std::string>> worker_tls = {}) {
    for (int i = 0; i < workers; ++i) {
      std::vector<std::string> flags;
      if (static_cast<size_t>(i) < worker_tls.size()) flags = worker_tls[i];
      flags.insert(flags.end(), extra.begin(), extra.end());
      absl::StatusOr<int> worker = cluster_->StartWorker({.flags = flags});
      ASSERT_TRUE(worker.ok()) << worker.status();
    }
    std::vector<std::string> flags = {"--health-interval-ms", "200"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    flags.insert(flags.end(), coordinator_extra.begin(), coordinator_extra.end());
    const absl::Status started = cluster_->StartCoordinator({.flags = flags});
    ASSERT_TRUE(started.ok()) << started;
  }

  // Waits until `channel` sees the coordinator ready (model deployed).
  void WaitReady(const std::shared_ptr<grpc::Channel>& channel) {
    const absl::Status ready = cluster_->WaitReady(channel, "doubling");
    ASSERT_TRUE(ready.ok()) << ready;
  }

  // A mutual-TLS cluster of one worker, ready to serve.
  void StartMutualTlsCluster() {
    StartCluster(1);
    WaitReady(Channel(cluster_->address(), As(NodeRole::kClient)));
  }

  std::unique_ptr<RealCluster> cluster_;
};

// ---- Refusals under mutual TLS -------------------------------------------

TEST_F(SecurityTest, PlaintextToTheCoordinatorAndToAWorkerIsRefused) {
  StartMutualTlsCluster();
  for (const std::string& address : {cluster_->address(), cluster_->worker_address(0)}) {
    SCOPED_TRACE(address);
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), FreshConnectionArguments());
    const grpc::Status status = Call(channel, address == cluster_->address() ? kServerLive : kWorkerStatus, "").status;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  // The cluster still answers its clients.
  EXPECT_TRUE(Call(Channel(cluster_->address(), As(NodeRole::kClient)), kServerLive, "").status.ok());
}

TEST_F(SecurityTest, NoClientCertificateIsRefused) {
  StartMutualTlsCluster();
  // Trusts the cluster CA, presents no certificate.
  TlsOptions anonymous{.files = {.ca = Files(NodeRole::kClient).ca}};
  for (const std::string& address : {cluster_->address(), cluster_->worker_address(0)}) {
    SCOPED_TRACE(address);
    const grpc::Status status = Call(Channel(address, anonymous), kServerLive, "").status;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
}

TEST_F(SecurityTest, CertificateFromAnotherCaIsRefused) {
  StartMutualTlsCluster();
  TlsFiles foreign = TlsFiles::InDirectory((cluster_dir() / "other_ca").string(), NodeRole::kClient);
  foreign.ca = Files(NodeRole::kClient).ca;  // trusts the server; the server does not trust it
  grpc::Status status = Call(Channel(cluster_->address(), {.files = foreign}), kServerLive, "").status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // A coordinator certificate of another cluster at a worker.
  TlsFiles foreign_coordinator = TlsFiles::InDirectory((cluster_dir() / "other_ca").string(), NodeRole::kCoordinator);
  foreign_coordinator.ca = foreign.ca;
  status = Call(Channel(cluster_->worker_address(0), {.files = foreign_coordinator}), kWorkerStatus, "").status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(SecurityTest, ExpiredClientCertificateIsRefused) {
  StartMutualTlsCluster();
  std::unique_ptr<CertificateAuthority> ca = ClusterCa();
  ASSERT_NE(ca, nullptr);
  const CertificateValidity expired{.not_before_offset = -absl::Hours(48), .not_after_offset = -absl::Hours(1)};
  const fs::path dir = cluster_dir() / "expired";
  fs::create_directories(dir);
  TlsFiles files{.ca = Files(NodeRole::kClient).ca, .cert = (dir / "client.pem").string(),
                 .key = (dir / "client.key").string()};
  ASSERT_NO_FATAL_FAILURE(ReissueCertificate(*ca, NodeRole::kClient, files, expired));
  grpc::Status status = Call(Channel(cluster_->address(), {.files = files}), kServerLive, "").status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // An expired coordinator certificate at a worker, likewise.
  ASSERT_NO_FATAL_FAILURE(ReissueCertificate(*ca, NodeRole::kCoordinator, files, expired));
  status = Call(Channel(cluster_->worker_address(0), {.files = files}), kWorkerStatus, "").status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // A current certificate of the same role and CA is accepted.
  EXPECT_TRUE(Call(Channel(cluster_->address(), As(NodeRole::kClient)), kServerLive, "").status.ok());
}

TEST_F(SecurityTest, ClientCertificateAtAWorkerIsPermissionDenied) {
  StartMutualTlsCluster();
  auto channel = Channel(cluster_->worker_address(0), As(NodeRole::kClient));
  for (const char* method : {kWorkerStatus, kWorkerExecute, kWorkerLoad, kWorkerUnload}) {
    const grpc::Status status = Call(channel, method, "").status;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method << ": " << status.error_message();
  }
  // The coordinator's certificate is what a worker answers.
  EXPECT_TRUE(Call(Channel(cluster_->worker_address(0), As(NodeRole::kCoordinator)), kWorkerStatus, "").status.ok());
}

TEST_F(SecurityTest, WorkerCertificateCannotCallCoordinatorOrWorkerOnlyRpcs) {
  StartMutualTlsCluster();
  auto at_coordinator = Channel(cluster_->address(), As(NodeRole::kWorker));
  for (const char* method : {kServerLive, kModelInfer, kRepositoryLoad, kRepositoryUnload, kGetStatus}) {
    const grpc::Status status = Call(at_coordinator, method, "").status;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method << ": " << status.error_message();
  }
  // Another worker's certificate may forward a stage (Execute) but not load,
  // unload or inspect.
  auto at_worker = Channel(cluster_->worker_address(0), As(NodeRole::kWorker));
  for (const char* method : {kWorkerStatus, kWorkerLoad, kWorkerUnload}) {
    const grpc::Status status = Call(at_worker, method, "").status;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method << ": " << status.error_message();
  }
  // A coordinator replica may infer through a peer but never change its
  // repository.
  auto coordinator_peer = Channel(cluster_->address(), As(NodeRole::kCoordinator));
  for (const char* method : {kRepositoryLoad, kRepositoryUnload}) {
    const grpc::Status status = Call(coordinator_peer, method, "").status;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method << ": " << status.error_message();
  }
  EXPECT_TRUE(Call(coordinator_peer, kServerLive, "").status.ok());
}

TEST_F(SecurityTest, RealServersRefuseTls11AndAcceptTls12And13) {
  StartMutualTlsCluster();
  for (const std::string& address : {cluster_->address(), cluster_->worker_address(0)}) {
    SCOPED_TRACE(address);
    const TlsFiles files = Files(address == cluster_->address() ? NodeRole::kClient : NodeRole::kCoordinator);
    EXPECT_FALSE(HandshakeWithVersion(files, PortOf(address), TLS1_1_VERSION));
    EXPECT_FALSE(HandshakeWithVersion(files, PortOf(address), TLS1_VERSION));
    EXPECT_TRUE(HandshakeWithVersion(files, PortOf(address), TLS1_2_VERSION));
    EXPECT_TRUE(HandshakeWithVersion(files, PortOf(address), TLS1_3_VERSION));
  }
}

// ---- Bearer tokens -------------------------------------------------------

class TokenModeTest : public SecurityTest {
 protected:
  void StartTokenCluster(std::vector<std::string> extra = {}) {
    WriteFile(tokens_file(), absl::StrCat("# tessera clients\n", kGoodToken, "\n"));
    StartCluster(1, extra,
                 {"--client-auth", "token", "--client-tokens-file", tokens_file(), "--tls-refresh-seconds", "1"});
    WaitReady(TokenChannel(kGoodToken));
  }

  std::string tokens_file() const { return (cluster_dir() / "tokens").string(); }

  std::string ClientTokenFile(const std::string& token) {
    const std::string path = (cluster_dir() / absl::StrCat("client_token_", ++client_token_files_)).string();
    WriteFile(path, token + "\n");
    return path;
  }

  // A channel without a client certificate, trusting the CA, sending `token`
  // (none if empty).
  std::shared_ptr<grpc::Channel> TokenChannel(const std::string& token, const std::string& address = "") {
    TlsOptions tls{.files = {.ca = Files(NodeRole::kClient).ca}};
    if (!token.empty()) tls.bearer_token_file = ClientTokenFile(token);
    return Channel(address.empty() ? cluster_->address() : address, tls);
  }

  grpc::Status Infer(const std::shared_ptr<grpc::Channel>& channel, inference::ModelInferResponse* response) {
    return inference::GRPCInferenceService::NewStub(channel)->ModelInfer(Context().get(), PatternRequest(), response);
  }

  int client_token_files_ = 0;
};

TEST_F(TokenModeTest, RightTokenInfersNoTokenOrWrongTokenIsUnauthenticated) {
  StartTokenCluster();
  inference::ModelInferResponse response;
  grpc::Status status = Infer(TokenChannel(kGoodToken), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectDoubled(response);

  status = Infer(TokenChannel(""), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("missing bearer token"));

  status = Infer(TokenChannel(kWrongToken), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_EQ(status.error_message(), "bearer token not accepted");

  // Status and metadata are the client role's too.
  status::GetStatusResponse snapshot;
  status = status::ClusterStatus::NewStub(TokenChannel(kGoodToken))->GetStatus(Context().get(), {}, &snapshot);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(snapshot.workers_size(), 1);
}

TEST_F(TokenModeTest, NoCertificateNeededButInternalPathsStayProtected) {
  StartTokenCluster();
  auto channel = TokenChannel(kGoodToken);
  // Paths the client role does not have: refused even with the right token.
  for (const char* method : {kWorkerExecute, kWorkerStatus, "/grpc.Unknown/Method"}) {
    const grpc::Status status = Call(channel, method, "").status;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method << ": " << status.error_message();
  }
  // A client certificate is no substitute for the token on this port.
  grpc::Status status = Call(Channel(cluster_->address(), As(NodeRole::kClient)), kServerLive, "").status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  // Workers stay mutual TLS: a token client (no certificate) cannot even connect.
  status = Call(TokenChannel(kGoodToken, cluster_->worker_address(0)), kWorkerStatus, "").status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // ... and the coordinator still reaches them: inference works.
  inference::ModelInferResponse response;
  status = Infer(channel, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectDoubled(response);
}

TEST_F(TokenModeTest, ChangedTokensFileTakesEffectWhileRunning) {
  StartTokenCluster();
  auto old_token = TokenChannel(kGoodToken);
  inference::ModelInferResponse response;
  ASSERT_TRUE(Infer(old_token, &response).ok());
  WriteFile(tokens_file(), absl::StrCat(kRotatedToken, "\n"));
  // Within a few refresh intervals (1 s): the new token is accepted, the old
  // one refused, on the already open connection too.
  auto new_token = TokenChannel(kRotatedToken);
  grpc::Status status;
  PollUntil([&] { return (status = Infer(new_token, &response)).ok(); }, absl::Seconds(10), absl::Milliseconds(200));
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectDoubled(response);
  status = Infer(old_token, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  status = Infer(TokenChannel(kGoodToken), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
}

// Runs the `tessera` CLI; returns its exit code and output.
std::pair<int, std::string> RunCli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {RealCluster::Bin("tessera")};
  argv.insert(argv.end(), args.begin(), args.end());
  auto output = std::make_shared<CapturedOutput>();
  auto process = Process::Spawn({.argv = argv, .stderr_sink = [output](absl::string_view l) { output->Append(l); }});
  EXPECT_TRUE(process.ok()) << process.status();
  if (!process.ok()) return {-1, ""};
  (*process)->ForwardStdout([output](absl::string_view l) { output->Append(l); });
  absl::StatusOr<client::ExitStatus> status = (*process)->Wait(absl::Seconds(30));
  EXPECT_TRUE(status.ok()) << status.status();
  process->reset();
  return {status.ok() && status->exited ? status->code : -1, output->text()};
}

TEST_F(TokenModeTest, CliCommandsConnectWithATokenFile) {
  StartTokenCluster();
  const std::string ca = Files(NodeRole::kClient).ca;
  auto [code, text] = RunCli({"infer", "--server", cluster_->address(), "--ca", ca, "--token-file",
                              ClientTokenFile(kGoodToken), "--model", "doubling", "--random-input", "input=1x4"});
  EXPECT_EQ(code, 0) << text;
  std::tie(code, text) = RunCli({"status", "--server", cluster_->address(), "--certs", certs(), "--token-file",
                                 ClientTokenFile(kGoodToken), "--json"});
  EXPECT_EQ(code, 0) << text;
  EXPECT_THAT(text, HasSubstr(cluster_->worker_address(0)));
  std::tie(code, text) = RunCli({"infer", "--server", cluster_->address(), "--ca", ca, "--token-file",
                                 ClientTokenFile(kWrongToken), "--model", "doubling", "--random-input", "input=1x4"});
  EXPECT_NE(code, 0);
  EXPECT_THAT(text, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr(kWrongToken)));
}

TEST_F(TokenModeTest, BadClientAuthFlagsStopTheCoordinatorWithAMessage) {
  WriteFile(tokens_file(), absl::StrCat(kGoodToken, "\n"));
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--client-auth", "token"}, "--client-auth=token needs --client-tokens-file"},
      {{"--client-auth", "password"}, "--client-auth expects mtls or token"},
      {{"--client-tokens-file", tokens_file()}, "--client-tokens-file needs --client-auth=token"},
      {{"--client-auth", "token", "--client-tokens-file", (cluster_dir() / "no_tokens").string()}, "no_tokens"},
      {{"--insecure", "--client-auth", "token", "--client-tokens-file", tokens_file()}, "needs TLS"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> argv = {RealCluster::Bin("tessera-coordinator"), "--listen", "127.0.0.1:0", "--model-repository",
                                     (cluster_dir() / "models").string(), "--certs", certs()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto output = std::make_shared<CapturedOutput>();
    auto process =
        Process::Spawn({.argv = argv, .stderr_sink = [output](absl::string_view l) { output->Append(l); }});
    ASSERT_TRUE(process.ok()) << process.status();
    absl::StatusOr<client::ExitStatus> status = (*process)->Wait(absl::Seconds(20));
    ASSERT_TRUE(status.ok()) << status.status();
    process->reset();
    EXPECT_TRUE(status->exited && status->code == 2) << status->ToString() << "\n" << output->text();
    EXPECT_THAT(output->text(), HasSubstr(message));
  }
}

// ---- Rotation under a running cluster ------------------------------------

// Clients that keep sending PatternRequest to `address` until stopped: one on
// a long-lived connection, one opening a new connection (a new handshake)
// for every request. Bounded in count and time.
class RequestLoop {
 public:
  RequestLoop(std::string address, TlsFiles files) : address_(std::move(address)), files_(std::move(files)) {
    steady_ = std::thread([this] { Run(false); });
    fresh_ = std::thread([this] { Run(true); });
  }
  ~RequestLoop() { Stop(); }

  void Stop() {
    stop_ = true;
    if (steady_.joinable()) steady_.join();
    if (fresh_.joinable()) fresh_.join();
  }
  int answered() const { return answered_.load(); }
  int failed() const { return failed_.load(); }
  std::string errors() const {
    absl::MutexLock lock(&mu_);
    return absl::StrJoin(errors_, "\n");
  }

 private:
  void Run(bool fresh_connections) {
    std::shared_ptr<grpc::Channel> channel = Channel(address_, {.files = files_});
    const absl::Time give_up = absl::Now() + absl::Seconds(40);
    for (int i = 0; i < 3000 && !stop_.load() && absl::Now() < give_up; ++i) {
      if (fresh_connections) channel = Channel(address_, {.files = files_});
      inference::ModelInferResponse response;
      grpc::Status status =
          inference::GRPCInferenceService::NewStub(channel)->ModelInfer(Context().get(), PatternRequest(), &response);
      if (status.ok() && response.raw_output_contents_size() == 1 && response.raw_output_contents(0).size() == 16) {
        ++answered_;
      } else {
        ++failed_;
        absl::MutexLock lock(&mu_);
        errors_.push_back(absl::StrCat(fresh_connections ? "new connection: " : "open connection: ",
                                       status.error_message()));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  const std::string address_;
  const TlsFiles files_;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0}, failed_{0};
  mutable absl::Mutex mu_;
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
  std::thread steady_, fresh_;
};

// Certificate files of a cluster under rotation, each node with files of its
// own in `dir`, so that each node's rotation can be seen.
class RotatingFiles {
 public:
  RotatingFiles(fs::path dir, std::string ca_file) : dir_(std::move(dir)), ca_file_(std::move(ca_file)) {
    fs::create_directories(dir_);
  }

  TlsFiles Node(const std::string& name) const {
    return {.ca = ca_file_, .cert = (dir_ / (name + ".pem")).string(), .key = (dir_ / (name + ".key")).string()};
  }
  // The client's files are reached through a directory symlink swapped in
  // one rename (as Kubernetes updates a secret volume): a client creating
  // credentials right then reads both files from one version. (Credentials
  // created between a key's and a certificate's separate renames would have
  // no identity until their next refresh; servers, whose credentials already
  // hold a pair, keep it, so node files are replaced file by file.)
  TlsFiles Client() const {
    return {.ca = ca_file_, .cert = (dir_ / "client" / "client.pem").string(),
            .key = (dir_ / "client" / "client.key").string()};
  }

  // A new key and certificate for node `name` from `ca`, replacing the files
  // (key first, each with an atomic rename).
  void IssueNode(const CertificateAuthority& ca, NodeRole role, const std::string& name) {
    ReissueCertificate(ca, role, Node(name));
  }
  void IssueClient(const CertificateAuthority& ca) {
    const std::string version = absl::StrCat("client.v", ++client_version_);
    fs::create_directories(dir_ / version);
    ASSERT_NO_FATAL_FAILURE(ReissueCertificate(
        ca, NodeRole::kClient,
        {.cert = (dir_ / version / "client.pem").string(), .key = (dir_ / version / "client.key").string()}));
    fs::remove(dir_ / "client.next");
    fs::create_directory_symlink(version, dir_ / "client.next");
    fs::rename(dir_ / "client.next", dir_ / "client");
  }
  // Every node (coordinator, worker0..workers-1) and the client.
  void IssueAll(const CertificateAuthority& ca, int workers) {
    IssueNode(ca, NodeRole::kCoordinator, "coordinator");
    for (int i = 0; i < workers; ++i) IssueNode(ca, NodeRole::kWorker, absl::StrCat("worker", i));
    IssueClient(ca);
  }

  static std::vector<std::string> Flags(const TlsFiles& files) {
    return {"--ca", files.ca, "--cert", files.cert, "--key", files.key};
  }
  std::string Serial(const std::string& name) const { return CertificateFileSerial(Node(name).cert); }

 private:
  const fs::path dir_;
  const std::string ca_file_;
  int client_version_ = 0;
};

class RotationTest : public SecurityTest {
 protected:
  // Starts 2 workers and a coordinator on `files`, re-reading every second.
  void StartRotatingCluster(const RotatingFiles& files) {
    StartCluster(2, {"--tls-refresh-seconds", "1"}, RotatingFiles::Flags(files.Node("coordinator")),
                 {RotatingFiles::Flags(files.Node("worker0")), RotatingFiles::Flags(files.Node("worker1"))});
    WaitReady(Channel(cluster_->address(), {.files = files.Client()}));
  }

  // The serial of the certificate a new connection to `address` is served,
  // presenting `files`.
  // Empty if the call failed: this probe may itself read a node's files
  // between their key's and certificate's renames (then its credentials have
  // no identity; see common/tls_credentials.h), so callers poll.
  static std::string ServedSerial(const std::string& address, const TlsFiles& files, const char* method) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeChannel(address, {.files = files}, FreshConnectionArguments());
    if (!channel.ok()) return "";
    CallResult result = Call(*channel, method, "");
    return result.status.ok() ? CertificateSerial(result.peer_certificate_pem) : "";
  }

  // Waits (at most 10 s) until new connections to the coordinator and both
  // workers are served the certificates now in `files`.
  void ExpectNewCertificatesServed(const RotatingFiles& files) {
    const std::string coordinator = files.Serial("coordinator");
    const std::string worker0 = files.Serial("worker0"), worker1 = files.Serial("worker1");
    std::string seen_coordinator, seen_worker0, seen_worker1;
    PollUntil([&] {
      seen_coordinator = ServedSerial(cluster_->address(), files.Client(), kServerLive);
      seen_worker0 = ServedSerial(cluster_->worker_address(0), files.Node("coordinator"), kWorkerStatus);
      seen_worker1 = ServedSerial(cluster_->worker_address(1), files.Node("coordinator"), kWorkerStatus);
      return seen_coordinator == coordinator && seen_worker0 == worker0 && seen_worker1 == worker1;
    });
    EXPECT_EQ(seen_coordinator, coordinator);
    EXPECT_EQ(seen_worker0, worker0);
    EXPECT_EQ(seen_worker1, worker1);
  }
};

TEST_F(RotationTest, EveryNodesCertificateRotatedUnderLoadWithoutAFailedRequest) {
  std::unique_ptr<CertificateAuthority> ca = ClusterCa();
  ASSERT_NE(ca, nullptr);
  RotatingFiles files(cluster_dir() / "rotation", Files(NodeRole::kClient).ca);
  files.IssueAll(*ca, 2);
  StartRotatingCluster(files);
  const std::string old_coordinator = files.Serial("coordinator");
  ASSERT_EQ(ServedSerial(cluster_->address(), files.Client(), kServerLive), old_coordinator);

  RequestLoop load(cluster_->address(), files.Client());
  absl::SleepFor(absl::Milliseconds(500));
  const int answered_before = load.answered();

  // Re-issue every node's certificate and key (same CA) on disk; within a
  // few refresh intervals every node serves its new one to new connections.
  files.IssueAll(*ca, 2);
  ASSERT_NE(files.Serial("coordinator"), old_coordinator);
  ExpectNewCertificatesServed(files);

  // Requests go on after the rotation, then the clients stop.
  const int answered_at_rotation = load.answered();
  absl::SleepFor(absl::Milliseconds(1500));
  load.Stop();
  std::printf("rotation: %d requests answered (%d before the rotation, %d after it was seen), %d failed\n",
              load.answered(), answered_before, load.answered() - answered_at_rotation, load.failed());
  EXPECT_GT(answered_before, 0);
  EXPECT_GT(load.answered(), answered_at_rotation);
  EXPECT_EQ(load.failed(), 0) << load.errors();
}

TEST_F(RotationTest, CaRotatedThroughABundleUnderLoadWithoutAFailedRequest) {
  std::unique_ptr<CertificateAuthority> old_ca = ClusterCa();
  ASSERT_NE(old_ca, nullptr);
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> new_ca =
      CertificateAuthority::Create({.common_name = "Tessera cluster CA 2"});
  ASSERT_TRUE(new_ca.ok()) << new_ca.status();
  const fs::path dir = cluster_dir() / "ca_rotation";
  const std::string trust = (dir / "ca.pem").string();
  WriteFile(trust, old_ca->certificate_pem());
  RotatingFiles files(dir, trust);
  files.IssueAll(*old_ca, 2);
  // A client certificate of the old CA, kept for the end.
  const TlsFiles old_client{.ca = trust, .cert = (dir / "old_client.pem").string(),
                            .key = (dir / "old_client.key").string()};
  ASSERT_NO_FATAL_FAILURE(ReissueCertificate(*old_ca, NodeRole::kClient, old_client));
  StartRotatingCluster(files);

  RequestLoop load(cluster_->address(), files.Client());
  absl::SleepFor(absl::Milliseconds(500));
  // 1. Every node trusts both CAs.
  WriteFile(trust, old_ca->certificate_pem() + (*new_ca)->certificate_pem());
  absl::SleepFor(absl::Milliseconds(2500));
  // 2. Every node gets a certificate of the new CA.
  files.IssueAll(**new_ca, 2);
  ExpectNewCertificatesServed(files);
  // 3. The old CA is dropped.
  WriteFile(trust, (*new_ca)->certificate_pem());
  absl::SleepFor(absl::Milliseconds(2500));
  const int answered_at_end = load.answered();
  absl::SleepFor(absl::Milliseconds(500));
  load.Stop();
  std::printf("CA rotation: %d requests answered, %d failed\n", load.answered(), load.failed());
  EXPECT_GT(load.answered(), answered_at_end);
  EXPECT_EQ(load.failed(), 0) << load.errors();

  // A certificate of the old CA is now refused.
  const grpc::Status refused = Call(Channel(cluster_->address(), {.files = old_client}), kServerLive, "").status;
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();

  // A worker restarted now trusts only the new CA: the coordinator must reach
  // it with its new certificate for it to become healthy and serve again.
  // (Same flags as at its start: the trust file now holds only the new CA.)
  cluster_->StopWorker(0);
  const absl::Status restarted = cluster_->RestartWorker(0);
  ASSERT_TRUE(restarted.ok()) << restarted;
  auto status_stub = status::ClusterStatus::NewStub(Channel(cluster_->address(), {.files = files.Client()}));
  const bool both_healthy = PollUntil(
      [&] {
        status::GetStatusResponse snapshot;
        if (!status_stub->GetStatus(Context().get(), {}, &snapshot).ok()) return false;
        bool healthy = snapshot.workers_size() == 2;
        for (const auto& worker : snapshot.workers()) healthy &= worker.healthy();
        return healthy;
      },
      absl::Seconds(10), absl::Milliseconds(200));
  EXPECT_TRUE(both_healthy) << cluster_->coordinator_output();
  inference::ModelInferResponse response;
  grpc::Status status =
      inference::GRPCInferenceService::NewStub(Channel(cluster_->address(), {.files = files.Client()}))
          ->ModelInfer(Context().get(), PatternRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ExpectDoubled(response);
}

// ---- Nothing secret in the logs ------------------------------------------
// (SecurityTest::TearDown scans every test's processes too.)

TEST_F(TokenModeTest, TensorContentsKeysAndTokensNeverReachTheLogs) {
  StartTokenCluster({"--log-level", "debug"});
  auto good = TokenChannel(kGoodToken);
  auto stub = inference::GRPCInferenceService::NewStub(good);
  inference::ModelInferResponse response;
  // One good request, then every bad one we can make, each carrying the pattern.
  ASSERT_TRUE(stub->ModelInfer(Context().get(), PatternRequest(), &response).ok());
  std::vector<inference::ModelInferRequest> bad;
  bad.push_back(PatternRequest("no_such_model"));
  {
    auto r = PatternRequest();
    r.mutable_inputs(0)->set_datatype("INT32");
    bad.push_back(r);
  }
  {
    auto r = PatternRequest();
    r.mutable_inputs(0)->set_shape(1, 5);  // 20 bytes declared, 16 sent
    bad.push_back(r);
  }
  {
    auto r = PatternRequest();
    r.mutable_inputs(0)->set_name("not_an_input");
    bad.push_back(r);
  }
  {
    auto r = PatternRequest();
    r.mutable_inputs(0)->set_datatype("BYTES");
    bad.push_back(r);
  }
  {
    auto r = PatternRequest();  // typed contents, one value short
    r.clear_raw_input_contents();
    for (float v : PatternFloats()) r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(v);
    r.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->RemoveLast();
    bad.push_back(r);
  }
  {
    auto r = PatternRequest();  // BYTES contents holding the pattern
    r.clear_raw_input_contents();
    r.mutable_inputs(0)->set_datatype("BYTES");
    r.mutable_inputs(0)->mutable_contents()->add_bytes_contents(kTensorPattern);
    bad.push_back(r);
  }
  {
    auto r = PatternRequest();  // a duplicated input
    *r.add_inputs() = r.inputs(0);
    r.add_raw_input_contents(std::string(kTensorPattern, 16));
    bad.push_back(r);
  }
  {
    auto r = PatternRequest();
    r.add_outputs()->set_name("no_such_output");
    bad.push_back(r);
  }
  int refused = 0;
  for (const auto& request : bad) {
    grpc::Status status = stub->ModelInfer(Context().get(), request, &response);
    refused += !status.ok();
    EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr(kTensorPattern)));
  }
  EXPECT_EQ(refused, static_cast<int>(bad.size()));
  // The same over a stream.
  {
    auto context = Context();
    auto stream = stub->ModelStreamInfer(context.get());
    for (const auto& request : bad) ASSERT_TRUE(stream->Write(request));
    stream->WritesDone();
    inference::ModelStreamInferResponse streamed;
    int errors = 0;
    while (stream->Read(&streamed)) errors += !streamed.error_message().empty();
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_EQ(errors, static_cast<int>(bad.size()));
  }
  // Wrong and missing tokens, carrying the pattern.
  for (const std::string& token : {std::string(kWrongToken), std::string()}) {
    auto stub_without = inference::GRPCInferenceService::NewStub(TokenChannel(token));
    EXPECT_EQ(stub_without->ModelInfer(Context().get(), PatternRequest(), &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // Bad model loads: a file holding the pattern, a model that does not exist.
  for (const char* model : {"garbage", "absent"}) {
    inference::RepositoryModelLoadRequest load;
    load.set_model_name(model);
    inference::RepositoryModelLoadResponse loaded;
    EXPECT_FALSE(stub->RepositoryModelLoad(Context().get(), load, &loaded).ok()) << model;
  }
  // A rotated tokens file, and a bad one (the old tokens stay).
  WriteFile(tokens_file(), absl::StrCat(kGoodToken, "\n", kRotatedToken, "\n"));
  absl::SleepFor(absl::Milliseconds(1500));
  WriteFile(tokens_file(), absl::StrCat(kGoodToken, "\nshort-secret-x\n"));
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_TRUE(stub->ModelInfer(Context().get(), PatternRequest(), &response).ok());

  // Stop everything so that every line has been written, then look.
  cluster_->Stop();
  const std::string coordinator_log = cluster_->coordinator_output();
  const std::string worker_log = cluster_->worker_output(0);
  // The logs are there and did record the error paths.
  EXPECT_THAT(coordinator_log, HasSubstr("tessera-coordinator: listening on"));
  EXPECT_THAT(coordinator_log, HasSubstr("bearer tokens file re-read"));
  EXPECT_THAT(coordinator_log, HasSubstr("line 2"));  // the bad tokens file, by line number
  EXPECT_THAT(coordinator_log, HasSubstr("garbage"));
  EXPECT_THAT(coordinator_log, HasSubstr("log_level=debug"));
  EXPECT_THAT(worker_log, HasSubstr("tessera-worker: listening on"));

  const std::vector<std::pair<std::string, std::string>> secrets = Secrets(cluster_dir());
  // The scan has something to look for: the body of every node's key.
  for (const char* key : {"certs/ca.key", "certs/coordinator.key", "certs/worker.key", "certs/client.key"}) {
    const std::string path = (cluster_dir() / key).string();
    const std::string body = absl::StrJoin(PemBodyLines(ReadFile(path)), "");
    ASSERT_GT(body.size(), 40u) << path;
    EXPECT_TRUE(absl::c_any_of(secrets, [&](const auto& secret) { return secret.first == path; })) << path;
  }
  for (const auto& [what, secret] : secrets) {
    EXPECT_THAT(coordinator_log, ::testing::Not(HasSubstr(secret))) << what << " in the coordinator's log";
    EXPECT_THAT(worker_log, ::testing::Not(HasSubstr(secret))) << what << " in the worker's log";
  }
  std::printf("log scan: %zu secrets checked against %zu + %zu bytes of coordinator and worker output\n",
              secrets.size(), coordinator_log.size(), worker_log.size());
}

}  // namespace
}  // namespace tessera
