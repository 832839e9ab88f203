// Runs one piece of a request (an Execute of one stage's partition) on a
// worker. The seam between the request executor (what to run, how to cut and
// merge) and the cluster (where to run it, pushing partitions, retrying):
// ClusterPieceRunner is the real one; tests use fakes.
//
// Thread-safe; `done` is called exactly once.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/scheduler/deployment.h"
#include "proto/worker.pb.h"

namespace tessera::coordinator {

class PieceRunner {
 public:
  using Done = std::function<void(absl::StatusOr<worker::ExecuteResponse>)>;

  virtual ~PieceRunner() = default;

  // Relative capacities of the replicas of `stage` right now, one per
  // replica that can take work (DATA shards are sized by them). Empty when no
  // replica is available.
  virtual std::vector<double> ReplicaWeights(const Deployment& deployment, int stage) = 0;

  // Gets the deployment's partitions onto the workers that will run them,
  // in the background, so that first requests do not wait for the pushes.
  // Best effort: failures show again (and are handled) when pieces run.
  virtual void Prepare(const Deployment& deployment) { (void)deployment; }

  // Runs `request` on stage `stage`: on replica `replica` (an index into the
  // last ReplicaWeights) when it is still available, else on the best one.
  // replica < 0: the best one.
  virtual void Run(const Deployment& deployment, int stage, int replica,
                   std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline, Done done) = 0;

  // DIRECT forwarding: every stage of one micro-batch as one chained Execute
  // (proto/worker.proto, ExecuteRequest.forward). `request` is stage 0's
  // request with one ForwardHop per later stage, complete but for where the
  // hops run: the runner picks each stage's worker (as Run would), makes sure
  // each has its partition, fills ForwardHop.address/tls_server_name and
  // sends the request to stage 0's worker; it may do so more than once. The
  // answer's outputs are request.return_names; its hops the per-stage
  // timings. Failures are returned, not retried (the executor replays the
  // piece by RELAY); a downstream NOT_FOUND marks that hop's partition as
  // not loaded first. Default: UNIMPLEMENTED (the executor relays).
  virtual void RunChain(const Deployment& deployment, std::shared_ptr<worker::ExecuteRequest> request,
                        absl::Time deadline, Done done) {
    (void)deployment;
    (void)request;
    (void)deadline;
    done(absl::UnimplementedError("this piece runner cannot chain stages"));
  }
};

}  // namespace tessera::coordinator
