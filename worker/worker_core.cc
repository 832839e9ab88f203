#include "worker/worker_core.h"

#include <algorithm>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/wire_tensor.h"

namespace tessera::worker {
namespace {

constexpr absl::Duration kThroughputWindow = absl::Seconds(10);

std::string RandomBootId() {
  absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

constexpr char kForwardFailurePrefix[] = "forwarding to stage ";

uint64_t Micros(absl::Duration d) { return static_cast<uint64_t>(absl::ToInt64Microseconds(d)); }

// ExecuteRequest.deadline_unix_us as a time; none (0 or negative): never.
absl::Time AbsoluteDeadline(const ExecuteRequest& request) {
  if (request.deadline_unix_us() <= 0) return absl::InfiniteFuture();
  return absl::FromUnixMicros(request.deadline_unix_us());
}

}  // namespace

WorkerCore::WorkerCore(const Options& options)
    : options_(options),
      boot_id_(RandomBootId()),
      started_(absl::Now()),
      owned_metrics_(options.metrics == nullptr ? std::make_unique<WorkerMetrics>() : nullptr),
      metrics_(options.metrics != nullptr ? options.metrics : owned_metrics_.get()),
      cache_(options.memory_budget_bytes, metrics_),
      pool_(ExecutionPool::Options{.slots = options.max_concurrent_executes, .queue_limit = options.queue_limit}) {}

absl::Status WorkerCore::BeginLoad(const PartitionHeader& header, LoadPartitionResponse* already_loaded, bool* done) {
  *done = false;
  if (absl::Status valid = PartitionUpload::ValidateHeader(header); !valid.ok()) return valid;
  if (std::shared_ptr<const LoadedPartition> cached = cache_.Find(header.partition_id())) {
    already_loaded->set_partition_id(cached->id());
    already_loaded->set_already_loaded(true);
    already_loaded->set_model_bytes(cached->model_bytes());
    already_loaded->set_memory_bytes(cached->memory_bytes());
    *done = true;
    return absl::OkStatus();
  }
  return cache_.CheckFits(header.total_bytes());
}

void WorkerCore::FinishLoad(PartitionUpload upload, LoadPartitionResponse* response,
                            std::function<void(absl::Status)> done) {
  auto task = [this, upload = std::make_shared<PartitionUpload>(std::move(upload)), response, done]() mutable {
    const absl::Time start = absl::Now();
    const PartitionHeader header = upload->header();
    absl::StatusOr<std::string> bytes = std::move(*upload).Finish();
    if (!bytes.ok()) return done(bytes.status());
    engine::EngineOptions engine_options;
    engine_options.intra_op_threads =
        header.intra_op_threads() > 0 ? static_cast<int>(header.intra_op_threads()) : options_.intra_op_threads;
    absl::StatusOr<std::unique_ptr<engine::Engine>> engine = engine::Engine::LoadFromBytes(*bytes, engine_options);
    if (!engine.ok()) {
      return done(absl::Status(engine.status().code(), absl::StrCat("partition ", header.partition_id(), ": ",
                                                                    engine.status().message())));
    }
    const uint64_t model_bytes = bytes->size();
    auto partition = std::make_shared<const LoadedPartition>(header, *std::move(engine), model_bytes, absl::Now());
    if (absl::Status inserted = cache_.Insert(partition); !inserted.ok()) return done(inserted);
    response->set_partition_id(header.partition_id());
    response->set_already_loaded(false);
    response->set_model_bytes(model_bytes);
    response->set_memory_bytes(partition->memory_bytes());
    response->set_load_time_us(Micros(absl::Now() - start));
    done(absl::OkStatus());
  };
  if (absl::Status submitted = pool_.Submit(std::move(task)); !submitted.ok()) done(submitted);
}

void WorkerCore::Execute(ExecuteRequest* request, ExecuteResponse* response, std::function<bool()> cancelled,
                         absl::Time deadline, std::function<void(absl::Status)> done) {
  metrics_->executes_in_flight().Increment();
  done = [metrics = metrics_, done = std::move(done)](absl::Status status) {
    metrics->executes_in_flight().Decrement();
    metrics->RecordExecute(status);
    done(std::move(status));
  };
  response->set_boot_id(boot_id_);
  const bool chained = request->forward_size() > 0 || request->return_names_size() > 0;
  if (chained && request->forward_size() > 0 && options_.peers == nullptr) {
    done(absl::FailedPreconditionError("this worker cannot forward to other workers (no peer client)"));
    return;
  }
  // The earlier of the call's deadline and the request's absolute one (a
  // stopped worker reads a call's relative timeout late; worker.proto).
  const absl::Time absolute = AbsoluteDeadline(*request);
  deadline = std::min(deadline, absolute);
  if (const absl::Time now = absl::Now(); now >= deadline) {
    done(absl::DeadlineExceededError(absl::StrCat("the piece's deadline passed ", absl::FormatDuration(now - deadline),
                                                  " before this worker read it; not run")));
    return;
  }
  std::shared_ptr<const LoadedPartition> partition = cache_.Find(request->partition_id());
  if (partition == nullptr) {
    done(absl::NotFoundError(absl::StrCat("partition ", request->partition_id(), " is not loaded on this worker")));
    return;
  }
  const absl::Time queued = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    ++executes_queued_;
  }
  auto task = [this, partition, request, response, cancelled = std::move(cancelled), queued, chained, deadline,
               done]() mutable {
    const absl::Time start = absl::Now();
    {
      absl::MutexLock lock(&mu_);
      --executes_queued_;
      ++executes_running_;
    }
    auto release_slot = [this] {
      absl::MutexLock lock(&mu_);
      --executes_running_;
    };
    // Past its deadline while queued: dropped without running (the caller
    // has given up on it, or replayed it elsewhere).
    if (start >= deadline) {
      release_slot();
      return done(absl::DeadlineExceededError(absl::StrCat(
          "the piece passed its deadline after ", absl::FormatDuration(start - queued), " in the queue; not run")));
    }
    if (cancelled && cancelled()) {
      release_slot();
      return done(absl::CancelledError("the request was cancelled or passed its deadline while queued"));
    }
    // A chained request: inputs a later hop or the answer also needs are
    // copied before the engine takes the request's bytes.
    std::vector<Tensor> kept;
    uint64_t bytes_received = 0;
    if (chained) {
      absl::flat_hash_set<std::string> later(request->return_names().begin(), request->return_names().end());
      for (const ForwardHop& hop : request->forward()) later.insert(hop.input_names().begin(), hop.input_names().end());
      for (const Tensor& input : request->inputs()) {
        bytes_received += input.content().size();
        if (later.contains(input.name())) kept.push_back(input);
      }
      for (const Tensor& carried : request->carried()) bytes_received += carried.content().size();
    }
    absl::Status status = RunPiece(*partition, request, response);
    const absl::Time end = absl::Now();
    response->set_request_id(request->request_id());
    response->set_piece_id(request->piece_id());
    response->set_queue_time_us(Micros(start - queued));
    response->set_compute_time_us(Micros(end - start));
    int64_t samples = 1;
    if (!request->inputs().empty() && request->inputs(0).shape_size() > 0) samples = request->inputs(0).shape(0);
    partition->RecordExecute(end, end - start);
    metrics_->RecordExecuteTimes(absl::ToDoubleSeconds(start - queued), absl::ToDoubleSeconds(end - start));
    RecordThroughput(end, samples, end - start, status.ok());
    release_slot();
    if (!status.ok() || !chained) return done(std::move(status));
    ContinueChain(request, response, std::move(kept), bytes_received, deadline, std::move(done));
  };
  if (absl::Status submitted = pool_.Submit(std::move(task)); !submitted.ok()) {
    {
      absl::MutexLock lock(&mu_);
      --executes_queued_;
    }
    done(submitted);
  }
}

void WorkerCore::ContinueChain(ExecuteRequest* request, ExecuteResponse* response, std::vector<Tensor> kept,
                               uint64_t bytes_received, absl::Time deadline, std::function<void(absl::Status)> done) {
  // Everything this hop holds, by name: kept inputs, carried, outputs.
  absl::flat_hash_map<std::string, Tensor> held;
  for (Tensor& t : kept) held[t.name()] = std::move(t);
  for (Tensor& t : *request->mutable_carried()) held[t.name()] = std::move(t);
  for (Tensor& t : *response->mutable_outputs()) held[t.name()] = std::move(t);
  response->clear_outputs();
  HopTiming own;
  own.set_queue_time_us(response->queue_time_us());
  own.set_compute_time_us(response->compute_time_us());
  own.set_boot_id(boot_id_);
  own.set_bytes_received(bytes_received);

  if (request->forward_size() == 0) {  // the last hop: answer with return_names
    uint64_t returned = 0;
    for (const std::string& name : request->return_names()) {
      auto it = held.find(name);
      if (it == held.end()) {
        return done(absl::InvalidArgumentError(
            absl::StrCat("chained piece: '", name, "' is to be returned but no hop produced or carried it")));
      }
      returned += it->second.content().size();
      *response->add_outputs() = it->second;  // may be named twice: copied
    }
    own.set_bytes_returned(returned);
    *response->add_hops() = std::move(own);
    return done(absl::OkStatus());
  }

  const ForwardHop& hop = request->forward(0);
  auto next = std::make_shared<ExecuteRequest>();
  next->set_partition_id(hop.partition_id());
  next->set_request_id(request->request_id());
  next->set_piece_id(hop.piece_id());
  next->mutable_output_names()->CopyFrom(hop.output_names());
  next->mutable_forward()->CopyFrom(
      google::protobuf::RepeatedPtrField<ForwardHop>(request->forward().begin() + 1, request->forward().end()));
  next->mutable_return_names()->CopyFrom(request->return_names());
  if (deadline != absl::InfiniteFuture()) next->set_deadline_unix_us(absl::ToUnixMicros(deadline));
  // Names needed after the next hop: carried unless the next hop consumes them.
  std::vector<std::string> later;
  absl::flat_hash_set<std::string> later_set;
  for (int h = 1; h < request->forward_size(); ++h) {
    for (const std::string& name : request->forward(h).input_names()) {
      if (later_set.insert(name).second) later.push_back(name);
    }
  }
  for (const std::string& name : request->return_names()) {
    if (later_set.insert(name).second) later.push_back(name);
  }
  for (const std::string& name : hop.input_names()) {
    auto it = held.find(name);
    if (it == held.end()) {
      return done(absl::InvalidArgumentError(absl::StrCat("chained piece: stage ", hop.stage(), " needs tensor '",
                                                          name, "', which this worker neither received nor produced")));
    }
    if (later_set.contains(name)) {
      *next->add_inputs() = it->second;
    } else {
      *next->add_inputs() = std::move(it->second);
      held.erase(it);
    }
  }
  for (const std::string& name : later) {
    auto it = held.find(name);
    if (it == held.end()) continue;  // a later hop makes it
    *next->add_carried() = std::move(it->second);
    held.erase(it);
  }
  held.clear();
  const std::string address = hop.address();
  const uint32_t stage = hop.stage();
  const absl::Time sent = absl::Now();
  options_.peers->Execute(
      address, hop.tls_server_name(), std::move(next), deadline,
      [response, own = std::move(own), address, stage, sent,
       done = std::move(done)](absl::StatusOr<ExecuteResponse> answer) mutable {
        if (!answer.ok()) {
          const absl::Status& s = answer.status();
          if (absl::StartsWith(s.message(), kForwardFailurePrefix)) return done(s);
          return done(absl::Status(
              s.code(), absl::StrCat(kForwardFailurePrefix, stage, " at ", address, ": ", s.message())));
        }
        own.set_downstream_time_us(Micros(absl::Now() - sent));
        *response->mutable_outputs() = std::move(*answer->mutable_outputs());
        *response->add_hops() = std::move(own);
        for (HopTiming& h : *answer->mutable_hops()) *response->add_hops() = std::move(h);
        done(absl::OkStatus());
      });
}

absl::Status WorkerCore::RunPiece(const LoadedPartition& partition, ExecuteRequest* request,
                                  ExecuteResponse* response) const {
  const engine::Engine& engine = partition.engine();
  std::vector<engine::NamedTensor> inputs;
  inputs.reserve(request->inputs_size());
  absl::flat_hash_set<std::string> seen;
  for (worker::Tensor& wire : *request->mutable_inputs()) {
    if (!seen.insert(wire.name()).second) {
      return absl::InvalidArgumentError(absl::StrCat("input '", wire.name(), "' is given more than once"));
    }
    absl::StatusOr<tessera::Tensor> tensor = TensorFromWire(&wire);
    if (!tensor.ok()) return tensor.status();
    inputs.push_back({wire.name(), *std::move(tensor)});
  }
  absl::StatusOr<std::vector<tessera::Tensor>> outputs = engine.Run(inputs);
  inputs.clear();  // the request's bytes go before the response's are made
  if (!outputs.ok()) return outputs.status();
  const std::vector<engine::TensorInfo>& infos = engine.outputs();
  if (request->output_names().empty()) {
    for (size_t i = 0; i < infos.size(); ++i) {
      TensorToWire(infos[i].name, std::move((*outputs)[i]), response->add_outputs());
    }
    return absl::OkStatus();
  }
  for (const std::string& name : request->output_names()) {
    size_t i = 0;
    while (i < infos.size() && infos[i].name != name) ++i;
    if (i == infos.size()) {
      response->clear_outputs();
      return absl::InvalidArgumentError(absl::StrCat("partition ", partition.id(), " has no output '", name, "'"));
    }
    TensorToWire(name, (*outputs)[i], response->add_outputs());  // may be asked for twice: copied
  }
  return absl::OkStatus();
}

void WorkerCore::Profile(const ProfileRequest& request, ProfileResponse* response,
                         std::function<void(absl::Status)> done) {
  if (request.runs() < 1 || request.runs() > kMaxProfileRuns) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("profile runs must be in 1..", kMaxProfileRuns, ", got ", request.runs())));
  }
  std::shared_ptr<const LoadedPartition> partition = cache_.Find(request.partition_id());
  if (partition == nullptr) {
    return done(
        absl::NotFoundError(absl::StrCat("partition ", request.partition_id(), " is not loaded on this worker")));
  }
  auto task = [partition, request, response, done] {
    const absl::Time start = absl::Now();
    absl::Status status = RunProfile(*partition, request, response);
    response->set_profile_time_us(Micros(absl::Now() - start));
    done(std::move(status));
  };
  if (absl::Status submitted = pool_.Submit(std::move(task)); !submitted.ok()) done(submitted);
}

absl::Status WorkerCore::RunProfile(const LoadedPartition& partition, const ProfileRequest& request,
                                    ProfileResponse* response) {
  constexpr int64_t kMaxSampleBytes = int64_t{1} << 30;
  const int64_t batch = request.batch() > 0 ? request.batch() : 1;
  const int64_t other_dim = request.other_dim() > 0 ? request.other_dim() : 16;
  if (request.batch() < 0 || request.other_dim() < 0) {
    return absl::InvalidArgumentError("profile batch and other_dim must not be negative");
  }
  const engine::Engine& engine = partition.engine();
  absl::flat_hash_map<std::string, const ProfileInputShape*> given;
  for (const ProfileInputShape& shape : request.inputs()) {
    if (!given.emplace(shape.name(), &shape).second) {
      return absl::InvalidArgumentError(absl::StrCat("profile shape of input '", shape.name(), "' is given twice"));
    }
  }
  std::mt19937_64 rng(1);
  std::vector<engine::NamedTensor> inputs;
  int64_t total_bytes = 0;
  for (const engine::TensorInfo& info : engine.inputs()) {
    tessera::Shape shape;
    auto it = given.find(info.name);
    if (it != given.end()) {
      const ProfileInputShape& wanted = *it->second;
      if (wanted.shape_size() != static_cast<int>(info.shape.size())) {
        return absl::InvalidArgumentError(absl::StrCat("profile shape of input '", info.name, "' has rank ",
                                                       wanted.shape_size(), "; the partition declares rank ",
                                                       info.shape.size()));
      }
      for (int d = 0; d < wanted.shape_size(); ++d) {
        const int64_t dim = wanted.shape(d);
        if (dim < 0 || (info.shape[d] >= 0 && info.shape[d] != dim)) {
          return absl::InvalidArgumentError(absl::StrCat("profile shape of input '", info.name, "': dimension ", d,
                                                         " is ", dim, ", the partition declares ", info.shape[d]));
        }
        shape.push_back(dim);
      }
      given.erase(it);
    } else {
      for (size_t d = 0; d < info.shape.size(); ++d) {
        shape.push_back(info.shape[d] >= 0 ? info.shape[d] : (d == 0 ? batch : other_dim));
      }
    }
    if (absl::Status valid = ValidateShape(shape, info.dtype, kMaxSampleBytes); !valid.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("profile input '", info.name, "': ", valid.message()));
    }
    tessera::Tensor t = tessera::Tensor::Zeros(info.dtype, shape);
    total_bytes += static_cast<int64_t>(t.byte_size());
    if (total_bytes > kMaxSampleBytes) {
      return absl::InvalidArgumentError("profile sample inputs exceed 1 GiB together");
    }
    if (info.dtype == DataType::kFloat32) {
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      for (float& v : absl::Span<float>(t.data<float>(), static_cast<size_t>(t.num_elements()))) v = dist(rng);
    } else if (info.dtype == DataType::kFloat64) {
      std::uniform_real_distribution<double> dist(-1.0, 1.0);
      for (double& v : absl::Span<double>(t.data<double>(), static_cast<size_t>(t.num_elements()))) v = dist(rng);
    }
    inputs.push_back({info.name, std::move(t)});
  }
  if (!given.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition ", partition.id(), " has no input '", given.begin()->first, "'"));
  }
  absl::StatusOr<std::vector<engine::NodeTrace>> trace = engine.Trace(inputs, static_cast<int>(request.runs()));
  if (!trace.ok()) return trace.status();
  response->set_partition_id(partition.id());
  double total = 0;
  for (const engine::NodeTrace& node : *trace) {
    NodeTime* time = response->add_nodes();
    time->set_name(node.name);
    time->set_op_type(node.op_type);
    time->set_ms(node.ms);
    total += node.ms;
  }
  response->set_total_ms(total);
  return absl::OkStatus();
}

void WorkerCore::RecordThroughput(absl::Time end, int64_t samples, absl::Duration compute, bool ok) {
  absl::MutexLock lock(&mu_);
  ++executes_total_;
  if (!ok) ++executes_failed_;
  recent_.push_back({end, samples, absl::ToDoubleSeconds(compute)});
  while (!recent_.empty() && recent_.front().end < end - kThroughputWindow) recent_.pop_front();
}

StatusResponse WorkerCore::Status() const {
  StatusResponse status;
  const absl::Time now = absl::Now();
  status.set_version(options_.version);
  status.set_boot_id(boot_id_);
  status.set_uptime_ms(absl::ToInt64Milliseconds(now - started_));
  status.set_cpu_cores(std::thread::hardware_concurrency());
  status.set_intra_op_threads(options_.intra_op_threads > 0 ? options_.intra_op_threads
                                                            : std::thread::hardware_concurrency());
  status.set_max_concurrent_executes(pool_.slots());
  for (const auto& partition : cache_.Snapshot()) partition->FillStatus(status.add_partitions());
  status.set_memory_in_use_bytes(cache_.memory_in_use());
  status.set_memory_budget_bytes(cache_.budget_bytes());
  absl::MutexLock lock(&mu_);
  // Not the pool's counts: the pool also runs partition loads.
  status.set_executes_in_flight(static_cast<uint32_t>(executes_running_));
  status.set_executes_queued(static_cast<uint32_t>(executes_queued_));
  status.set_executes_total(executes_total_);
  status.set_executes_failed(executes_failed_);
  // Rates over the window, or over the uptime while it is shorter.
  const double window = std::max(1e-3, absl::ToDoubleSeconds(std::min(kThroughputWindow, now - started_)));
  int64_t samples = 0, executes = 0;
  double busy = 0;
  for (const Sample& s : recent_) {
    if (s.end < now - kThroughputWindow) continue;
    samples += s.samples;
    ++executes;
    busy += s.compute_seconds;
  }
  status.set_samples_per_second(samples / window);
  status.set_executes_per_second(executes / window);
  status.set_utilization(std::min(1.0, busy / (window * pool_.slots())));
  return status;
}

UnloadResponse WorkerCore::Unload(const UnloadRequest& request) {
  UnloadResponse response;
  const uint64_t freed = cache_.Remove(request.partition_id());
  response.set_was_loaded(freed > 0);
  response.set_freed_bytes(freed);
  return response;
}

}  // namespace tessera::worker
