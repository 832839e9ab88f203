// The three kinds of node in a Tessera cluster and the identity each one
// carries in its certificate.
//
// Every certificate issued by the cluster CA names exactly one role as a URI
// subject alternative name, spiffe://tessera/<role>. Authorization decisions
// (common/authorization_policy.h) are made on that URI, never on host names.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

enum class NodeRole {
  kCoordinator,
  kWorker,
  kClient,  // the tessera CLI and operators; also any KServe v2 client
};

// "coordinator", "worker" or "client": the file stem used by
// `tessera certs` (DIR/<role>.pem) and the last segment of the identity.
absl::string_view RoleName(NodeRole role);

// The inverse of RoleName. InvalidArgument for anything else.
absl::StatusOr<NodeRole> ParseRole(absl::string_view name);

// "spiffe://tessera/<role>": the URI SAN in the role's certificates and the
// principal the authorization policies match.
std::string RoleIdentity(NodeRole role);

}  // namespace tessera
