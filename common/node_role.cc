#include "common/node_role.h"

#include "absl/strings/str_cat.h"

namespace tessera {

absl::string_view RoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kCoordinator:
      return "coordinator";
    case NodeRole::kWorker:
      return "worker";
    case NodeRole::kClient:
      return "client";
  }
  return "unknown";
}

absl::StatusOr<NodeRole> ParseRole(absl::string_view name) {
  for (NodeRole role : {NodeRole::kCoordinator, NodeRole::kWorker, NodeRole::kClient}) {
    if (name == RoleName(role)) return role;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role '", name, "'; expected coordinator, worker or client"));
}

std::string RoleIdentity(NodeRole role) { return absl::StrCat("spiffe://tessera/", RoleName(role)); }

}  // namespace tessera
