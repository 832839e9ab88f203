#include "worker/engine/kernels/conv_onednn_runtime.h"

#include <omp.h>

#include <memory>
#include <mutex>
#include <vector>

#include <cblas.h>

#include "absl/strings/str_cat.h"

namespace tessera::engine {

const dnnl::engine& OneDnnCpuEngine() {
  static const dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& ThreadStream() {
  thread_local dnnl::stream stream(OneDnnCpuEngine());
  return stream;
}

ScopedOmpThreads::ScopedOmpThreads(int threads) : previous_(omp_get_max_threads()) {
  omp_set_num_threads(threads < 1 ? 1 : threads);
}

ScopedOmpThreads::~ScopedOmpThreads() { omp_set_num_threads(previous_); }

void EnsureBlasSingleThreaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

float* ThreadScratch(int slot, size_t bytes) {
  struct Buffer {
    std::unique_ptr<float[]> data;
    size_t bytes = 0;
  };
  thread_local std::vector<Buffer> buffers;
  if (slot >= static_cast<int>(buffers.size())) buffers.resize(slot + 1);
  Buffer& b = buffers[slot];
  if (b.bytes < bytes) {
    // Grow geometrically so alternating shapes do not reallocate each call;
    // 16 floats of padding keep vector loads past the end harmless.
    size_t want = std::max(bytes, b.bytes + b.bytes / 2);
    b.data = std::make_unique<float[]>(want / sizeof(float) + 16);
    b.bytes = want;
  }
  return b.data.get();
}

dnnl::memory OneDnnMemory(const dnnl::memory::desc& desc, const void* data) {
  return dnnl::memory(desc, OneDnnCpuEngine(), const_cast<void*>(data));
}

dnnl::memory::desc PlainDesc(const dnnl::memory::dims& dims, dnnl::memory::data_type type) {
  dnnl::memory::dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
  return dnnl::memory::desc(dims, type, strides);
}

absl::Status OneDnnErrorToStatus(absl::string_view op, const dnnl::error& e) {
  return absl::InternalError(absl::StrCat(op, ": oneDNN failed: ", e.what(), " (status ",
                                          static_cast<int>(e.status), ")"));
}

}  // namespace tessera::engine
