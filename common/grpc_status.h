// The one place where Tessera's absl::Status and gRPC's grpc::Status meet.
// Codes map one to one (both use the canonical gRPC codes); messages sent to
// a peer are capped so that an error never becomes a large response.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace tessera {

// Longest message sent in a grpc::Status; longer ones are cut and end in
// "... (truncated)".
inline constexpr size_t kMaxStatusMessageBytes = 4096;

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace tessera
