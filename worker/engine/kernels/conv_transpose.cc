// ConvTranspose: col2im over an OpenBLAS GEMM (see conv_im2col.h). Every
// attribute of opsets 1..17 (auto_pad, dilations, group, kernel_shape,
// output_padding, output_shape, pads, strides) is honoured by the geometry.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/conv_geometry.h"
#include "worker/engine/kernels/conv_im2col.h"
#include "worker/engine/kernels/conv_kernel.h"

namespace tessera::engine {
namespace {

class ConvTransposeKernel : public OpKernel {
 public:
  explicit ConvTransposeKernel(ConvAttributes attrs) : attrs_(std::move(attrs)) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* w = ctx.input(1);
    const Tensor* b = ctx.input(2);
    if (x == nullptr || w == nullptr) {
      return absl::InvalidArgumentError("ConvTranspose: inputs X and W are required");
    }
    if (x->dtype() != DataType::kFloat32 && x->dtype() != DataType::kFloat64) {
      return absl::UnimplementedError(absl::StrCat("ConvTranspose: element type ", DataTypeName(x->dtype()),
                                                   " is not supported (float32, float64)"));
    }
    for (const Tensor* t : {w, b}) {
      if (t != nullptr && t->dtype() != x->dtype()) {
        return absl::InvalidArgumentError(absl::StrCat("ConvTranspose: all inputs must have X's element type ",
                                                       DataTypeName(x->dtype()), ", got ", DataTypeName(t->dtype())));
      }
    }
    TESSERA_ASSIGN_OR_RETURN(ConvGeometry g, ResolveConvTransposeGeometry(attrs_, x->shape(), w->shape()));
    if (g.spatial_rank > 8) return absl::UnimplementedError("ConvTranspose: at most 8 spatial axes are supported");
    if (b != nullptr && (b->rank() != 1 || b->dim(0) != g.out_channels)) {
      return absl::InvalidArgumentError(absl::StrCat("ConvTranspose: bias B must have shape [", g.out_channels,
                                                     "], got ", ShapeToString(b->shape())));
    }
    const Shape out_shape = g.OutputShape();
    TESSERA_RETURN_IF_ERROR(ValidateShape(out_shape, x->dtype()));
    Tensor* y = ctx.AllocateOutput(0, x->dtype(), out_shape);
    if (y->num_elements() == 0) return absl::OkStatus();
    if (x->dtype() == DataType::kFloat64) {
      Col2imConvTranspose<double>(g, x->data<double>(), w->data<double>(), b ? b->data<double>() : nullptr,
                                  y->data<double>(), ctx.num_threads());
    } else {
      Col2imConvTranspose<float>(g, x->data<float>(), w->data<float>(), b ? b->data<float>() : nullptr,
                                 y->data<float>(), ctx.num_threads());
    }
    return absl::OkStatus();
  }

 private:
  ConvAttributes attrs_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpKernel>> CreateConvTransposeKernel(const KernelInit& init) {
  TESSERA_ASSIGN_OR_RETURN(ConvAttributes attrs, ConvAttributes::Parse(init.attrs, "ConvTranspose"));
  return std::make_unique<ConvTransposeKernel>(std::move(attrs));
}

}  // namespace tessera::engine
