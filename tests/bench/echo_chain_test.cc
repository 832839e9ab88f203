// The echo chain as processes on loopback with real certificates: a client
// -> tessera-echo --mode=relay (coordinator certificate and policy) ->
// tessera-echo --mode=server (worker certificate, worker-shaped policy).
// Answers through the chain equal the inputs; plaintext and wrong-role peers
// are refused. Plus the mapping parser and the server policy, in-process.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/cluster/echo_chain.h"
#include "client/process.h"
#include "common/certificate_authority.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference.grpc.pb.h"

namespace tessera::bench {
namespace {

namespace fs = std::filesystem;
using client::Process;
using ::testing::HasSubstr;

constexpr absl::Duration kStartTimeout = absl::Seconds(15);

TEST(EchoMapping, Parses) {
  auto m = ParseEchoMapping("x=y, a=b");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, (EchoMapping{{"x", "y"}, {"a", "b"}}));
  for (const char* bad : {"", "x", "x=", "=y", "x=y=z", "x=y,x=z", "x=y,a=y"}) {
    auto r = ParseEchoMapping(bad);
    EXPECT_FALSE(r.ok()) << "'" << bad << "' was accepted";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ParseEchoMapping("x=y,x=z").status().message(), HasSubstr("input 'x' twice"));
}

TEST(EchoServerPolicy, AllowsInferenceToCoordinatorsOnly) {
  const AuthorizationPolicy policy = EchoServerAuthorizationPolicy();
  const std::string json = policy.ToJson();
  EXPECT_THAT(json, HasSubstr("/inference.GRPCInferenceService/*"));
  EXPECT_THAT(json, ::testing::Not(HasSubstr("/tessera.worker.Worker/")));
  // The worker policy's rule for worker-to-worker Execute (stage forwarding)
  // has no counterpart here.
  EXPECT_EQ(policy.allow_rules.size(), WorkerAuthorizationPolicy().allow_rules.size() - 1);
  for (const auto& rule : policy.allow_rules) {
    EXPECT_THAT(rule.principals, ::testing::Not(::testing::Contains(RoleIdentity(NodeRole::kWorker))));
  }
  bool found = false;
  for (const auto& rule : policy.allow_rules) {
    for (const auto& path : rule.paths) {
      if (path != "/inference.GRPCInferenceService/*") continue;
      found = true;
      EXPECT_EQ(rule.principals, std::vector<std::string>{RoleIdentity(NodeRole::kCoordinator)});
    }
  }
  EXPECT_TRUE(found);
}

class EchoChainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / absl::StrCat("tessera_echo_chain_test_", ::getpid()));
    fs::remove_all(*dir_);
    ASSERT_TRUE(MakeClusterCertificates(certs(), {}).ok());
    auto [server, server_address] = Start({"--mode=server", "--echo-output", "x=y,mask=mask_out"});
    ASSERT_NE(server, nullptr);
    server_ = server.release();
    server_address_ = new std::string(server_address);
    auto [relay, relay_address] = Start({"--mode=relay", "--upstream", server_address});
    ASSERT_NE(relay, nullptr);
    relay_ = relay.release();
    relay_address_ = new std::string(relay_address);
  }
  static void TearDownTestSuite() {
    // Both stop cleanly on SIGTERM (a Process destroyed while running is killed).
    for (Process* p : {relay_, server_}) {
      if (p == nullptr) continue;
      EXPECT_TRUE(p->Signal(SIGTERM).ok());
      auto exit = p->Wait(absl::Seconds(10));
      EXPECT_TRUE(exit.ok() && exit->success()) << (exit.ok() ? exit->ToString() : exit.status().ToString());
      delete p;
    }
    delete server_address_;
    delete relay_address_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  static std::string certs() { return (*dir_ / "certs").string(); }

  static std::pair<std::unique_ptr<Process>, std::string> Start(std::vector<std::string> args) {
    std::vector<std::string> argv = {absl::StrCat(TESSERA_BIN_DIR, "/tessera-echo"), "--listen", "127.0.0.1:0",
                                     "--certs", certs()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto process = Process::Spawn({.argv = std::move(argv)});
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return {};
    absl::StatusOr<std::string> line = (*process)->ReadStdoutLine(kStartTimeout);
    EXPECT_TRUE(line.ok()) << line.status() << "\n" << (*process)->StderrTail();
    if (!line.ok()) return {};
    EXPECT_THAT(*line, HasSubstr("tessera-echo: listening on 127.0.0.1:"));
    return {*std::move(process), line->substr(line->rfind(' ') + 1)};
  }

  static std::unique_ptr<inference::GRPCInferenceService::Stub> Stub(const std::string& address, NodeRole role,
                                                                    bool insecure = false) {
    TlsOptions tls;
    tls.insecure = insecure;
    if (!insecure) tls.files = TlsFiles::InDirectory(certs(), role);
    auto channel = MakeChannel(address, tls);
    EXPECT_TRUE(channel.ok()) << channel.status();
    if (!channel.ok()) return nullptr;
    return inference::GRPCInferenceService::NewStub(*channel);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return context;
  }

  static inference::ModelInferRequest RawRequest(int batch, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1, 1);
    std::vector<float> values(batch * 16);
    for (float& v : values) v = dist(rng);
    inference::ModelInferRequest request;
    request.set_model_name("echo");
    request.set_id(absl::StrCat("req-", seed));
    auto* in = request.add_inputs();
    in->set_name("x");
    in->set_datatype("FP32");
    in->add_shape(batch);
    in->add_shape(16);
    request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values.data()),
                                               values.size() * sizeof(float)));
    return request;
  }

  static fs::path* dir_;
  static Process* server_;
  static Process* relay_;
  static std::string* server_address_;
  static std::string* relay_address_;
};

fs::path* EchoChainTest::dir_ = nullptr;
Process* EchoChainTest::server_ = nullptr;
Process* EchoChainTest::relay_ = nullptr;
std::string* EchoChainTest::server_address_ = nullptr;
std::string* EchoChainTest::relay_address_ = nullptr;

TEST_F(EchoChainTest, AnswerThroughTheChainEqualsTheInput) {
  ASSERT_NE(relay_address_, nullptr);
  auto stub = Stub(*relay_address_, NodeRole::kClient);
  ASSERT_NE(stub, nullptr);
  for (int batch : {1, 3, 64}) {
    const inference::ModelInferRequest request = RawRequest(batch, 100 + batch);
    inference::ModelInferResponse response;
    grpc::Status status = stub->ModelInfer(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    EXPECT_EQ(response.model_name(), "echo");
    EXPECT_EQ(response.id(), request.id());
    ASSERT_EQ(response.outputs_size(), 1);
    EXPECT_EQ(response.outputs(0).name(), "y");
    EXPECT_EQ(response.outputs(0).datatype(), "FP32");
    EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAre(batch, 16));
    ASSERT_EQ(response.raw_output_contents_size(), 1);
    EXPECT_EQ(response.raw_output_contents(0).size(), static_cast<size_t>(batch) * 16 * sizeof(float));
    EXPECT_TRUE(response.raw_output_contents(0) == request.raw_input_contents(0)) << "batch " << batch;
  }
}

TEST_F(EchoChainTest, TypedContentsAndSeveralInputsAreEchoed) {
  ASSERT_NE(relay_address_, nullptr);
  auto stub = Stub(*relay_address_, NodeRole::kClient);
  inference::ModelInferRequest request;
  request.set_model_name("echo");
  auto* x = request.add_inputs();
  x->set_name("x");
  x->set_datatype("FP32");
  x->add_shape(1);
  x->add_shape(3);
  for (float v : {1.5f, -2.0f, 3.25f}) x->mutable_contents()->add_fp32_contents(v);
  auto* mask = request.add_inputs();
  mask->set_name("mask");
  mask->set_datatype("INT64");
  mask->add_shape(2);
  for (int64_t v : {7, -9}) mask->mutable_contents()->add_int64_contents(v);
  inference::ModelInferResponse response;
  grpc::Status status = stub->ModelInfer(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.outputs_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "y");
  EXPECT_THAT(response.outputs(0).contents().fp32_contents(), ::testing::ElementsAre(1.5f, -2.0f, 3.25f));
  EXPECT_EQ(response.outputs(1).name(), "mask_out");
  EXPECT_EQ(response.outputs(1).datatype(), "INT64");
  EXPECT_THAT(response.outputs(1).contents().int64_contents(), ::testing::ElementsAre(7, -9));
  EXPECT_EQ(response.raw_output_contents_size(), 0);
}

TEST_F(EchoChainTest, MetadataConfigAndErrorsComeThroughTheRelay) {
  ASSERT_NE(relay_address_, nullptr);
  auto stub = Stub(*relay_address_, NodeRole::kClient);
  inference::ModelMetadataRequest mreq;
  mreq.set_name("echo");
  inference::ModelMetadataResponse meta;
  ASSERT_TRUE(stub->ModelMetadata(Context().get(), mreq, &meta).ok());
  EXPECT_EQ(meta.name(), "echo");
  ASSERT_EQ(meta.inputs_size(), 2);
  EXPECT_EQ(meta.inputs(0).name(), "x");
  EXPECT_EQ(meta.inputs(0).datatype(), "FP32");
  EXPECT_THAT(meta.inputs(0).shape(), ::testing::ElementsAre(-1, 16));
  EXPECT_EQ(meta.outputs(0).name(), "y");

  inference::ModelConfigRequest creq;
  creq.set_name("echo");
  inference::ModelConfigResponse config;
  ASSERT_TRUE(stub->ModelConfig(Context().get(), creq, &config).ok());
  EXPECT_EQ(config.config().name(), "echo");
  ASSERT_EQ(config.config().input_size(), 2);
  EXPECT_EQ(config.config().input(0).data_type(), inference::TYPE_FP32);

  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub->ServerLive(Context().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());

  // The upstream's NOT_FOUND comes back unchanged.
  inference::ModelInferRequest request = RawRequest(1, 1);
  request.set_model_name("nope");
  inference::ModelInferResponse response;
  grpc::Status status = stub->ModelInfer(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("unknown model 'nope'"));

  // Methods the chain does not offer.
  inference::RepositoryIndexResponse index;
  EXPECT_EQ(stub->RepositoryIndex(Context().get(), {}, &index).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(EchoChainTest, PlaintextAndWrongRolesAreRefused) {
  ASSERT_NE(relay_address_, nullptr);
  const inference::ModelInferRequest request = RawRequest(2, 9);
  inference::ModelInferResponse response;

  // Plaintext to the TLS relay: no handshake, no call.
  auto plain = Stub(*relay_address_, NodeRole::kClient, /*insecure=*/true);
  ASSERT_NE(plain, nullptr);
  grpc::Status status = plain->ModelInfer(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();

  // A client certificate straight at the server (the worker's place).
  auto direct = Stub(*server_address_, NodeRole::kClient);
  status = direct->ModelInfer(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();

  // A worker certificate at the relay (the coordinator's place).
  auto worker = Stub(*relay_address_, NodeRole::kWorker);
  status = worker->ModelInfer(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();

  // The coordinator certificate may call the server directly: the hop the relay makes.
  auto coordinator = Stub(*server_address_, NodeRole::kCoordinator);
  status = coordinator->ModelInfer(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST(EchoBinary, BadFlagsExitWithAMessage) {
  auto run = [](std::vector<std::string> args) {
    std::vector<std::string> argv = {absl::StrCat(TESSERA_BIN_DIR, "/tessera-echo"), "--insecure"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto process = Process::Spawn({.argv = std::move(argv)});
    EXPECT_TRUE(process.ok());
    auto exit = (*process)->Wait(absl::Seconds(10));
    EXPECT_TRUE(exit.ok());
    return std::make_pair(exit.ok() ? *exit : client::ExitStatus{}, (*process)->StderrTail());
  };
  auto [exit, err] = run({"--mode=relay"});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(err, HasSubstr("--upstream"));
  std::tie(exit, err) = run({"--mode=bogus"});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(err, HasSubstr("server or relay"));
  std::tie(exit, err) = run({"--echo-output", "x"});
  EXPECT_EQ(exit.code, 2);
  EXPECT_THAT(err, HasSubstr("INPUT=OUTPUT"));
}

}  // namespace
}  // namespace tessera::bench
