// One partition arriving over a LoadPartition stream: the header, then the
// ONNX bytes in chunks. Counts and hashes the bytes as they come, so that a
// wrong or truncated upload is caught before anything is parsed.
//
// Errors: INVALID_ARGUMENT for a malformed header (id not a lower-case hex
// SHA-256, zero size); DATA_LOSS when the bytes exceed total_bytes, fall
// short of it, or do not hash to partition_id.
//
// Not thread-safe: one per stream.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sha256.h"
#include "proto/worker.pb.h"

namespace tessera::worker {

class PartitionUpload {
 public:
  // Validates the header (not the budget: see PartitionCache::CheckFits).
  static absl::Status ValidateHeader(const PartitionHeader& header);

  explicit PartitionUpload(PartitionHeader header);

  const PartitionHeader& header() const { return header_; }
  uint64_t received() const { return received_; }

  absl::Status Append(absl::string_view chunk);
  // The complete bytes, once their count and digest are right.
  absl::StatusOr<std::string> Finish() &&;

 private:
  PartitionHeader header_;
  std::string bytes_;
  uint64_t received_ = 0;
  Sha256 hash_;
};

}  // namespace tessera::worker
