#include "worker/engine/tessera_schemas.h"

#include <string>

#include "absl/base/call_once.h"
#include "onnx/defs/schema.h"
#include "onnx/defs/shape_inference.h"

namespace tessera::engine {
namespace {

onnx::OpSchema DelaySchema() {
  onnx::OpSchema schema;
  schema.SetName("Delay")
      .SetDomain(std::string(kTesseraSimDomain))
      .SinceVersion(kTesseraSimOpset)
      .SetDoc(
          "Returns X unchanged after sleeping microseconds_per_sample * X.shape[0] + microseconds "
          "(a scalar X counts as one sample). Simulates a host's compute time without using a core.")
      .Attr("microseconds_per_sample", "Sleep per sample (dimension 0 of X), >= 0.", onnx::AttributeProto::INT,
            static_cast<int64_t>(0))
      .Attr("microseconds", "Fixed sleep per call, >= 0.", onnx::AttributeProto::INT, static_cast<int64_t>(0))
      .Input(0, "X", "Any tensor.", "T")
      .Output(0, "Y", "X itself.", "T")
      .TypeConstraint("T", onnx::OpSchema::all_tensor_types(), "Any tensor type.")
      .TypeAndShapeInferenceFunction(
          [](onnx::InferenceContext& ctx) { onnx::propagateShapeAndTypeFromFirstInput(ctx); });
  return schema;
}

}  // namespace

void RegisterTesseraSchemas() {
  static absl::once_flag once;
  absl::call_once(once, [] {
    auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance();
    if (ranges.Map().count(std::string(kTesseraSimDomain)) == 0) {
      ranges.AddDomainToVersion(std::string(kTesseraSimDomain), kTesseraSimOpset, kTesseraSimOpset);
    }
    if (onnx::OpSchemaRegistry::Schema("Delay", kTesseraSimOpset, std::string(kTesseraSimDomain)) == nullptr) {
      onnx::RegisterSchema(DelaySchema());
    }
  });
}

}  // namespace tessera::engine
