// A PieceRunner for coordinator tests: runs each partition on an in-process
// engine (loaded on first use from the deployment's bytes), every call on its
// own thread as a worker would answer asynchronously. Records the calls and
// can fail a chosen stage.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/wire_tensor.h"
#include "coordinator/scheduler/piece_runner.h"
#include "worker/engine/engine.h"

namespace tessera::coordinator::testing {

class LocalPieceRunner : public PieceRunner {
 public:
  struct Call {
    int stage = 0;
    int replica = 0;
    int64_t rows = 0;
  };

  // `weights` when set, else one equal weight per replica of the deployment.
  std::vector<double> ReplicaWeights(const Deployment& deployment, int) override {
    if (weights.has_value()) return *weights;
    return std::vector<double>(std::max(deployment.replicas, 1), 1.0);
  }

  void Run(const Deployment& deployment, int stage, int replica, std::shared_ptr<const worker::ExecuteRequest> request,
           absl::Time, Done done) override {
    const StagePartition& partition = deployment.stages[stage];
    absl::MutexLock lock(&mu);
    calls.push_back({stage, replica, request->inputs_size() > 0 && request->inputs(0).shape_size() > 0
                                         ? request->inputs(0).shape(0)
                                         : -1});
    if (!engines_.contains(partition.id)) {
      auto engine = engine::Engine::LoadFromBytes(*partition.onnx_bytes);
      if (!engine.ok()) return done(engine.status());
      engines_[partition.id] = *std::move(engine);
    }
    const engine::Engine* e = engines_[partition.id].get();
    threads_.emplace_back([this, e, stage, request, done] {
      if (stage == fail_stage) return done(absl::UnavailableError("worker 127.0.0.1:1 is gone"));
      std::vector<engine::NamedTensor> inputs;
      for (const auto& wire : request->inputs()) {
        absl::StatusOr<Tensor> t = TensorFromWire(wire);
        if (!t.ok()) return done(t.status());
        inputs.push_back({wire.name(), *std::move(t)});
      }
      absl::StatusOr<std::vector<Tensor>> out = e->Run(inputs);
      if (!out.ok()) return done(out.status());
      worker::ExecuteResponse response;
      for (const std::string& name : request->output_names()) {
        size_t i = 0;
        while (i < e->outputs().size() && e->outputs()[i].name != name) ++i;
        if (i == e->outputs().size()) return done(absl::InvalidArgumentError("no output " + name));
        TensorToWire(name, (*out)[i], response.add_outputs());
      }
      done(std::move(response));
    });
  }

  // Joins every thread, including ones started by callbacks meanwhile.
  ~LocalPieceRunner() override {
    for (size_t joined = 0;; ++joined) {
      std::thread t;
      {
        absl::MutexLock lock(&mu);
        if (joined == threads_.size()) return;
        t = std::move(threads_[joined]);
      }
      t.join();
    }
  }

  std::optional<std::vector<double>> weights;  // unset: one equal weight per replica
  int fail_stage = -1;
  absl::Mutex mu;
  std::vector<Call> calls ABSL_GUARDED_BY(mu);

 private:
  std::map<std::string, std::unique_ptr<engine::Engine>> engines_ ABSL_GUARDED_BY(mu);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu);
};

}  // namespace tessera::coordinator::testing
