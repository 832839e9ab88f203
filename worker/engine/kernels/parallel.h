// Intra-op parallelism for hand-written kernels, on the same OpenMP runtime
// oneDNN uses (one pool of threads, no oversubscription between the two).
#pragma once

#include <algorithm>
#include <cstdint>

namespace tessera::engine {

// Splits [0, n) into at most `threads` contiguous chunks of at least `grain`
// items and calls fn(begin, end) for each, in parallel. Runs inline when one
// chunk suffices. fn must not throw.
template <typename Fn>
void ParallelFor(int threads, int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  if (chunks <= 1) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = n * c / chunks;
    const int64_t end = n * (c + 1) / chunks;
    fn(begin, end);
  }
}

}  // namespace tessera::engine
