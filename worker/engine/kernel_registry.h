// Maps (domain, op_type) to the factory that builds its kernel.
//
// Every kernel group registers itself from kernels/kernel_groups.h; the
// global registry is built once, on first use, and is immutable after that
// (safe to read from any thread).
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "worker/engine/kernel.h"

namespace tessera::engine {

// The ONNX default domain is "" (also spelled "ai.onnx").
inline constexpr absl::string_view kOnnxDomain = "";
// Tessera's own operators (fused kernels the optimizer creates), and
// ai.tessera.LayerNormalization: the ai.onnx kernel, under which an optimized
// export names fused layer norms of models older than opset 17.
inline constexpr absl::string_view kTesseraDomain = "ai.tessera";

struct KernelDef {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  KernelFactory factory;
  // Output 0 may be a view of input 0 (Reshape, Squeeze, Identity, ...).
  bool output_aliases_input = false;
  // False for operators whose result is not a function of their inputs
  // (random ones); those are never constant-folded.
  bool deterministic = true;
};

class KernelRegistry {
 public:
  static const KernelRegistry& Global();

  // Registers a kernel; a later registration of the same op replaces it.
  void Register(KernelDef def);
  // Shorthand for the common case.
  void Register(absl::string_view op_type, KernelFactory factory);

  // nullptr when not registered. "ai.onnx" is treated as "".
  const KernelDef* Find(absl::string_view domain, absl::string_view op_type) const;
  std::vector<std::string> OpTypes(absl::string_view domain) const;

 private:
  absl::flat_hash_map<std::string, KernelDef> defs_;  // key: domain + ":" + op_type
};

// Factory for a kernel class constructed from KernelInit with a
// `static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit&)`.
template <typename K>
KernelFactory FactoryOf() {
  return [](const KernelInit& init) { return K::Create(init); };
}

}  // namespace tessera::engine
