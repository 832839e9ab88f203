#include "worker/engine/node_runner.h"

#include <new>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/node_context.h"

namespace tessera::engine {

absl::Status ComputeNode(const OpKernel& kernel, KernelContext& ctx) {
  try {
    return kernel.Compute(ctx);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory: its tensors do not fit in memory");
  } catch (const std::length_error&) {
    return absl::ResourceExhaustedError("out of memory: a tensor is too large to allocate");
  }
}

std::string NodeLabel(const onnx::NodeProto& node) {
  return absl::StrCat("node '", node.name().empty() ? node.output_size() > 0 ? node.output(0) : "?" : node.name(),
                      "' (", node.op_type(), ")");
}

absl::StatusOr<std::vector<Tensor>> RunNodeOnce(const onnx::NodeProto& node, int opset,
                                                const std::vector<const Tensor*>& inputs, int threads) {
  const KernelDef* def = KernelRegistry::Global().Find(node.domain(), node.op_type());
  if (def == nullptr) {
    return absl::UnimplementedError(absl::StrCat("unsupported operator in ", NodeLabel(node)));
  }
  NodeAttributes attrs(node);
  KernelInit init{node, attrs, opset, {}, {}, {}};
  for (const Tensor* t : inputs) {
    init.constant_inputs.push_back(t);
    init.input_present.push_back(t != nullptr);
    init.input_shapes.push_back(t ? std::optional<Shape>(t->shape()) : std::nullopt);
  }
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, def->factory(init));
  std::vector<Tensor> outputs(node.output_size());
  std::vector<Tensor*> slots;
  for (int i = 0; i < node.output_size(); ++i) slots.push_back(node.output(i).empty() ? nullptr : &outputs[i]);
  NodeContext ctx(inputs, std::move(slots), threads, nullptr);
  TESSERA_RETURN_IF_ERROR(ComputeNode(*kernel, ctx));
  return outputs;
}

}  // namespace tessera::engine
