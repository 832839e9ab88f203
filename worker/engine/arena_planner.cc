#include "worker/engine/arena_planner.h"

#include <algorithm>
#include <numeric>

namespace tessera::engine {

ArenaLayout PlanArena(const std::vector<BufferRequest>& requests, int64_t alignment) {
  const size_t n = requests.size();
  ArenaLayout layout;
  layout.offsets.assign(n, 0);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  auto round_up = [&](int64_t v) { return (v + alignment - 1) / alignment * alignment; };
  std::vector<size_t> placed;
  std::vector<std::pair<int64_t, int64_t>> busy;  // [offset, end) of time-overlapping buffers
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    const int64_t size = round_up(std::max<int64_t>(r.bytes, 1));
    busy.clear();
    for (size_t p : placed) {
      const BufferRequest& q = requests[p];
      if (q.first_step <= r.last_step && r.first_step <= q.last_step) {
        busy.emplace_back(layout.offsets[p], layout.offsets[p] + round_up(std::max<int64_t>(q.bytes, 1)));
      }
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (begin - offset >= size) break;
      offset = std::max(offset, end);
    }
    layout.offsets[idx] = offset;
    layout.total_bytes = std::max(layout.total_bytes, offset + size);
    placed.push_back(idx);
  }
  return layout;
}

}  // namespace tessera::engine
