// Assigns offsets in one arena to buffers with known sizes and lifetimes so
// that buffers alive at the same step never overlap (greedy, largest first).
#pragma once

#include <cstdint>
#include <vector>

namespace tessera::engine {

struct BufferRequest {
  int64_t bytes = 0;
  int first_step = 0;  // step that writes the buffer
  int last_step = 0;   // last step that reads it (inclusive)
};

struct ArenaLayout {
  std::vector<int64_t> offsets;  // one per request, multiples of `alignment`
  int64_t total_bytes = 0;
};

ArenaLayout PlanArena(const std::vector<BufferRequest>& requests, int64_t alignment = 64);

}  // namespace tessera::engine
