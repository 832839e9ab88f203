#include "common/authorization_policy.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "common/certificate_authority.h"
#include "common/server_authorization.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/tls_test_cluster.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using testing::Call;
using testing::ChannelAs;
using testing::kHealthCheck;
using testing::kServingResponse;
using testing::TemporaryDirectory;
using testing::TestServer;

constexpr char kWorkerStatus[] = "/tessera.worker.Worker/Status";
constexpr char kWorkerExecute[] = "/tessera.worker.Worker/Execute";
constexpr char kWorkerLoadPartition[] = "/tessera.worker.Worker/LoadPartition";
constexpr char kWorkerUnload[] = "/tessera.worker.Worker/Unload";
constexpr char kModelInfer[] = "/inference.GRPCInferenceService/ModelInfer";
constexpr char kServerLive[] = "/inference.GRPCInferenceService/ServerLive";
constexpr char kRepositoryLoad[] = "/inference.GRPCInferenceService/RepositoryModelLoad";
constexpr char kRepositoryUnload[] = "/inference.GRPCInferenceService/RepositoryModelUnload";
constexpr char kClusterStatus[] = "/tessera.status.ClusterStatus/GetStatus";
constexpr char kReflection[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// ---- The policies as data ----

TEST(AuthorizationPolicyRulesTest, JsonIsWellFormedAndNamesTheRoles) {
  for (const AuthorizationPolicy& policy : {WorkerAuthorizationPolicy(), CoordinatorAuthorizationPolicy()}) {
    google::protobuf::Struct parsed;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(policy.ToJson(), &parsed).ok()) << policy.ToJson();
    EXPECT_EQ(parsed.fields().at("name").string_value(), policy.name);
    EXPECT_TRUE(parsed.fields().contains("allow_rules"));
  }
  const std::string worker = WorkerAuthorizationPolicy().ToJson();
  EXPECT_THAT(worker, HasSubstr("\"principals\": [\"spiffe://tessera/coordinator\"]"));
  EXPECT_THAT(worker, HasSubstr("\"/tessera.worker.Worker/*\""));
  EXPECT_FALSE(absl::StrContains(worker, "spiffe://tessera/client"));
  // Workers appear once: allowed Execute alone (DIRECT stage forwarding).
  EXPECT_THAT(worker, HasSubstr("\"source\": {\"principals\": [\"spiffe://tessera/worker\"]}, "
                                "\"request\": {\"paths\": [\"/tessera.worker.Worker/Execute\"]}"));
  EXPECT_EQ(worker.find("spiffe://tessera/worker"), worker.rfind("spiffe://tessera/worker"));
  const std::string coordinator = CoordinatorAuthorizationPolicy().ToJson();
  EXPECT_THAT(coordinator, HasSubstr("\"deny_rules\""));
  EXPECT_THAT(coordinator, HasSubstr("spiffe://tessera/client"));
  EXPECT_FALSE(absl::StrContains(coordinator, "spiffe://tessera/worker"));
  EXPECT_EQ(AuthorizationPolicyFor(NodeRole::kClient).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AuthorizationPolicyRulesTest, GrpcAcceptsBothPolicies) {
  for (const AuthorizationPolicy& policy : {WorkerAuthorizationPolicy(), CoordinatorAuthorizationPolicy()}) {
    EXPECT_TRUE(MakeAuthorizationPolicyProvider(policy).ok()) << policy.name;
  }
}

TEST(AuthorizationPolicyRulesTest, TokenPolicyAllowsTheClientPathsToAnyPeerAndNothingElse) {
  const AuthorizationPolicy policy = CoordinatorTokenAuthorizationPolicy();
  EXPECT_TRUE(MakeAuthorizationPolicyProvider(policy).ok());
  EXPECT_TRUE(policy.deny_rules.empty());
  ASSERT_EQ(policy.allow_rules.size(), 1u);
  const AuthorizationRule& rule = policy.allow_rules[0];
  EXPECT_TRUE(rule.principals.empty());  // token holders present no certificate
  EXPECT_THAT(rule.paths, ::testing::UnorderedElementsAre(
                              "/inference.GRPCInferenceService/*", "/tessera.status.ClusterStatus/*",
                              "/grpc.health.v1.Health/*", "/grpc.reflection.v1alpha.ServerReflection/*",
                              "/grpc.reflection.v1.ServerReflection/*"));
  // The same paths the client role has under mutual TLS.
  for (const std::string& path : rule.paths) {
    bool client_has_it = false;
    for (const AuthorizationRule& mtls : CoordinatorAuthorizationPolicy().allow_rules) {
      const bool for_clients = mtls.principals == std::vector<std::string>{"*"} ||
                               absl::c_linear_search(mtls.principals, "spiffe://tessera/client");
      client_has_it |= for_clients && absl::c_linear_search(mtls.paths, path);
    }
    EXPECT_TRUE(client_has_it) << path;
  }
  EXPECT_FALSE(absl::StrContains(policy.ToJson(), "tessera.worker"));
}

TEST(AuthorizationPolicyRulesTest, GrpcRejectsAMalformedPolicyWithItsReason) {
  // A quote in a name leaves the JSON unterminated; gRPC's parser says so.
  AuthorizationPolicy policy{.name = "broken\"", .allow_rules = {{.name = "rule", .paths = {"/x/*"}}}};
  absl::StatusOr<std::shared_ptr<grpc::experimental::AuthorizationPolicyProviderInterface>> provider =
      MakeAuthorizationPolicyProvider(policy);
  EXPECT_EQ(provider.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(provider.status().message(), HasSubstr("broken"));
}

// ---- Enforcement on real servers ----

// One real mTLS server per test on 127.0.0.1, presenting `server_role`'s
// certificate with that role's policy installed.
class AuthorizationPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(MakeClusterCertificates(dir_.path().string(), {}).ok()); }

  void StartServer(NodeRole server_role) {
    server_ = TestServer::StartWith([&](grpc::ServerBuilder* builder) -> std::shared_ptr<grpc::ServerCredentials> {
      absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ConfigureServerSecurity(
          server_role, {.files = TlsFiles::InDirectory(dir_.path().string(), server_role)}, builder);
      EXPECT_TRUE(credentials.ok()) << credentials.status();
      return credentials.ok() ? *credentials : nullptr;
    });
    ASSERT_NE(server_, nullptr);
  }

  // Health checks get an empty (valid) HealthCheckRequest; other methods
  // reach the echo service.
  grpc::Status CallAs(NodeRole caller, const std::string& method) {
    const std::string request = method == kHealthCheck ? "" : "ping";
    return Call(ChannelAs(dir_.path().string(), caller, server_->address()), method, request).status;
  }

  void ExpectDenied(NodeRole caller, const std::string& method) {
    const grpc::Status status = CallAs(caller, method);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << RoleName(caller) << " calling " << method << ": " << status.error_code() << " " << status.error_message();
  }

  void ExpectAllowed(NodeRole caller, const std::string& method) {
    const grpc::Status status = CallAs(caller, method);
    EXPECT_TRUE(status.ok()) << RoleName(caller) << " calling " << method << ": " << status.error_code() << " "
                             << status.error_message();
  }

  TemporaryDirectory dir_{"authorization_policy_test"};
  std::unique_ptr<TestServer> server_;
};

TEST_F(AuthorizationPolicyTest, OnlyTheCoordinatorDrivesWorkers) {
  StartServer(NodeRole::kWorker);
  ExpectAllowed(NodeRole::kCoordinator, kWorkerStatus);
  ExpectAllowed(NodeRole::kCoordinator, kWorkerExecute);
  ExpectAllowed(NodeRole::kCoordinator, kWorkerLoadPartition);
  ExpectDenied(NodeRole::kClient, kWorkerStatus);
  ExpectDenied(NodeRole::kClient, kWorkerExecute);
  ExpectDenied(NodeRole::kClient, kWorkerLoadPartition);
  // Nothing outside the worker service, not even for the coordinator.
  ExpectDenied(NodeRole::kCoordinator, kModelInfer);
}

TEST_F(AuthorizationPolicyTest, WorkersMayOnlyExecuteOnOtherWorkers) {
  StartServer(NodeRole::kWorker);
  // DIRECT stage forwarding: a worker hands a micro-batch to the next stage.
  ExpectAllowed(NodeRole::kWorker, kWorkerExecute);
  // Everything else stays the coordinator's.
  ExpectDenied(NodeRole::kWorker, kWorkerLoadPartition);
  ExpectDenied(NodeRole::kWorker, kWorkerUnload);
  ExpectDenied(NodeRole::kWorker, kWorkerStatus);
}

TEST_F(AuthorizationPolicyTest, HealthAndReflectionAreOpenToEveryRole) {
  StartServer(NodeRole::kWorker);
  for (NodeRole caller : {NodeRole::kClient, NodeRole::kWorker, NodeRole::kCoordinator}) {
    testing::CallResult health = Call(ChannelAs(dir_.path().string(), caller, server_->address()), kHealthCheck, "");
    EXPECT_TRUE(health.status.ok()) << RoleName(caller) << ": " << health.status.error_message();
    EXPECT_EQ(health.response, kServingResponse);
    ExpectAllowed(caller, kReflection);
  }
}

TEST_F(AuthorizationPolicyTest, CoordinatorServesClientsAndPeersButNotWorkers) {
  StartServer(NodeRole::kCoordinator);
  ExpectAllowed(NodeRole::kClient, kModelInfer);
  ExpectAllowed(NodeRole::kClient, kServerLive);
  ExpectAllowed(NodeRole::kCoordinator, kModelInfer);
  ExpectDenied(NodeRole::kWorker, kModelInfer);
  ExpectDenied(NodeRole::kWorker, kServerLive);
  ExpectDenied(NodeRole::kWorker, kRepositoryLoad);
  ExpectAllowed(NodeRole::kWorker, kHealthCheck);
  // A coordinator is not a worker.
  ExpectDenied(NodeRole::kClient, kWorkerStatus);
}

TEST_F(AuthorizationPolicyTest, ClientsAndCoordinatorsReadTheClusterStatus) {
  StartServer(NodeRole::kCoordinator);
  ExpectAllowed(NodeRole::kClient, kClusterStatus);
  ExpectAllowed(NodeRole::kCoordinator, kClusterStatus);
  ExpectDenied(NodeRole::kWorker, kClusterStatus);
  // Workers never serve it.
  server_.reset();
  StartServer(NodeRole::kWorker);
  ExpectDenied(NodeRole::kClient, kClusterStatus);
  ExpectDenied(NodeRole::kCoordinator, kClusterStatus);
}

TEST_F(AuthorizationPolicyTest, OnlyClientsChangeTheRepository) {
  StartServer(NodeRole::kCoordinator);
  ExpectAllowed(NodeRole::kClient, kRepositoryLoad);
  ExpectAllowed(NodeRole::kClient, kRepositoryUnload);
  ExpectDenied(NodeRole::kCoordinator, kRepositoryLoad);
  ExpectDenied(NodeRole::kCoordinator, kRepositoryUnload);
  ExpectDenied(NodeRole::kWorker, kRepositoryUnload);
}

TEST_F(AuthorizationPolicyTest, CertificateFromAnotherCaClaimingTheCoordinatorRoleIsRefused) {
  StartServer(NodeRole::kWorker);
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> other = CertificateAuthority::Create();
  ASSERT_TRUE(other.ok());
  absl::StatusOr<KeyAndCertificate> forged = (*other)->IssueLeaf({.role = NodeRole::kCoordinator});
  ASSERT_TRUE(forged.ok());
  TlsFiles files{.ca = dir_.File("ca.pem"), .cert = dir_.File("forged.pem"), .key = dir_.File("forged.key")};
  ASSERT_TRUE(WriteKeyAndCertificate(*forged, files.cert, files.key).ok());
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(server_->address(), {.files = files}, testing::FreshConnectionArguments());
  ASSERT_TRUE(channel.ok());
  EXPECT_EQ(Call(*channel, kWorkerExecute).status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AuthorizationPolicyTest, InsecureModeInstallsNoPolicy) {
  server_ = TestServer::StartWith([](grpc::ServerBuilder* builder) -> std::shared_ptr<grpc::ServerCredentials> {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
        ConfigureServerSecurity(NodeRole::kWorker, {.insecure = true}, builder);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return credentials.ok() ? *credentials : nullptr;
  });
  ASSERT_NE(server_, nullptr);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(server_->address(), {.insecure = true});
  ASSERT_TRUE(channel.ok());
  EXPECT_TRUE(Call(*channel, kWorkerStatus).status.ok());
}

}  // namespace
}  // namespace tessera
