// Dynamic batching of one served model version, with Triton's semantics:
// requests queue here, compatible ones are merged along axis 0 into one
// request of at most max_batch_size rows, the merged request runs once
// (Execute, normally RequestExecutor::Infer), and its outputs are cut back
// by rows to each requester.
//
// When a batch goes (the queue is looked at whenever a request arrives, a
// batch finishes forming, or the oldest request's delay expires):
//   - at once when the batch at the head of the queue reaches
//     max_batch_size rows, or when a preferred_batch_size can be formed (the
//     largest one that can: the first k queued requests add up to it), or
//     when the batch cannot grow any more (the next queued request is
//     incompatible or does not fit in what remains);
//   - otherwise when the oldest queued request has waited
//     max_queue_delay: then whatever is queued goes (the largest preferred
//     size that can be formed if any, else everything up to max_batch_size).
// A batch is always a prefix of the queue in arrival order. Only compatible
// requests are merged: same input names in the same order, same element
// types, same dims after the first. A request is never split: one whose rows
// exceed what remains waits for the next batch.
//
// Queue bound: with max_queue_size > 0, a request that finds that many
// queued is refused at once with RESOURCE_EXHAUSTED naming the model and the
// limit. A request whose deadline passes while it is queued fails with
// DEADLINE_EXCEEDED and is not run. With preserve_ordering, answers are
// delivered in arrival order (a request's answer waits for every earlier
// one's); otherwise each as soon as its batch is done.
//
// A merged batch runs with the latest deadline of its members (no member is
// cut short by another's tighter deadline); the id of its first member is
// the request id. Batches run concurrently: the batcher does not wait for
// one to finish before forming the next.
//
// Threads: one scheduling thread per batcher (timed waits, no thread per
// request). Enqueue never blocks on the delay: it only queues and signals.
// Done callbacks run on the thread that completes the batch (the executor's
// callback thread), the scheduling thread (deadline expiry) or the
// destructor's (shutdown); never with the batcher's lock held.
//
// Destruction fails every queued request with UNAVAILABLE and joins the
// scheduling thread. Batches already running finish normally: their
// completion holds no pointer to the batcher.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tensor.h"
#include "proto/model_config.pb.h"
#include "worker/engine/engine.h"

namespace tessera::coordinator {

using engine::NamedTensor;

struct DynamicBatcherOptions {
  // For messages: "model 'NAME' version V".
  std::string model_name;
  std::string model_version;
  // Rows of a merged batch at most (the model's max_batch_size, > 0).
  int64_t max_batch_size = 1;
  // Sizes worth sending at once (each 1..max_batch_size); empty: none.
  std::vector<int64_t> preferred_batch_sizes;
  // How long the oldest request may wait for others.
  absl::Duration max_queue_delay = absl::ZeroDuration();
  // Queued requests at most; 0: unbounded.
  uint32_t max_queue_size = 0;
  bool preserve_ordering = false;

  // From a validated config's dynamic_batching block.
  static DynamicBatcherOptions FromConfig(const std::string& model_name, const std::string& model_version,
                                          int64_t max_batch_size, const inference::ModelDynamicBatching& config);
};

class DynamicBatcher {
 public:
  using Outputs = absl::StatusOr<std::vector<NamedTensor>>;
  // Runs one merged request: the RequestExecutor::Infer contract (outputs
  // in the model's order, the batch on axis 0; `done` called exactly once).
  using Execute = std::function<void(std::vector<NamedTensor> inputs, absl::Time deadline,
                                     const std::string& request_id, std::function<void(Outputs)> done)>;

  // One executed batch, for statistics: reported once per Execute call,
  // before its members' answers are delivered.
  struct Execution {
    int64_t rows = 0;      // rows of the merged batch
    int requests = 0;      // requests merged into it
    absl::Duration infer;  // from the Execute call to its answer
    absl::Status status;   // the Execute outcome (ok: the outputs split fine)
  };
  using ExecutionObserver = std::function<void(const Execution&)>;

  // What one request gets back.
  struct Result {
    Outputs outputs;      // its own rows of the outputs, or why it failed
    absl::Duration queue;  // time it waited in the batcher
    bool executed = false;  // it was part of an executed batch
  };
  using Done = std::function<void(Result)>;

  // `execute` runs batches; `observer` (may be null) hears of each
  // execution. Both must stay callable until every batch has finished.
  DynamicBatcher(DynamicBatcherOptions options, Execute execute, ExecutionObserver observer = nullptr);
  ~DynamicBatcher();

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  const DynamicBatcherOptions& options() const { return options_; }

  // Queues one request. `inputs` are its decoded inputs, every one with the
  // batch on axis 0 (1..max_batch_size rows, equal across inputs:
  // INVALID_ARGUMENT otherwise). `done` is called exactly once.
  void Enqueue(std::vector<NamedTensor> inputs, absl::Time deadline, std::string request_id, Done done);

  // Requests queued now (not yet in a batch); for tests.
  int QueuedForTest() const;

 private:
  struct Pending;
  struct Batch;
  class Sequencer;

  void Loop();
  // Under mu_: requests whose deadline passed, taken off the queue.
  std::vector<std::unique_ptr<Pending>> TakeExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Under mu_: the batch to send now (empty when it should wait) and, when
  // waiting, until when.
  std::vector<std::unique_ptr<Pending>> TakeBatchLocked(absl::Time now, absl::Time* wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch(std::vector<std::unique_ptr<Pending>> members);
  std::string ModelLabel() const;

  const DynamicBatcherOptions options_;
  const Execute execute_;
  const ExecutionObserver observer_;
  // Delivers answers (in arrival order when preserve_ordering); shared with
  // running batches so that they never touch the batcher itself.
  const std::shared_ptr<Sequencer> sequencer_;

  mutable absl::Mutex mu_;
  absl::CondVar changed_;
  std::deque<std::unique_ptr<Pending>> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once everything else exists
};

}  // namespace tessera::coordinator
