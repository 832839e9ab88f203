#include "coordinator/scheduler/request_executor.h"

#include <algorithm>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/wire_tensor.h"
#include "coordinator/scheduler/batch_split.h"

namespace tessera::coordinator {
namespace {

using TensorMap = absl::flat_hash_map<std::string, Tensor>;

// Everything one request's pieces share. A piece is a DATA shard or a
// pipeline micro-batch; it ends with the model outputs for its rows.
class RequestState : public std::enable_shared_from_this<RequestState> {
 public:
  RequestState(std::shared_ptr<const Deployment> deployment, PieceRunner* runner,
               std::shared_ptr<const DeploymentMetrics> metrics, std::shared_ptr<StageStatisticsRecorder> stage_stats,
               absl::Time deadline, std::string request_id, RequestExecutor::Done done, int pieces)
      : deployment_(std::move(deployment)),
        runner_(runner),
        metrics_(std::move(metrics)),
        stage_stats_(std::move(stage_stats)),
        deadline_(deadline),
        request_id_(std::move(request_id)),
        done_(std::move(done)),
        pending_(pieces),
        outputs_(pieces) {}

  // Runs stage `stage` of piece `piece` (on replica `replica`, -1: any),
  // then the following stages.
  void RunStage(int piece, int stage, int replica, std::shared_ptr<TensorMap> values) {
    const Deployment& d = *deployment_;
    const StagePartition& partition = d.stages[stage];
    auto request = std::make_shared<worker::ExecuteRequest>();
    request->set_partition_id(partition.id);
    request->set_request_id(request_id_);
    request->set_piece_id(PieceId(piece, stage));
    SetAbsoluteDeadline(request.get());
    uint64_t bytes_sent = 0;
    for (const std::string& name : partition.inputs) {
      auto it = values->find(name);
      if (it == values->end()) {
        return Fail(absl::InternalError(absl::StrCat("stage ", stage, " of ", d.model_name, " needs tensor '", name,
                                                     "', which no earlier stage produced")));
      }
      bytes_sent += it->second.byte_size();
      if (!NeededAfter(stage, name)) {
        // Its last use: the bytes move into the request when nothing else
        // holds them (kept there for replays), else they are copied.
        Tensor last = std::move(it->second);
        values->erase(it);
        TensorToWire(name, std::move(last), request->add_inputs());
        continue;
      }
      TensorToWire(name, it->second, request->add_inputs());
    }
    for (const std::string& name : partition.outputs) request->add_output_names(name);
    const absl::Time dispatched = absl::Now();
    runner_->Run(d, stage, replica, std::move(request), deadline_,
                 [self = shared_from_this(), piece, stage, values, dispatched,
                  bytes_sent](absl::StatusOr<worker::ExecuteResponse> response) {
                   self->StageDone(piece, stage, values, absl::Now() - dispatched, bytes_sent, std::move(response));
                 });
  }

  // DIRECT: every stage of piece `piece` as one chained Execute (worker to
  // worker); replayed by RELAY (RunStage from stage 0) when it fails.
  void RunChain(int piece, std::shared_ptr<TensorMap> values) {
    const Deployment& d = *deployment_;
    const StagePartition& first = d.stages[0];
    auto request = std::make_shared<worker::ExecuteRequest>();
    request->set_partition_id(first.id);
    request->set_request_id(request_id_);
    request->set_piece_id(PieceId(piece, 0));
    SetAbsoluteDeadline(request.get());
    for (const std::string& name : first.inputs) {
      auto it = values->find(name);
      if (it == values->end()) {
        return Fail(absl::InternalError(absl::StrCat("stage 0 of ", d.model_name, " needs tensor '", name,
                                                     "', which is not a model input")));
      }
      // The worker keeps what later stages also need.
      TensorToWire(name, std::move(it->second), request->add_inputs());
      values->erase(it);
    }
    for (const std::string& name : first.outputs) request->add_output_names(name);
    for (size_t s = 1; s < d.stages.size(); ++s) {
      const StagePartition& stage = d.stages[s];
      worker::ForwardHop* hop = request->add_forward();
      hop->set_partition_id(stage.id);
      hop->set_piece_id(PieceId(piece, static_cast<int>(s)));
      hop->set_stage(static_cast<uint32_t>(s));
      for (const std::string& name : stage.inputs) hop->add_input_names(name);
      for (const std::string& name : stage.outputs) hop->add_output_names(name);
    }
    for (const std::string& name : d.model_outputs) request->add_return_names(name);
    // Model inputs stage 0 does not read but a later stage (or the answer) does.
    for (const std::string& name : d.model_inputs) {
      auto it = values->find(name);
      if (it == values->end() || !NeededAfter(0, name)) continue;
      TensorToWire(name, std::move(it->second), request->add_carried());
      values->erase(it);
    }
    const absl::Time dispatched = absl::Now();
    runner_->RunChain(d, request, deadline_,
                      [self = shared_from_this(), piece, request,
                       dispatched](absl::StatusOr<worker::ExecuteResponse> response) {
                        self->ChainDone(piece, *request, absl::Now() - dispatched, std::move(response));
                      });
  }

  // The request's deadline as the piece's absolute one (worker.proto: a
  // worker that reads the call late still knows when it ends).
  void SetAbsoluteDeadline(worker::ExecuteRequest* request) const {
    if (deadline_ != absl::InfiniteFuture()) request->set_deadline_unix_us(absl::ToUnixMicros(deadline_));
  }

  static uint64_t PieceId(int piece, int stage) {
    return (static_cast<uint64_t>(piece) << 16) | static_cast<uint64_t>(stage);
  }

  // Whether a stage after `stage`, or the model's outputs, read `name`.
  bool NeededAfter(int stage, const std::string& name) const {
    const Deployment& d = *deployment_;
    for (size_t s = stage + 1; s < d.stages.size(); ++s) {
      for (const std::string& input : d.stages[s].inputs) {
        if (input == name) return true;
      }
    }
    for (const std::string& output : d.model_outputs) {
      if (output == name) return true;
    }
    return false;
  }

  void Fail(absl::Status status) {
    RequestExecutor::Done done;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
      done = std::move(done_);
    }
    done(std::move(status));
  }

 private:
  // `dispatch`: the piece's round trip through the runner; `bytes_sent`:
  // the tensor bytes it carried.
  void StageDone(int piece, int stage, const std::shared_ptr<TensorMap>& values, absl::Duration dispatch,
                 uint64_t bytes_sent, absl::StatusOr<worker::ExecuteResponse> response) {
    const Deployment& d = *deployment_;
    if (!response.ok()) {
      const absl::Status& s = response.status();
      return Fail(d.stages.size() > 1 ? absl::Status(s.code(), absl::StrCat("stage ", stage + 1, " of ",
                                                                          d.stages.size(), ": ", s.message()))
                                      : s);
    }
    if (metrics_ != nullptr && stage < static_cast<int>(metrics_->stages.size())) {
      const StageMetrics& m = metrics_->stages[stage];
      if (m.compute_seconds != nullptr) m.compute_seconds->Observe(response->compute_time_us() * 1e-6);
      if (m.queue_seconds != nullptr) m.queue_seconds->Observe(response->queue_time_us() * 1e-6);
    }
    uint64_t bytes_received = 0;
    for (worker::Tensor& wire : *response->mutable_outputs()) {
      absl::StatusOr<Tensor> tensor = TensorFromWire(&wire);  // moves the bytes
      if (!tensor.ok()) {
        return Fail(absl::InternalError(absl::StrCat("a worker returned a malformed tensor: ",
                                                     tensor.status().message())));
      }
      bytes_received += tensor->byte_size();
      (*values)[wire.name()] = *std::move(tensor);
    }
    if (stage_stats_ != nullptr) {
      stage_stats_->RecordPiece(stage, dispatch, response->queue_time_us(), response->compute_time_us(), bytes_sent,
                                bytes_received, response->boot_id());
    }
    if (stage + 1 < static_cast<int>(d.stages.size())) return RunStage(piece, stage + 1, -1, values);
    std::vector<Tensor> outputs;
    outputs.reserve(d.model_outputs.size());
    for (const std::string& name : d.model_outputs) {
      auto it = values->find(name);
      if (it == values->end()) {
        return Fail(absl::InternalError(absl::StrCat("model output '", name, "' was not produced")));
      }
      outputs.push_back(std::move(it->second));  // the piece is done with its values
    }
    PieceDone(piece, std::move(outputs));
  }

  void ChainDone(int piece, const worker::ExecuteRequest& request, absl::Duration dispatch,
                 absl::StatusOr<worker::ExecuteResponse> response) {
    const Deployment& d = *deployment_;
    const int stages = static_cast<int>(d.stages.size());
    if (!response.ok()) {
      const absl::Status& s = response.status();
      if (s.code() != absl::StatusCode::kInvalidArgument && absl::Now() < deadline_) return Replay(piece, request);
      return Fail(absl::Status(s.code(), absl::StrCat("stages 1-", stages, " (direct): ", s.message())));
    }
    // A worker that does not know chained Executes (an older version) ran
    // stage 0 alone and reported no hops: relay instead.
    if (response->hops_size() != stages) return Replay(piece, request);
    if (response->outputs_size() != static_cast<int>(d.model_outputs.size())) {
      return Fail(absl::InternalError(absl::StrCat("a chained piece returned ", response->outputs_size(),
                                                   " tensors for ", d.model_outputs.size(), " model outputs")));
    }
    // Per-stage figures: stage s's own share of the round trip is its
    // caller's round trip minus its own downstream call.
    {
      uint64_t upstream_us = static_cast<uint64_t>(std::max<int64_t>(absl::ToInt64Microseconds(dispatch), 0));
      for (int s = 0; s < stages; ++s) {
        const worker::HopTiming& hop = response->hops(s);
        if (metrics_ != nullptr && s < static_cast<int>(metrics_->stages.size())) {
          const StageMetrics& m = metrics_->stages[s];
          if (m.compute_seconds != nullptr) m.compute_seconds->Observe(hop.compute_time_us() * 1e-6);
          if (m.queue_seconds != nullptr) m.queue_seconds->Observe(hop.queue_time_us() * 1e-6);
        }
        const uint64_t own_us = upstream_us > hop.downstream_time_us() ? upstream_us - hop.downstream_time_us() : 0;
        if (stage_stats_ != nullptr) {
          stage_stats_->RecordPiece(s, absl::Microseconds(static_cast<int64_t>(own_us)), hop.queue_time_us(),
                                    hop.compute_time_us(), hop.bytes_received(), hop.bytes_returned(),
                                    hop.boot_id());
        }
        upstream_us = hop.downstream_time_us();
      }
    }
    std::vector<Tensor> outputs;
    outputs.reserve(d.model_outputs.size());
    for (int o = 0; o < response->outputs_size(); ++o) {
      worker::Tensor& wire = *response->mutable_outputs(o);
      if (wire.name() != d.model_outputs[o]) {
        return Fail(absl::InternalError(absl::StrCat("a chained piece returned '", wire.name(), "' where '",
                                                     d.model_outputs[o], "' was expected")));
      }
      absl::StatusOr<Tensor> tensor = TensorFromWire(&wire);  // moves the bytes
      if (!tensor.ok()) {
        return Fail(absl::InternalError(absl::StrCat("a worker returned a malformed tensor: ",
                                                     tensor.status().message())));
      }
      outputs.push_back(*std::move(tensor));
    }
    PieceDone(piece, std::move(outputs));
  }

  // Runs a failed chained piece again from stage 0, through the
  // coordinator (RELAY): the relay path retries, pushes partitions and
  // avoids failed workers stage by stage.
  void Replay(int piece, const worker::ExecuteRequest& request) {
    auto values = std::make_shared<TensorMap>();
    for (const auto* list : {&request.inputs(), &request.carried()}) {
      for (const worker::Tensor& wire : *list) {
        absl::StatusOr<Tensor> tensor = TensorFromWire(wire);
        if (!tensor.ok()) return Fail(tensor.status());
        (*values)[wire.name()] = *std::move(tensor);
      }
    }
    RunStage(piece, 0, -1, std::move(values));
  }

  void PieceDone(int piece, std::vector<Tensor> outputs) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      outputs_[piece] = std::move(outputs);
      if (--pending_ > 0) return;
    }
    // Every piece is in: merge in piece order.
    const Deployment& d = *deployment_;
    std::vector<NamedTensor> result;
    for (size_t o = 0; o < d.model_outputs.size(); ++o) {
      std::vector<Tensor> parts;
      for (auto& piece_outputs : outputs_) {
        if (!piece_outputs.empty()) parts.push_back(std::move(piece_outputs[o]));
      }
      absl::StatusOr<Tensor> merged = ConcatRows(parts);
      if (!merged.ok()) {
        return Fail(absl::InternalError(absl::StrCat("cannot merge output '", d.model_outputs[o],
                                                     "': ", merged.status().message())));
      }
      result.push_back({d.model_outputs[o], *std::move(merged)});
    }
    RequestExecutor::Done done;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
      done = std::move(done_);
    }
    done(std::move(result));
  }

  const std::shared_ptr<const Deployment> deployment_;
  PieceRunner* const runner_;
  const std::shared_ptr<const DeploymentMetrics> metrics_;
  const std::shared_ptr<StageStatisticsRecorder> stage_stats_;
  const absl::Time deadline_;
  const std::string request_id_;
  absl::Mutex mu_;
  RequestExecutor::Done done_ ABSL_GUARDED_BY(mu_);
  int pending_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Written under mu_; read without it once pending_ reached 0.
  std::vector<std::vector<Tensor>> outputs_;
};

}  // namespace

void RequestExecutor::Infer(std::vector<NamedTensor> inputs, absl::Time deadline, const std::string& request_id,
                            Done done) const {
  const Deployment& d = *deployment_;
  if (d.stages.empty()) return done(absl::FailedPreconditionError(absl::StrCat(d.model_name, " has no partitions")));
  // Rows of the batch, when the request may be cut.
  int64_t rows = -1;
  if (d.has_batch_axis && !inputs.empty()) {
    rows = inputs[0].tensor.rank() > 0 ? inputs[0].tensor.dim(0) : -1;
    for (const NamedTensor& input : inputs) {
      if (input.tensor.rank() == 0 || input.tensor.dim(0) != rows) {
        return done(absl::InvalidArgumentError(absl::StrCat("inputs disagree on the batch size: '", inputs[0].name,
                                                            "' has ", rows, " rows, '", input.name, "' ",
                                                            ShapeToString(input.tensor.shape()))));
      }
    }
  }
  // Piece sizes in rows and the replica each piece should go to.
  std::vector<int64_t> sizes;
  std::vector<int> replicas;
  if (rows <= 0) {
    sizes = {rows};
    replicas = {-1};
  } else if (d.strategy == Strategy::kData) {
    const std::vector<double> weights = runner_->ReplicaWeights(d, 0);
    if (weights.empty()) {
      return done(absl::UnavailableError(absl::StrCat("no worker is available for ", d.model_name)));
    }
    const std::vector<int64_t> split = ProportionalSplit(rows, weights);
    for (size_t r = 0; r < split.size(); ++r) {
      if (split[r] == 0) continue;
      sizes.push_back(split[r]);
      replicas.push_back(static_cast<int>(r));
    }
  } else {
    sizes = FixedSplit(rows, d.micro_batch_size);
    replicas.assign(sizes.size(), -1);
  }

  auto state = std::make_shared<RequestState>(deployment_, runner_, metrics_, stage_stats_, deadline, request_id,
                                              std::move(done), static_cast<int>(sizes.size()));
  const bool direct = d.forwarding == Forwarding::kDirect && d.strategy != Strategy::kData && d.stages.size() > 1;
  int64_t begin = 0;
  for (size_t p = 0; p < sizes.size(); ++p) {
    auto values = std::make_shared<TensorMap>();
    for (NamedTensor& input : inputs) {
      if (rows <= 0 || sizes.size() == 1) {
        (*values)[input.name] = std::move(input.tensor);  // one piece: the whole tensor, its bytes not copied
        continue;
      }
      absl::StatusOr<Tensor> slice = SliceRows(input.tensor, begin, sizes[p]);
      if (!slice.ok()) return state->Fail(slice.status());
      (*values)[input.name] = *std::move(slice);
    }
    begin += std::max<int64_t>(sizes[p], 0);
    if (direct) {
      state->RunChain(static_cast<int>(p), std::move(values));
    } else {
      state->RunStage(static_cast<int>(p), 0, replicas[p], std::move(values));
    }
  }
}

const char* ForwardingName(Forwarding forwarding) {
  return forwarding == Forwarding::kDirect ? "DIRECT" : "RELAY";
}

absl::StatusOr<Forwarding> ParseForwarding(absl::string_view text) {
  if (absl::EqualsIgnoreCase(text, "relay")) return Forwarding::kRelay;
  if (absl::EqualsIgnoreCase(text, "direct")) return Forwarding::kDirect;
  return absl::InvalidArgumentError(absl::StrCat("stage forwarding '", text, "' is neither relay nor direct"));
}

const char* StrategyName(Strategy strategy) {
  switch (strategy) {
    case Strategy::kData: return "DATA";
    case Strategy::kPipeline: return "PIPELINE";
    case Strategy::kHybrid: return "HYBRID";
  }
  return "?";
}

}  // namespace tessera::coordinator
