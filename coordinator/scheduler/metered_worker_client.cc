#include "coordinator/scheduler/metered_worker_client.h"

#include <utility>

namespace tessera::coordinator {
namespace {

void Add(prometheus::Counter* counter, double amount) {
  if (counter != nullptr) counter->Increment(amount);
}

}  // namespace

void MeteredWorkerClient::LoadPartition(const worker::PartitionHeader& header,
                                        std::shared_ptr<const std::string> onnx_bytes, absl::Time deadline,
                                        Callback<worker::LoadPartitionResponse> done) {
  const double bytes = onnx_bytes != nullptr ? static_cast<double>(onnx_bytes->size()) : 0;
  client_->LoadPartition(header, std::move(onnx_bytes), deadline,
                         [metrics = metrics_, bytes, done = std::move(done)](
                             absl::StatusOr<worker::LoadPartitionResponse> response) {
                           if (response.ok() && !response->already_loaded()) {
                             Add(metrics.partitions_pushed, 1);
                             Add(metrics.partition_bytes_sent, bytes);
                           }
                           done(std::move(response));
                         });
}

void MeteredWorkerClient::Execute(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                                  Callback<worker::ExecuteResponse> done) {
  ExecuteCancellable(std::move(request), deadline, nullptr, std::move(done));
}

void MeteredWorkerClient::ExecuteCancellable(std::shared_ptr<const worker::ExecuteRequest> request,
                                             absl::Time deadline, std::shared_ptr<CallCanceller> canceller,
                                             Callback<worker::ExecuteResponse> done) {
  Add(metrics_.execute_bytes_sent, static_cast<double>(request->ByteSizeLong()));
  client_->ExecuteCancellable(
      std::move(request), deadline, std::move(canceller),
      [metrics = metrics_, done = std::move(done)](absl::StatusOr<worker::ExecuteResponse> response) {
        if (response.ok()) Add(metrics.execute_bytes_received, static_cast<double>(response->ByteSizeLong()));
        done(std::move(response));
      });
}

void MeteredWorkerClient::Status(absl::Time deadline, Callback<worker::StatusResponse> done) {
  client_->Status(deadline, std::move(done));
}

void MeteredWorkerClient::Unload(const std::string& partition_id, absl::Time deadline,
                                 Callback<worker::UnloadResponse> done) {
  client_->Unload(partition_id, deadline, std::move(done));
}

void MeteredWorkerClient::Profile(const worker::ProfileRequest& request, absl::Time deadline,
                                  Callback<worker::ProfileResponse> done) {
  client_->Profile(request, deadline, std::move(done));
}

WorkerClientFactory WrapWithMetrics(WorkerClientFactory factory, ClusterMetrics metrics) {
  return [factory = std::move(factory), metrics](const WorkerEndpoint& endpoint)
             -> absl::StatusOr<std::unique_ptr<WorkerClient>> {
    absl::StatusOr<std::unique_ptr<WorkerClient>> client = factory(endpoint);
    if (!client.ok()) return client.status();
    return std::make_unique<MeteredWorkerClient>(*std::move(client), metrics);
  };
}

}  // namespace tessera::coordinator
