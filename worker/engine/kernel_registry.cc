#include "worker/engine/kernel_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "worker/engine/kernels/kernel_groups.h"

namespace tessera::engine {
namespace {

absl::string_view NormalizeDomain(absl::string_view domain) {
  return domain == "ai.onnx" ? kOnnxDomain : domain;
}

std::string Key(absl::string_view domain, absl::string_view op_type) {
  return absl::StrCat(NormalizeDomain(domain), ":", op_type);
}

}  // namespace

const KernelRegistry& KernelRegistry::Global() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    RegisterElementwiseKernels(*r);
    RegisterTensorKernels(*r);
    RegisterConvMatMulKernels(*r);
    RegisterPoolNormKernels(*r);
    RegisterReductionKernels(*r);
    RegisterSimKernels(*r);
    // Operators the optimizer may introduce into models whose ai.onnx opset
    // predates them (transformer fusion emits LayerNormalization, opset 17,
    // into opset-14 graphs). Inside the engine they keep the ai.onnx domain;
    // an exported optimized model (model_optimizer.h) names them in
    // Tessera's domain so the ONNX checker accepts it. Same kernel.
    for (absl::string_view op : {"LayerNormalization"}) {
      if (const KernelDef* def = r->Find(kOnnxDomain, op); def != nullptr) {
        KernelDef alias = *def;
        alias.domain = std::string(kTesseraDomain);
        r->Register(std::move(alias));
      }
    }
    return r;
  }();
  return *registry;
}

void KernelRegistry::Register(KernelDef def) {
  def.domain = std::string(NormalizeDomain(def.domain));
  std::string key = Key(def.domain, def.op_type);
  defs_.insert_or_assign(std::move(key), std::move(def));
}

void KernelRegistry::Register(absl::string_view op_type, KernelFactory factory) {
  KernelDef def;
  def.op_type = std::string(op_type);
  def.factory = std::move(factory);
  Register(std::move(def));
}

const KernelDef* KernelRegistry::Find(absl::string_view domain, absl::string_view op_type) const {
  auto it = defs_.find(Key(domain, op_type));
  return it == defs_.end() ? nullptr : &it->second;
}

std::vector<std::string> KernelRegistry::OpTypes(absl::string_view domain) const {
  std::vector<std::string> out;
  for (const auto& [key, def] : defs_) {
    if (def.domain == NormalizeDomain(domain)) out.push_back(def.op_type);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tessera::engine
