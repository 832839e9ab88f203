// Shared plumbing for the oneDNN- and OpenBLAS-backed kernels (Conv,
// ConvTranspose, MatMul, Gemm): the CPU engine, per-call thread control,
// user-managed scratchpads and error conversion.
//
// Threading model: oneDNN (OpenMP runtime) sizes its parallel regions from
// omp_get_max_threads() of the calling thread, both when a primitive is
// created and when it runs, so kernels wrap creation and execution in
// ScopedOmpThreads(ctx.num_threads()) and key their primitive caches on the
// thread count. OpenBLAS is used single-threaded (set once, process-wide, by
// EnsureBlasSingleThreaded); kernels split BLAS work over ParallelFor
// themselves so that ctx.num_threads() is respected and no second thread pool
// competes with OpenMP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/tensor.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace tessera::engine {

// The process-wide oneDNN CPU engine (created on first use; thread-safe).
const dnnl::engine& OneDnnCpuEngine();

// A oneDNN stream on the CPU engine owned by the calling thread.
dnnl::stream& ThreadStream();

// Sets the calling thread's OpenMP thread count for the scope's lifetime.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int threads);
  ~ScopedOmpThreads();
  ScopedOmpThreads(const ScopedOmpThreads&) = delete;
  ScopedOmpThreads& operator=(const ScopedOmpThreads&) = delete;

 private:
  int previous_;
};

// Makes OpenBLAS run each call on the calling thread only (idempotent).
void EnsureBlasSingleThreaded();

// A per-thread, grow-only buffer for oneDNN user-mode scratchpads and other
// per-call temporaries. The returned memory stays valid until the next call
// on the same thread with the same `slot`.
float* ThreadScratch(int slot, size_t bytes);

// A oneDNN memory object over `data` (no copy).
dnnl::memory OneDnnMemory(const dnnl::memory::desc& desc, const void* data);

// Row-major (plain) f32 memory descriptor for `dims`.
dnnl::memory::desc PlainDesc(const dnnl::memory::dims& dims,
                             dnnl::memory::data_type type = dnnl::memory::data_type::f32);

// Converts a oneDNN exception into a Status naming the operator.
absl::Status OneDnnErrorToStatus(absl::string_view op, const dnnl::error& e);

}  // namespace tessera::engine
