// libFuzzer target: the engine's load-from-bytes path (model_validator's
// parse and checks, graph building, optimization, planning) on untrusted
// ONNX bytes. Every input must end in a loaded engine or a status with a
// message.
//
// Run with a bounded -max_len (scripts/sanitize.sh uses 16384): model
// bytes go through protobuf parsing, the ONNX checker and shape inference,
// whose time grows with the model.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/string_view.h"
#include "worker/engine/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::engine::EngineOptions options;
  options.intra_op_threads = 1;
  absl::StatusOr<std::unique_ptr<tessera::engine::Engine>> engine =
      tessera::engine::Engine::LoadFromBytes(absl::string_view(reinterpret_cast<const char*>(data), size), options);
  if (!engine.ok()) {
    if (engine.status().message().empty()) {
      std::fprintf(stderr, "LoadFromBytes refused the model without a message\n");
      std::abort();
    }
    return 0;
  }
  if (*engine == nullptr) {
    std::fprintf(stderr, "LoadFromBytes returned OK without an engine\n");
    std::abort();
  }
  return 0;
}
