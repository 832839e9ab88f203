#include "common/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tessera {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  std::string message(status.message());
  if (message.size() > kMaxStatusMessageBytes) {
    constexpr absl::string_view kSuffix = "... (truncated)";
    message.resize(kMaxStatusMessageBytes - kSuffix.size());
    absl::StrAppend(&message, kSuffix);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace tessera
