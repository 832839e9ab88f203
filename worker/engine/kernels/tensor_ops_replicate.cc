// Expand (broadcast to a shape) and Tile (repeat along each axis).
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/broadcast.h"
#include "worker/engine/kernels/tensor_ops_common.h"
#include "worker/engine/kernels/tensor_ops_copy.h"

namespace tessera::engine::tensor_ops {
namespace {

absl::StatusOr<std::unique_ptr<OpKernel>> CreateExpand(const KernelInit&) {
  return MakeKernel([](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Expand", ctx, 0, "input"));
    TESSERA_ASSIGN_OR_RETURN(const Tensor* shape_t, RequiredInput("Expand", ctx, 1, "shape"));
    TESSERA_ASSIGN_OR_RETURN(Shape target, ReadInt64Vector("Expand", "shape", *shape_t));
    for (int64_t d : target) {
      if (d < 0) {
        return absl::InvalidArgumentError(absl::StrCat("Expand: shape ", ShapeToString(target),
                                                       " has a negative dimension"));
      }
    }
    auto out_shape = BroadcastShapes({data->shape(), target});
    if (!out_shape.ok()) return absl::InvalidArgumentError(absl::StrCat("Expand: ", out_shape.status().message()));
    TESSERA_RETURN_IF_ERROR(ValidateOutputShape("Expand", *out_shape, data->dtype()));
    Tensor* out = ctx.AllocateOutput(0, data->dtype(), *out_shape);
    CopyStridedToContiguous(DataTypeSize(data->dtype()), *out_shape, BroadcastStrides(data->shape(), *out_shape),
                            data->raw_data(), out->raw_data(), ctx.num_threads());
    return absl::OkStatus();
  });
}

// Tile's output along axis k is [repeats_k, dim_k] in row-major order, so
// the whole output is a strided copy over [r0, d0, r1, d1, ...] with source
// strides [0, s0, 0, s1, ...].
absl::StatusOr<std::unique_ptr<OpKernel>> CreateTile(const KernelInit&) {
  return MakeKernel([](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Tile", ctx, 0, "input"));
    TESSERA_ASSIGN_OR_RETURN(const Tensor* repeats_t, RequiredInput("Tile", ctx, 1, "repeats"));
    TESSERA_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, ReadInt64Vector("Tile", "repeats", *repeats_t));
    const int rank = data->rank();
    if (static_cast<int>(repeats.size()) != rank) {
      return absl::InvalidArgumentError(absl::StrCat("Tile: repeats has ", repeats.size(),
                                                     " entries but the input has rank ", rank));
    }
    Shape out_shape(rank), split_shape(2 * rank);
    std::vector<int64_t> split_strides(2 * rank);
    const std::vector<int64_t> in_strides = ContiguousStrides(data->shape());
    for (int d = 0; d < rank; ++d) {
      if (repeats[d] < 0) {
        return absl::InvalidArgumentError(absl::StrCat("Tile: repeats ", ShapeToString(repeats),
                                                       " has a negative entry"));
      }
      if (data->dim(d) != 0 && repeats[d] > std::numeric_limits<int64_t>::max() / data->dim(d)) {
        return absl::InvalidArgumentError(absl::StrCat("Tile: repeats ", ShapeToString(repeats),
                                                       " overflow the output size"));
      }
      out_shape[d] = data->dim(d) * repeats[d];
      split_shape[2 * d] = repeats[d];
      split_shape[2 * d + 1] = data->dim(d);
      split_strides[2 * d] = 0;
      split_strides[2 * d + 1] = in_strides[d];
    }
    TESSERA_RETURN_IF_ERROR(ValidateOutputShape("Tile", out_shape, data->dtype()));
    Tensor* out = ctx.AllocateOutput(0, data->dtype(), out_shape);
    CopyStridedToContiguous(DataTypeSize(data->dtype()), split_shape, split_strides, data->raw_data(),
                            out->raw_data(), ctx.num_threads());
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterReplicateKernels(KernelRegistry& registry) {
  RegisterOp(registry, "Expand", CreateExpand);
  RegisterOp(registry, "Tile", CreateTile);
}

}  // namespace tessera::engine::tensor_ops
