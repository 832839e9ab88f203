// libFuzzer target: the worker's partition upload stream. The input is cut
// into a sequence of LoadPartition messages, each serialized and parsed
// back as on the wire, and fed to the same steps as the worker's
// LoadPartition handler (worker/worker_service.cc): the first message must
// be the header (WorkerCore::BeginLoad), every later one a chunk
// (PartitionUpload::Append), and at the end of the stream
// WorkerCore::FinishLoad checks the count and digest and loads the engine.
//
// Input layout (FuzzedDataProvider):
//   flags byte: bit 0: partition_id is the SHA-256 of the payload (else 64
//               fuzzed characters); bit 1: total_bytes is the payload size
//               (else a fuzzed uint64); bit 2: a chunk comes before the
//               header; bit 3: a second header in the middle; bit 4: an
//               empty chunk in the middle;
//   cut count (byte, % 16), then that many uint16 chunk sizes;
//   [64 id characters when bit 0 is clear] [uint64 when bit 1 is clear];
//   the payload: the rest (a valid ONNX model in most seeds).
// Each stream must end in OK (a loaded or already-loaded partition) or a
// status with a message.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "common/sha256.h"
#include "proto/worker.pb.h"
#include "worker/partition_upload.h"
#include "worker/worker_core.h"

namespace tessera::worker {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "partition_upload_fuzzer: %s\n", what.c_str());
  std::abort();
}

void CheckRefusal(const absl::Status& status) {
  if (!status.ok() && status.message().empty()) Fail("a stream was refused without a message");
}

std::vector<LoadPartitionRequest> CutIntoMessages(FuzzedDataProvider& in) {
  const uint8_t flags = in.ConsumeIntegral<uint8_t>();
  std::vector<size_t> cuts(in.ConsumeIntegral<uint8_t>() % 16);
  for (size_t& cut : cuts) cut = in.ConsumeIntegral<uint16_t>();
  const std::string fuzzed_id = (flags & 1) ? "" : in.ConsumeBytesAsString(64);
  const uint64_t fuzzed_total = (flags & 2) ? 0 : in.ConsumeIntegral<uint64_t>();
  const std::string payload = in.ConsumeRemainingBytesAsString();

  LoadPartitionRequest header;
  header.mutable_header()->set_partition_id((flags & 1) ? Sha256Hex(payload) : fuzzed_id);
  header.mutable_header()->set_total_bytes((flags & 2) ? payload.size() : fuzzed_total);
  header.mutable_header()->set_model_name("fuzz");
  header.mutable_header()->set_intra_op_threads(1);

  std::vector<LoadPartitionRequest> messages;
  auto add_chunk = [&messages](std::string bytes) {
    LoadPartitionRequest chunk;
    chunk.set_chunk(std::move(bytes));
    messages.push_back(std::move(chunk));
  };
  if (flags & 4) add_chunk(payload.substr(0, 1));
  messages.push_back(header);
  size_t pos = 0;
  for (size_t i = 0; i < cuts.size() && pos < payload.size(); ++i) {
    const size_t n = std::min(cuts[i], payload.size() - pos);
    add_chunk(payload.substr(pos, n));
    pos += n;
    if (i == 0 && (flags & 8)) messages.push_back(header);
    if (i == 0 && (flags & 16)) add_chunk("");
  }
  if (pos < payload.size()) add_chunk(payload.substr(pos));
  return messages;
}

// The worker's LoadPartition handler, step for step.
absl::Status Upload(WorkerCore& core, const std::vector<LoadPartitionRequest>& messages) {
  std::optional<PartitionUpload> upload;
  LoadPartitionResponse response;
  for (const LoadPartitionRequest& message : messages) {
    LoadPartitionRequest request;
    // A fuzzed partition_id may not be UTF-8: gRPC refuses such a message
    // before the handler sees it.
    if (!request.ParseFromString(message.SerializeAsString())) {
      return absl::InvalidArgumentError("a message does not parse");
    }
    if (!upload.has_value()) {
      if (!request.has_header()) return absl::InvalidArgumentError("the first message must carry the header");
      bool done = false;
      absl::Status begun = core.BeginLoad(request.header(), &response, &done);
      if (done && response.partition_id() != request.header().partition_id()) {
        Fail("an already loaded partition answered with another id");
      }
      if (!begun.ok() || done) return begun;
      upload.emplace(request.header());
    } else {
      if (request.has_header()) return absl::InvalidArgumentError("a second header in the stream");
      absl::Status appended = upload->Append(request.chunk());
      if (!appended.ok()) return appended;
    }
  }
  if (!upload.has_value()) return absl::InvalidArgumentError("stream ended without a header");
  const std::string upload_id = upload->header().partition_id();
  absl::Notification finished;
  absl::Status result;
  core.FinishLoad(*std::move(upload), &response, [&](absl::Status status) {
    result = std::move(status);
    finished.Notify();
  });
  finished.WaitForNotification();
  if (result.ok() && response.partition_id() != upload_id) {
    Fail("a load succeeded with another partition id in its response");
  }
  return result;
}

}  // namespace
}  // namespace tessera::worker

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A small budget: partitions that load stay cached (LRU-evicted).
  static auto* core = new tessera::worker::WorkerCore(
      tessera::worker::WorkerCore::Options{.memory_budget_bytes = 64 << 20, .intra_op_threads = 1});
  FuzzedDataProvider in(data, size);
  tessera::worker::CheckRefusal(tessera::worker::Upload(*core, tessera::worker::CutIntoMessages(in)));
  return 0;
}
