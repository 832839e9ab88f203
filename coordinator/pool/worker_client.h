// One worker as the coordinator sees it: the tessera.worker.Worker RPCs
// (proto/worker.proto), asynchronous, with deadlines. The seam between the
// coordinator's logic and the network: GrpcWorkerClient talks to a real
// worker over (m)TLS gRPC; tests use fakes.
//
// Every method returns at once; `done` is called exactly once, on a gRPC or
// internal thread, with the worker's answer or the failure as a Status
// (UNAVAILABLE / DEADLINE_EXCEEDED for transport problems, the worker's own
// codes otherwise: NOT_FOUND = partition not loaded, see worker.proto).
//
// Implementations are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "coordinator/pool/call_canceller.h"
#include "proto/worker.pb.h"

namespace tessera::coordinator {

class WorkerClient {
 public:
  template <typename T>
  using Callback = std::function<void(absl::StatusOr<T>)>;

  virtual ~WorkerClient() = default;

  // host:port this client talks to.
  virtual const std::string& address() const = 0;

  // Streams `onnx_bytes` under `header` (partition_id and total_bytes set by
  // the caller) in chunks below gRPC's message limit.
  virtual void LoadPartition(const worker::PartitionHeader& header, std::shared_ptr<const std::string> onnx_bytes,
                             absl::Time deadline, Callback<worker::LoadPartitionResponse> done) = 0;

  // `request` must stay alive until `done` runs (shared ownership).
  // `deadline` is the call's (gRPC's relative timeout on the wire); the
  // caller also puts it in request->deadline_unix_us (worker.proto: the
  // absolute deadline a worker that reads the call late still honours).
  // The client sends the request as it is (no copy to add the field); the
  // scheduler's RequestExecutor sets it on every piece it builds.
  virtual void Execute(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                       Callback<worker::ExecuteResponse> done) = 0;

  // Execute that `canceller` (may be null) can cancel while it runs: the
  // call ends with CANCELLED (unless answered first) and the worker sees it
  // cancelled. The scheduler cancels the calls of pieces it gave up (a hung
  // worker's) instead of leaving them open until their deadlines. The
  // default cannot cancel: it is plain Execute.
  virtual void ExecuteCancellable(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                                  std::shared_ptr<CallCanceller> canceller, Callback<worker::ExecuteResponse> done) {
    (void)canceller;
    Execute(std::move(request), deadline, std::move(done));
  }

  virtual void Status(absl::Time deadline, Callback<worker::StatusResponse> done) = 0;

  virtual void Unload(const std::string& partition_id, absl::Time deadline,
                      Callback<worker::UnloadResponse> done) = 0;

  // Per-node traced times of a loaded partition on this worker (NOT_FOUND
  // when it is not loaded). The default answers UNIMPLEMENTED on the
  // caller's thread, for clients that do not profile.
  virtual void Profile(const worker::ProfileRequest& request, absl::Time deadline,
                       Callback<worker::ProfileResponse> done) {
    (void)request;
    (void)deadline;
    done(absl::UnimplementedError(absl::StrCat("worker client for ", address(), " cannot profile")));
  }
};

}  // namespace tessera::coordinator
