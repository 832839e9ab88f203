#include "common/authorization_policy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera {
namespace {

constexpr char kWorkerMethods[] = "/tessera.worker.Worker/*";
constexpr char kWorkerExecute[] = "/tessera.worker.Worker/Execute";
constexpr char kInferenceMethods[] = "/inference.GRPCInferenceService/*";
constexpr char kClusterStatusMethods[] = "/tessera.status.ClusterStatus/*";
constexpr char kRepositoryLoad[] = "/inference.GRPCInferenceService/RepositoryModelLoad";
constexpr char kRepositoryUnload[] = "/inference.GRPCInferenceService/RepositoryModelUnload";
constexpr char kAnyAuthenticatedPeer[] = "*";

// Names, principals and paths are constants of this file or SPIFFE ids, none
// of which holds a character JSON would need escaped.
std::string JsonStrings(const std::vector<std::string>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", ", [](std::string* out, const std::string& value) {
                        absl::StrAppend(out, "\"", value, "\"");
                      }),
                      "]");
}

std::string RuleJson(const AuthorizationRule& rule) {
  std::string json = absl::StrCat("{\"name\": \"", rule.name, "\"");
  if (!rule.principals.empty()) {
    absl::StrAppend(&json, ", \"source\": {\"principals\": ", JsonStrings(rule.principals), "}");
  }
  if (!rule.paths.empty()) absl::StrAppend(&json, ", \"request\": {\"paths\": ", JsonStrings(rule.paths), "}");
  return json + "}";
}

std::string RulesJson(const std::vector<AuthorizationRule>& rules) {
  return absl::StrCat("[", absl::StrJoin(rules, ", ", [](std::string* out, const AuthorizationRule& rule) {
                        out->append(RuleJson(rule));
                      }),
                      "]");
}

AuthorizationRule HealthAndReflectionRule() {
  return {.name = "health_and_reflection",
          .principals = {kAnyAuthenticatedPeer},
          .paths = {"/grpc.health.v1.Health/*", "/grpc.reflection.v1alpha.ServerReflection/*",
                    "/grpc.reflection.v1.ServerReflection/*"}};
}

}  // namespace

std::string AuthorizationPolicy::ToJson() const {
  std::string json = absl::StrCat("{\"name\": \"", name, "\"");
  if (!deny_rules.empty()) absl::StrAppend(&json, ", \"deny_rules\": ", RulesJson(deny_rules));
  absl::StrAppend(&json, ", \"allow_rules\": ", RulesJson(allow_rules), "}");
  return json;
}

AuthorizationPolicy WorkerAuthorizationPolicy() {
  return {.name = "tessera_worker",
          .allow_rules = {{.name = "coordinator_calls_worker",
                           .principals = {RoleIdentity(NodeRole::kCoordinator)},
                           .paths = {kWorkerMethods}},
                          {.name = "worker_forwards_to_worker",
                           .principals = {RoleIdentity(NodeRole::kWorker)},
                           .paths = {kWorkerExecute}},
                          HealthAndReflectionRule()}};
}

AuthorizationPolicy CoordinatorAuthorizationPolicy() {
  return {.name = "tessera_coordinator",
          .deny_rules = {{.name = "repository_changes_by_operators_only",
                          .principals = {RoleIdentity(NodeRole::kCoordinator)},
                          .paths = {kRepositoryLoad, kRepositoryUnload}}},
          .allow_rules = {{.name = "inference",
                           .principals = {RoleIdentity(NodeRole::kClient), RoleIdentity(NodeRole::kCoordinator)},
                           .paths = {kInferenceMethods}},
                          {.name = "cluster_status",
                           .principals = {RoleIdentity(NodeRole::kClient), RoleIdentity(NodeRole::kCoordinator)},
                           .paths = {kClusterStatusMethods}},
                          HealthAndReflectionRule()}};
}

AuthorizationPolicy CoordinatorTokenAuthorizationPolicy() {
  AuthorizationRule rule = HealthAndReflectionRule();
  rule.name = "token_clients";
  rule.principals.clear();  // token holders present no certificate
  rule.paths.insert(rule.paths.begin(), {kInferenceMethods, kClusterStatusMethods});
  return {.name = "tessera_coordinator_bearer_tokens", .allow_rules = {std::move(rule)}};
}

absl::StatusOr<AuthorizationPolicy> AuthorizationPolicyFor(NodeRole server_role) {
  switch (server_role) {
    case NodeRole::kWorker:
      return WorkerAuthorizationPolicy();
    case NodeRole::kCoordinator:
      return CoordinatorAuthorizationPolicy();
    case NodeRole::kClient:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("no authorization policy for a ", RoleName(server_role),
                                                 " server: only coordinators and workers serve"));
}

}  // namespace tessera
