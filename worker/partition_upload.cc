#include "worker/partition_upload.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::worker {
namespace {

// Reserve at most this much up front: total_bytes comes from the peer.
constexpr uint64_t kMaxReserveBytes = uint64_t{64} << 20;

}  // namespace

absl::Status PartitionUpload::ValidateHeader(const PartitionHeader& header) {
  if (!IsSha256Hex(header.partition_id())) {
    return absl::InvalidArgumentError(absl::StrCat("partition_id must be the lower-case hex SHA-256 of the ",
                                                   "partition (64 characters), got '",
                                                   header.partition_id().substr(0, 80), "'"));
  }
  if (header.total_bytes() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("partition ", header.partition_id(), ": total_bytes is 0"));
  }
  return absl::OkStatus();
}

PartitionUpload::PartitionUpload(PartitionHeader header) : header_(std::move(header)) {
  bytes_.reserve(std::min(header_.total_bytes(), kMaxReserveBytes));
}

absl::Status PartitionUpload::Append(absl::string_view chunk) {
  if (chunk.size() > header_.total_bytes() - received_) {
    return absl::DataLossError(absl::StrCat("partition ", header_.partition_id(), ": received more than the ",
                                            header_.total_bytes(), " bytes the header announced"));
  }
  received_ += chunk.size();
  hash_.Update(chunk);
  bytes_.append(chunk.data(), chunk.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> PartitionUpload::Finish() && {
  if (received_ != header_.total_bytes()) {
    return absl::DataLossError(absl::StrCat("partition ", header_.partition_id(), ": stream ended after ",
                                            received_, " of ", header_.total_bytes(), " bytes"));
  }
  const std::string digest = hash_.FinishHex();
  if (digest != header_.partition_id()) {
    return absl::DataLossError(absl::StrCat("partition bytes hash to ", digest, ", not to the partition_id ",
                                            header_.partition_id()));
  }
  return std::move(bytes_);
}

}  // namespace tessera::worker
