// A model version as the scheduler runs it: its partitions (one for DATA,
// one per pipeline stage otherwise), how many replicas each stage has, and
// how requests are cut. Built once when the model is loaded (see
// coordinator.h); immutable afterwards and shared by every request.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/worker.pb.h"

namespace tessera::coordinator {

enum class Strategy { kData, kPipeline, kHybrid };

const char* StrategyName(Strategy strategy);

// How a pipeline micro-batch travels between stages (proto/model_config.proto,
// ModelParallelism.forwarding): kRelay through the coordinator, kDirect
// worker to worker in one chained Execute (request_executor.h).
enum class Forwarding { kRelay, kDirect };

const char* ForwardingName(Forwarding forwarding);
// "relay" / "direct" (any case); InvalidArgument naming the text otherwise.
absl::StatusOr<Forwarding> ParseForwarding(absl::string_view text);

// One partition of the model: a standalone ONNX model and its interface.
struct StagePartition {
  std::string id;  // hex SHA-256 of onnx_bytes
  std::shared_ptr<const std::string> onnx_bytes;
  worker::PartitionHeader header;  // id, size, model, stage index and count
  // Tensors the stage consumes: model inputs or outputs of earlier stages.
  std::vector<std::string> inputs;
  // Tensors the stage produces that a later stage or the caller needs.
  std::vector<std::string> outputs;
};

struct Deployment {
  std::string model_name;
  std::string model_version;
  Strategy strategy = Strategy::kData;
  std::vector<StagePartition> stages;
  // Workers per stage: DATA uses every healthy worker; PIPELINE 1; HYBRID R.
  int replicas = 1;
  // Rows per micro-batch in a pipeline; 0: the whole request at once.
  int64_t micro_batch_size = 0;
  // Between pipeline stages (more than one stage only).
  Forwarding forwarding = Forwarding::kRelay;
  // Whether every model input and output has the batch on axis 0, so
  // requests may be cut into shards or micro-batches.
  bool has_batch_axis = false;
  std::vector<std::string> model_inputs;
  std::vector<std::string> model_outputs;
};

}  // namespace tessera::coordinator
