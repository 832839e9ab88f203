#include "coordinator/pool/fake_worker_client.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/sha256.h"
#include "onnx/onnx_pb.h"
#include "worker/partition_upload.h"

namespace tessera::coordinator {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

std::string NewBootId() {
  absl::BitGen random;
  return absl::StrFormat("fake-%016x%016x", absl::Uniform<uint64_t>(random), absl::Uniform<uint64_t>(random));
}

int64_t SamplesOf(const worker::ExecuteRequest& request) {
  if (request.inputs_size() == 0 || request.inputs(0).shape_size() == 0) return 1;
  return std::max<int64_t>(request.inputs(0).shape(0), 1);
}

}  // namespace

FakeWorkerClient::FakeWorkerClient(const Options& options)
    : options_(options), samples_per_second_(options.samples_per_second) {
  absl::MutexLock lock(&mu_);
  boot_id_ = NewBootId();
  started_ = absl::Now();
  if (options_.engine) core_ = std::make_shared<worker::WorkerCore>(options_.core_options);
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

FakeWorkerClient::~FakeWorkerClient() {
  // Engine work first: the cores finish what they run, and its answers are
  // queued for the dispatcher.
  std::vector<std::shared_ptr<worker::WorkerCore>> cores;
  {
    absl::MutexLock lock(&mu_);
    cores = std::move(retired_cores_);
    cores.push_back(std::move(core_));
  }
  cores.clear();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_changed_.Signal();
  }
  if (std::this_thread::get_id() != dispatcher_.get_id()) {
    dispatcher_.join();
    return;
  }
  // A callback on the dispatch thread dropped the last owner of this fake:
  // answer what is left here, and let the thread end without touching it.
  destroyed_->store(true);
  for (;;) {
    std::function<void(bool)> run;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) break;
      run = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
    }
    run(/*cancelled=*/true);
  }
  dispatcher_.detach();
}

void FakeWorkerClient::DispatchLoop() {
  const std::shared_ptr<std::atomic<bool>> destroyed = destroyed_;
  for (;;) {
    std::function<void(bool)> run;
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) {
          if (queue_.empty()) return;
          cancelled = true;
          break;
        }
        if (!queue_.empty() && queue_.begin()->first.first <= absl::Now()) break;
        queue_changed_.WaitWithDeadline(&mu_, queue_.empty() ? absl::InfiniteFuture() : queue_.begin()->first.first);
      }
      run = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
    }
    run(cancelled);
    run = nullptr;  // its captures may hold the last owner of this fake
    if (destroyed->load()) return;
  }
}

void FakeWorkerClient::Schedule(absl::Time at, std::function<void(bool cancelled)> run) {
  absl::MutexLock lock(&mu_);
  queue_.emplace(std::make_pair(at, next_sequence_++), std::move(run));
  queue_changed_.Signal();
}

absl::Status FakeWorkerClient::Admit(Method method, const std::string& partition_id, absl::Time* start) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  calls_.push_back(Call{method, partition_id, now});
  if (unavailable_) return absl::UnavailableError(absl::StrCat("fake worker ", options_.address, " is unavailable"));
  if (auto it = failures_.find(method); it != failures_.end() && !it->second.empty()) {
    absl::Status failure = it->second.front();
    it->second.erase(it->second.begin());
    return failure;
  }
  *start = hung_ ? absl::InfiniteFuture() : now + delay_;
  return absl::OkStatus();
}

template <typename T>
void FakeWorkerClient::Dispatch(Method method, const std::string& partition_id, absl::Time deadline,
                                Callback<T> done, std::function<void(Callback<T>)> work) {
  absl::Time start;
  absl::Status admitted = Admit(method, partition_id, &start);
  if (!admitted.ok()) {
    Schedule(absl::Now(), [done = std::move(done), admitted](bool) { done(admitted); });
    return;
  }
  if (start > deadline) {
    Schedule(deadline, [done = std::move(done)](bool cancelled) {
      done(cancelled ? absl::CancelledError("fake worker destroyed")
                     : absl::DeadlineExceededError("Deadline Exceeded (fake worker)"));
    });
    return;
  }
  Schedule(start, [done = std::move(done), work = std::move(work)](bool cancelled) mutable {
    if (cancelled) return done(absl::CancelledError("fake worker destroyed"));
    work(std::move(done));
  });
}

void FakeWorkerClient::LoadPartition(const worker::PartitionHeader& header,
                                     std::shared_ptr<const std::string> onnx_bytes, absl::Time deadline,
                                     Callback<worker::LoadPartitionResponse> done) {
  Dispatch<worker::LoadPartitionResponse>(
      Method::kLoadPartition, header.partition_id(), deadline, std::move(done),
      [this, header, bytes = std::move(onnx_bytes)](Callback<worker::LoadPartitionResponse> done) {
        std::shared_ptr<worker::WorkerCore> core;
        absl::StatusOr<worker::LoadPartitionResponse> result;
        {
          absl::MutexLock lock(&mu_);
          core = core_;
          if (core == nullptr) result = ScriptedLoad(header, bytes == nullptr ? std::string() : *bytes);
        }
        if (core == nullptr) return done(std::move(result));
        auto response = std::make_shared<worker::LoadPartitionResponse>();
        bool finished = false;
        absl::Status begun = core->BeginLoad(header, response.get(), &finished);
        if (!begun.ok()) return done(begun);
        if (finished) return done(*response);
        worker::PartitionUpload upload(header);
        const std::string empty;
        const std::string& data = bytes == nullptr ? empty : *bytes;
        for (size_t at = 0; at < data.size(); at += kChunkBytes) {
          absl::Status appended =
              upload.Append(absl::string_view(data).substr(at, std::min(kChunkBytes, data.size() - at)));
          if (!appended.ok()) return done(appended);
        }
        core->FinishLoad(std::move(upload), response.get(),
                         [this, response, done = std::move(done)](absl::Status status) {
                           Schedule(absl::Now(), [response, done, status](bool) {
                             if (!status.ok()) return done(status);
                             done(*response);
                           });
                         });
      });
}

void FakeWorkerClient::Execute(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                               Callback<worker::ExecuteResponse> done) {
  const std::string partition_id = request->partition_id();
  Dispatch<worker::ExecuteResponse>(
      Method::kExecute, partition_id, deadline, std::move(done),
      [this, request = std::move(request), deadline](Callback<worker::ExecuteResponse> done) {
        std::shared_ptr<worker::WorkerCore> core;
        absl::StatusOr<worker::ExecuteResponse> result;
        {
          absl::MutexLock lock(&mu_);
          core = core_;
          if (core == nullptr) {
            result = ScriptedExecute(*request);
          }
        }
        if (core == nullptr) return done(std::move(result));
        // A real worker gets its own copy of the request off the wire (and
        // moves its tensors into the engine); the caller's stays intact.
        auto received = std::make_shared<worker::ExecuteRequest>(*request);
        auto response = std::make_shared<worker::ExecuteResponse>();
        core->Execute(
            received.get(), response.get(), [deadline] { return absl::Now() > deadline; },
            [this, received, response, done = std::move(done)](absl::Status status) {
              Schedule(absl::Now(), [response, done, status](bool) {
                if (!status.ok()) return done(status);
                done(std::move(*response));
              });
            });
      });
}

void FakeWorkerClient::ExecuteCancellable(std::shared_ptr<const worker::ExecuteRequest> request, absl::Time deadline,
                                          std::shared_ptr<CallCanceller> canceller,
                                          Callback<worker::ExecuteResponse> done) {
  if (canceller == nullptr) return Execute(std::move(request), deadline, std::move(done));
  // Answered once: by the call, or by the cancellation if it comes first.
  struct Once {
    std::atomic<bool> answered{false};
    Callback<worker::ExecuteResponse> done;
    void Answer(absl::StatusOr<worker::ExecuteResponse> result) {
      if (!answered.exchange(true)) done(std::move(result));
    }
  };
  auto once = std::make_shared<Once>();
  once->done = std::move(done);
  // Attached before the call starts, so that the call's end always detaches
  // it (the action never outlives the call, nor this fake).
  canceller->Attach([this, once] {
    if (once->answered.load()) return;
    {
      absl::MutexLock lock(&mu_);
      ++cancelled_;
    }
    Schedule(absl::Now(), [once](bool) { once->Answer(absl::CancelledError("the call was cancelled (fake worker)")); });
  });
  Execute(std::move(request), deadline, [once, canceller](absl::StatusOr<worker::ExecuteResponse> result) {
    canceller->Detach();
    once->Answer(std::move(result));
  });
}

absl::StatusOr<worker::LoadPartitionResponse> FakeWorkerClient::ScriptedLoad(const worker::PartitionHeader& header,
                                                                             const std::string& bytes) {
  worker::LoadPartitionResponse response;
  response.set_partition_id(header.partition_id());
  response.set_model_bytes(header.total_bytes());
  if (loaded_.contains(header.partition_id())) {
    response.set_already_loaded(true);
    return response;
  }
  if (bytes.size() != header.total_bytes() || Sha256Hex(bytes) != header.partition_id()) {
    return absl::DataLossError(absl::StrCat("partition ", header.partition_id(), ": the bytes do not match the header"));
  }
  loaded_.insert(header.partition_id());
  response.set_memory_bytes(bytes.size());
  response.set_load_time_us(static_cast<uint64_t>(absl::ToInt64Microseconds(load_time_)));
  if (!partition_nodes_.contains(header.partition_id())) {
    std::vector<std::pair<std::string, std::string>>& nodes = partition_nodes_[header.partition_id()];
    onnx::ModelProto model;
    if (model.ParseFromString(bytes)) {
      for (const onnx::NodeProto& node : model.graph().node()) {
        nodes.emplace_back(node.name(), node.domain().empty() || node.domain() == "ai.onnx"
                                            ? node.op_type()
                                            : absl::StrCat(node.domain(), ".", node.op_type()));
      }
    }
  }
  return response;
}

absl::StatusOr<worker::ProfileResponse> FakeWorkerClient::ScriptedProfile(const worker::ProfileRequest& request) {
  if (request.runs() < 1 || request.runs() > worker::WorkerCore::kMaxProfileRuns) {
    return absl::InvalidArgumentError(absl::StrCat("profile runs must be in 1..", worker::WorkerCore::kMaxProfileRuns,
                                                   ", got ", request.runs()));
  }
  if (!loaded_.contains(request.partition_id())) {
    return absl::NotFoundError(
        absl::StrCat("partition ", request.partition_id(), " is not loaded on ", options_.address));
  }
  worker::ProfileResponse response;
  response.set_partition_id(request.partition_id());
  for (const auto& [name, op_type] : partition_nodes_[request.partition_id()]) {
    worker::NodeTime* node = response.add_nodes();
    node->set_name(name);
    node->set_op_type(op_type);
    node->set_ms(profile_default_ms_);
  }
  ApplyProfileTimes(&response);
  return response;
}

void FakeWorkerClient::ApplyProfileTimes(worker::ProfileResponse* response) {
  double total = 0;
  for (worker::NodeTime& node : *response->mutable_nodes()) {
    auto it = profile_node_ms_.find(node.name());
    if (it != profile_node_ms_.end()) node.set_ms(it->second);
    total += node.ms();
  }
  response->set_total_ms(total);
}

void FakeWorkerClient::Profile(const worker::ProfileRequest& request, absl::Time deadline,
                               Callback<worker::ProfileResponse> done) {
  Dispatch<worker::ProfileResponse>(
      Method::kProfile, request.partition_id(), deadline, std::move(done),
      [this, request](Callback<worker::ProfileResponse> done) {
        std::shared_ptr<worker::WorkerCore> core;
        absl::StatusOr<worker::ProfileResponse> result;
        {
          absl::MutexLock lock(&mu_);
          core = core_;
          if (core == nullptr) result = ScriptedProfile(request);
        }
        if (core == nullptr) return done(std::move(result));
        auto response = std::make_shared<worker::ProfileResponse>();
        core->Profile(request, response.get(), [this, response, done = std::move(done)](absl::Status status) {
          if (status.ok()) {
            absl::MutexLock lock(&mu_);
            ApplyProfileTimes(response.get());
          }
          Schedule(absl::Now(), [response, done, status](bool) {
            if (!status.ok()) return done(status);
            done(std::move(*response));
          });
        });
      });
}

absl::StatusOr<worker::ExecuteResponse> FakeWorkerClient::ScriptedExecute(const worker::ExecuteRequest& request) {
  if (!loaded_.contains(request.partition_id())) {
    return absl::NotFoundError(
        absl::StrCat("partition ", request.partition_id(), " is not loaded on ", options_.address));
  }
  worker::ExecuteResponse response;
  response.set_request_id(request.request_id());
  response.set_piece_id(request.piece_id());
  *response.mutable_outputs() = request.inputs();
  const double seconds = static_cast<double>(SamplesOf(request)) / std::max(samples_per_second_, 1e-9);
  response.set_compute_time_us(static_cast<uint64_t>(seconds * 1e6));
  ++executes_total_;
  return response;
}

void FakeWorkerClient::Status(absl::Time deadline, Callback<worker::StatusResponse> done) {
  Dispatch<worker::StatusResponse>(Method::kStatus, "", deadline, std::move(done),
                                   [this](Callback<worker::StatusResponse> done) {
                                     worker::StatusResponse response;
                                     {
                                       absl::MutexLock lock(&mu_);
                                       if (core_ != nullptr) {
                                         response = core_->Status();
                                       } else {
                                         response.set_version("fake");
                                         response.set_boot_id(boot_id_);
                                         response.set_uptime_ms(absl::ToInt64Milliseconds(absl::Now() - started_));
                                         response.set_cpu_cores(options_.cpu_cores);
                                         response.set_intra_op_threads(options_.cpu_cores);
                                         response.set_max_concurrent_executes(1);
                                         for (const std::string& id : loaded_) {
                                           response.add_partitions()->set_partition_id(id);
                                         }
                                         response.set_executes_total(executes_total_);
                                         response.set_samples_per_second(samples_per_second_);
                                         response.set_utilization(1.0);
                                       }
                                     }
                                     done(std::move(response));
                                   });
}

void FakeWorkerClient::Unload(const std::string& partition_id, absl::Time deadline,
                              Callback<worker::UnloadResponse> done) {
  Dispatch<worker::UnloadResponse>(Method::kUnload, partition_id, deadline, std::move(done),
                                   [this, partition_id](Callback<worker::UnloadResponse> done) {
                                     worker::UnloadResponse response;
                                     {
                                       absl::MutexLock lock(&mu_);
                                       if (core_ != nullptr) {
                                         worker::UnloadRequest request;
                                         request.set_partition_id(partition_id);
                                         response = core_->Unload(request);
                                       } else {
                                         response.set_was_loaded(loaded_.erase(partition_id) > 0);
                                       }
                                     }
                                     done(std::move(response));
                                   });
}

void FakeWorkerClient::SetUnavailable(bool unavailable) {
  absl::MutexLock lock(&mu_);
  unavailable_ = unavailable;
}

void FakeWorkerClient::FailNext(Method method, absl::Status status, int count) {
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < count; ++i) failures_[method].push_back(status);
}

void FakeWorkerClient::SetLoadTime(absl::Duration load_time) {
  absl::MutexLock lock(&mu_);
  load_time_ = load_time;
}

void FakeWorkerClient::SetProfileTimes(absl::flat_hash_map<std::string, double> node_ms, double default_ms) {
  absl::MutexLock lock(&mu_);
  profile_node_ms_ = std::move(node_ms);
  profile_default_ms_ = default_ms;
}

void FakeWorkerClient::SetDelay(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  delay_ = delay;
}

void FakeWorkerClient::SetHung(bool hung) {
  absl::MutexLock lock(&mu_);
  hung_ = hung;
}

void FakeWorkerClient::SetSamplesPerSecond(double samples_per_second) {
  absl::MutexLock lock(&mu_);
  samples_per_second_ = samples_per_second;
}

void FakeWorkerClient::Restart() {
  absl::MutexLock lock(&mu_);
  boot_id_ = NewBootId();
  started_ = absl::Now();
  loaded_.clear();
  executes_total_ = 0;
  // The old core may still be finishing calls; it lives as long as the fake.
  if (core_ != nullptr) {
    retired_cores_.push_back(std::move(core_));
    core_ = std::make_shared<worker::WorkerCore>(options_.core_options);
  }
}

std::string FakeWorkerClient::boot_id() const {
  absl::MutexLock lock(&mu_);
  return core_ != nullptr ? core_->Status().boot_id() : boot_id_;
}

bool FakeWorkerClient::HasPartition(const std::string& partition_id) const {
  absl::MutexLock lock(&mu_);
  return core_ != nullptr ? core_->cache().Find(partition_id) != nullptr : loaded_.contains(partition_id);
}

std::vector<FakeWorkerClient::Call> FakeWorkerClient::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

int FakeWorkerClient::CountCancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

int FakeWorkerClient::CountCalls(Method method) const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(std::count_if(calls_.begin(), calls_.end(), [&](const Call& c) { return c.method == method; }));
}

worker::WorkerCore* FakeWorkerClient::core() const {
  absl::MutexLock lock(&mu_);
  return core_.get();
}

}  // namespace tessera::coordinator
