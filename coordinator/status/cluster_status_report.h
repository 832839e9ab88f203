// The snapshot tessera.status.ClusterStatus/GetStatus returns
// (proto/cluster_status.proto): served model versions with their plans, and
// the workers with their health and load, as the coordinator sees them now.
//
// Placement ("which worker holds what") comes from the workers' own reports:
// a stage's workers are those whose last Status lists its partition as
// loaded, so it is as fresh as the last health poll.
//
// Pure functions over snapshots; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "coordinator/pool/worker_pool.h"
#include "coordinator/service/coordinator_backend.h"
#include "proto/cluster_status.pb.h"

namespace tessera::coordinator {

// `models` as CoordinatorBackend::ServedVersions returns them; `workers` the
// pool's current members (WorkerPool::All). DATA plans report as replicas
// the number of healthy workers (every one of them runs the model).
status::GetStatusResponse BuildClusterStatus(const std::vector<CoordinatorBackend::ServedVersion>& models,
                                             const std::vector<WorkerPool::WorkerPtr>& workers,
                                             absl::string_view coordinator_version);

}  // namespace tessera::coordinator
