#include "coordinator/scheduler/dynamic_batcher.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/scheduler/batch_split.h"

namespace tessera::coordinator {

DynamicBatcherOptions DynamicBatcherOptions::FromConfig(const std::string& model_name,
                                                        const std::string& model_version, int64_t max_batch_size,
                                                        const inference::ModelDynamicBatching& config) {
  DynamicBatcherOptions options;
  options.model_name = model_name;
  options.model_version = model_version;
  options.max_batch_size = std::max<int64_t>(max_batch_size, 1);
  for (int32_t size : config.preferred_batch_size()) {
    if (size >= 1 && size <= options.max_batch_size) options.preferred_batch_sizes.push_back(size);
  }
  std::sort(options.preferred_batch_sizes.begin(), options.preferred_batch_sizes.end());
  options.max_queue_delay = absl::Microseconds(static_cast<int64_t>(
      std::min<uint64_t>(config.max_queue_delay_microseconds(), uint64_t{1} << 40)));
  options.max_queue_size = config.default_queue_policy().max_queue_size();
  options.preserve_ordering = config.preserve_ordering();
  return options;
}

// One queued request.
struct DynamicBatcher::Pending {
  std::vector<NamedTensor> inputs;
  int64_t rows = 0;
  absl::Time deadline;
  absl::Time enqueued;
  std::string request_id;
  Done done;
  uint64_t sequence = 0;
};

// One merged request on its way through Execute.
struct DynamicBatcher::Batch {
  std::vector<std::unique_ptr<Pending>> members;
  int64_t rows = 0;
  absl::Time started;
};

// Hands results to their callbacks: at once, or in sequence order when
// ordered (a result waits until every earlier sequence number is out). One
// thread at a time drains the ready results, so callbacks are never
// reordered by racing threads.
class DynamicBatcher::Sequencer {
 public:
  explicit Sequencer(bool ordered) : ordered_(ordered) {}

  void Deliver(uint64_t sequence, Done done, Result result) {
    if (!ordered_) return done(std::move(result));
    mu_.Lock();
    ready_.emplace(sequence, std::make_pair(std::move(done), std::move(result)));
    if (draining_) return mu_.Unlock();
    draining_ = true;
    while (true) {
      auto it = ready_.find(next_);
      if (it == ready_.end()) break;
      std::pair<Done, Result> entry = std::move(it->second);
      ready_.erase(it);
      ++next_;
      mu_.Unlock();
      entry.first(std::move(entry.second));
      mu_.Lock();
    }
    draining_ = false;
    mu_.Unlock();
  }

 private:
  const bool ordered_;
  absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::pair<Done, Result>> ready_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {

// Same input names in the same order, element types and non-batch dims.
bool Compatible(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Tensor& x = a[i].tensor;
    const Tensor& y = b[i].tensor;
    if (a[i].name != b[i].name || x.dtype() != y.dtype() || x.rank() != y.rank()) return false;
    for (int d = 1; d < x.rank(); ++d) {
      if (x.dim(d) != y.dim(d)) return false;
    }
  }
  return true;
}

}  // namespace

DynamicBatcher::DynamicBatcher(DynamicBatcherOptions options, Execute execute, ExecutionObserver observer)
    : options_(std::move(options)),
      execute_(std::move(execute)),
      observer_(std::move(observer)),
      sequencer_(std::make_shared<Sequencer>(options_.preserve_ordering)),
      thread_([this] { Loop(); }) {}

DynamicBatcher::~DynamicBatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    changed_.Signal();
  }
  thread_.join();
  std::deque<std::unique_ptr<Pending>> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(queue_);
  }
  const absl::Time now = absl::Now();
  for (std::unique_ptr<Pending>& p : left) {
    sequencer_->Deliver(p->sequence, std::move(p->done),
                        {.outputs = absl::UnavailableError(absl::StrCat(ModelLabel(),
                                                                        " is shutting down; the request was queued "
                                                                        "for dynamic batching and did not run")),
                         .queue = now - p->enqueued});
  }
}

std::string DynamicBatcher::ModelLabel() const {
  return absl::StrCat("model '", options_.model_name, "' version ", options_.model_version);
}

int DynamicBatcher::QueuedForTest() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

void DynamicBatcher::Enqueue(std::vector<NamedTensor> inputs, absl::Time deadline, std::string request_id,
                             Done done) {
  auto refuse = [&done](absl::Status status) { done({.outputs = std::move(status)}); };
  if (inputs.empty()) {
    return refuse(absl::InvalidArgumentError(absl::StrCat(ModelLabel(), ": a request has no inputs")));
  }
  int64_t rows = -1;
  for (const NamedTensor& input : inputs) {
    if (input.tensor.rank() == 0) {
      return refuse(absl::InvalidArgumentError(
          absl::StrCat(ModelLabel(), ": input '", input.name, "' is a scalar; batching needs a batch dimension")));
    }
    if (rows < 0) rows = input.tensor.dim(0);
    if (input.tensor.dim(0) != rows) {
      return refuse(absl::InvalidArgumentError(absl::StrCat(ModelLabel(), ": inputs disagree on the batch size: '",
                                                            inputs[0].name, "' has ", rows, " rows, '", input.name,
                                                            "' ", input.tensor.dim(0))));
    }
  }
  if (rows < 1 || rows > options_.max_batch_size) {
    return refuse(absl::InvalidArgumentError(absl::StrCat(ModelLabel(), ": a request of ", rows,
                                                          " rows; the batch size must be 1..",
                                                          options_.max_batch_size)));
  }
  auto pending = std::make_unique<Pending>();
  pending->inputs = std::move(inputs);
  pending->rows = rows;
  pending->deadline = deadline;
  pending->enqueued = absl::Now();
  pending->request_id = std::move(request_id);
  pending->done = std::move(done);
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError(absl::StrCat(ModelLabel(), " is shutting down"));
    } else if (options_.max_queue_size > 0 && queue_.size() >= options_.max_queue_size) {
      refused = absl::ResourceExhaustedError(
          absl::StrCat(ModelLabel(), ": the dynamic batching queue is full (", queue_.size(),
                       " requests queued; default_queue_policy.max_queue_size is ", options_.max_queue_size, ")"));
    } else {
      pending->sequence = next_sequence_++;
      queue_.push_back(std::move(pending));
      changed_.Signal();
      return;
    }
  }
  pending->done({.outputs = std::move(refused)});
}

std::vector<std::unique_ptr<DynamicBatcher::Pending>> DynamicBatcher::TakeExpiredLocked(absl::Time now) {
  std::vector<std::unique_ptr<Pending>> expired;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->deadline <= now) {
      expired.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

std::vector<std::unique_ptr<DynamicBatcher::Pending>> DynamicBatcher::TakeBatchLocked(absl::Time now,
                                                                                     absl::Time* wake) {
  *wake = absl::InfiniteFuture();
  if (queue_.empty()) return {};
  const Pending& head = *queue_.front();
  // The longest prefix that can be merged, and the longest prefix whose
  // rows make a preferred size.
  int64_t total = 0;
  size_t count = 0, preferred_count = 0;
  bool closed = false;  // the next request cannot join
  for (size_t i = 0; i < queue_.size(); ++i) {
    const Pending& p = *queue_[i];
    if ((i > 0 && !Compatible(head.inputs, p.inputs)) || total + p.rows > options_.max_batch_size) {
      closed = true;
      break;
    }
    total += p.rows;
    count = i + 1;
    if (std::binary_search(options_.preferred_batch_sizes.begin(), options_.preferred_batch_sizes.end(), total)) {
      preferred_count = count;
    }
  }
  size_t take = 0;
  if (total >= options_.max_batch_size) {
    take = count;
  } else if (preferred_count > 0) {
    take = preferred_count;
  } else if (closed || now >= head.enqueued + options_.max_queue_delay) {
    take = count;
  } else {
    *wake = head.enqueued + options_.max_queue_delay;
    return {};
  }
  std::vector<std::unique_ptr<Pending>> batch;
  batch.reserve(take);
  for (size_t i = 0; i < take; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void DynamicBatcher::Loop() {
  while (true) {
    std::vector<std::unique_ptr<Pending>> expired, batch;
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        if (stopping_) return;
        const absl::Time now = absl::Now();
        expired = TakeExpiredLocked(now);
        absl::Time wake;
        batch = TakeBatchLocked(now, &wake);
        if (!expired.empty() || !batch.empty()) break;
        for (const auto& p : queue_) wake = std::min(wake, p->deadline);
        changed_.WaitWithDeadline(&mu_, wake);
      }
    }
    const absl::Time now = absl::Now();
    for (std::unique_ptr<Pending>& p : expired) {
      sequencer_->Deliver(
          p->sequence, std::move(p->done),
          {.outputs = absl::DeadlineExceededError(absl::StrCat(
               ModelLabel(), ": the deadline passed while the request was queued for dynamic batching (after ",
               absl::FormatDuration(now - p->enqueued), ")")),
           .queue = now - p->enqueued});
    }
    Dispatch(std::move(batch));
  }
}

void DynamicBatcher::Dispatch(std::vector<std::unique_ptr<Pending>> members) {
  if (members.empty()) return;
  auto batch = std::make_shared<Batch>();
  batch->members = std::move(members);
  batch->started = absl::Now();
  absl::Time deadline = absl::InfinitePast();
  for (const auto& p : batch->members) {
    batch->rows += p->rows;
    deadline = std::max(deadline, p->deadline);
  }
  // Completes every member: its rows of the outputs, or the failure.
  auto finish = [batch, sequencer = sequencer_, observer = observer_](Outputs outputs) {
    const absl::Duration infer = absl::Now() - batch->started;
    absl::Status status = outputs.status();
    if (status.ok()) {
      for (const NamedTensor& output : *outputs) {
        if (output.tensor.rank() == 0 || output.tensor.dim(0) != batch->rows) {
          status = absl::InternalError(absl::StrCat("output '", output.name, "' of a batch of ", batch->rows,
                                                    " rows has shape ", ShapeToString(output.tensor.shape()),
                                                    "; it cannot be split back to the requests"));
          break;
        }
      }
    }
    std::vector<Outputs> answers;
    answers.reserve(batch->members.size());
    int64_t begin = 0;
    for (const auto& p : batch->members) {
      if (!status.ok()) {
        answers.push_back(status);
        continue;
      }
      std::vector<NamedTensor> mine;
      mine.reserve(outputs->size());
      for (const NamedTensor& output : *outputs) {
        absl::StatusOr<Tensor> rows = SliceRows(output.tensor, begin, p->rows);
        if (!rows.ok()) {
          status = rows.status();
          break;
        }
        mine.push_back({output.name, *std::move(rows)});
      }
      if (!status.ok()) {
        answers.push_back(status);
        continue;
      }
      answers.push_back(std::move(mine));
      begin += p->rows;
    }
    // A slicing failure part-way fails everyone.
    if (!status.ok()) {
      for (Outputs& answer : answers) answer = status;
    }
    if (observer) {
      observer({.rows = batch->rows,
                .requests = static_cast<int>(batch->members.size()),
                .infer = infer,
                .status = status});
    }
    for (size_t i = 0; i < batch->members.size(); ++i) {
      Pending& p = *batch->members[i];
      sequencer->Deliver(p.sequence, std::move(p.done),
                         {.outputs = std::move(answers[i]), .queue = batch->started - p.enqueued, .executed = true});
    }
  };
  std::vector<NamedTensor> inputs;
  if (batch->members.size() == 1) {
    inputs = std::move(batch->members[0]->inputs);
  } else {
    const std::vector<NamedTensor>& first = batch->members[0]->inputs;
    for (size_t i = 0; i < first.size(); ++i) {
      std::vector<Tensor> parts;
      parts.reserve(batch->members.size());
      for (const auto& p : batch->members) parts.push_back(p->inputs[i].tensor);
      absl::StatusOr<Tensor> merged = ConcatRows(parts);
      if (!merged.ok()) {
        return finish(absl::InternalError(
            absl::StrCat("cannot merge input '", first[i].name, "' of a batch: ", merged.status().message())));
      }
      inputs.push_back({first[i].name, *std::move(merged)});
    }
    // The merged copy is all that is needed now.
    for (const auto& p : batch->members) p->inputs.clear();
  }
  execute_(std::move(inputs), deadline, batch->members[0]->request_id, std::move(finish));
}

}  // namespace tessera::coordinator
