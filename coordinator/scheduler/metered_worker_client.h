// A WorkerClient that counts the coordinator's traffic with one worker and
// passes every call on to the client it wraps (a GrpcWorkerClient in
// production): the serialized bytes of ExecuteRequests sent and of the
// ExecuteResponses received, and the partitions pushed with their ONNX
// bytes (completed LoadPartitions that were not already loaded). The
// coordinator wraps its worker client factory in it (WrapWithMetrics).
//
// Thread-safe, as the wrapped client is. `metrics` pointers are borrowed
// and must outlive the client; null ones record nothing.
#pragma once

#include <memory>
#include <string>

#include "coordinator/pool/worker_client.h"
#include "coordinator/pool/worker_pool.h"
#include "coordinator/scheduler/scheduler_metrics.h"

namespace tessera::coordinator {

class MeteredWorkerClient final : public WorkerClient {
 public:
  MeteredWorkerClient(std::unique_ptr<WorkerClient> client, ClusterMetrics metrics)
      : client_(std::move(client)), metrics_(metrics) {}

  const std::string& address() const override { return client_->address(); }
  void LoadPartition(const worker::PartitionHeader& header, std::shared_ptr<const std::string> onnx_bytes,
                     absl::Time deadline, Callback<worker::LoadPartitionResponse> done) override;
  void Execute(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
               Callback<worker::ExecuteResponse> done) override;
  void ExecuteCancellable(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                          std::shared_ptr<CallCanceller> canceller, Callback<worker::ExecuteResponse> done) override;
  void Status(absl::Time deadline, Callback<worker::StatusResponse> done) override;
  void Unload(const std::string& partition_id, absl::Time deadline, Callback<worker::UnloadResponse> done) override;
  void Profile(const worker::ProfileRequest& request, absl::Time deadline,
               Callback<worker::ProfileResponse> done) override;

 private:
  const std::unique_ptr<WorkerClient> client_;
  const ClusterMetrics metrics_;
};

// A factory whose clients are `factory`'s wrapped in MeteredWorkerClient.
WorkerClientFactory WrapWithMetrics(WorkerClientFactory factory, ClusterMetrics metrics);

}  // namespace tessera::coordinator
