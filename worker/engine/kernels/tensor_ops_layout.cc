// Layout changes: Transpose, DepthToSpace, SpaceToDepth (the latter two are
// 6-D transposes of a reshaped NCHW input).
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/tensor_ops_common.h"
#include "worker/engine/kernels/tensor_ops_copy.h"

namespace tessera::engine::tensor_ops {
namespace {

// ---- Transpose -------------------------------------------------------------

absl::StatusOr<std::unique_ptr<OpKernel>> CreateTranspose(const KernelInit& init) {
  const bool has_perm = init.attrs.Has("perm");
  const std::vector<int64_t> perm_attr = init.attrs.GetInts("perm");
  return MakeKernel([has_perm, perm_attr](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Transpose", ctx, 0, "data"));
    const int rank = data->rank();
    std::vector<int> perm(rank);
    if (!has_perm) {
      for (int i = 0; i < rank; ++i) perm[i] = rank - 1 - i;
    } else {
      if (static_cast<int>(perm_attr.size()) != rank) {
        return absl::InvalidArgumentError(absl::StrCat("Transpose: perm [", absl::StrJoin(perm_attr, ","),
                                                       "] has ", perm_attr.size(), " entries for rank ", rank));
      }
      std::vector<bool> used(rank, false);
      for (int i = 0; i < rank; ++i) {
        const int64_t p = perm_attr[i];
        if (p < 0 || p >= rank || used[p]) {
          return absl::InvalidArgumentError(absl::StrCat("Transpose: perm [", absl::StrJoin(perm_attr, ","),
                                                         "] is not a permutation of the ", rank, " axes"));
        }
        used[p] = true;
        perm[i] = static_cast<int>(p);
      }
    }
    Shape out_shape(rank);
    for (int i = 0; i < rank; ++i) out_shape[i] = data->dim(perm[i]);
    Tensor* out = ctx.AllocateOutput(0, data->dtype(), out_shape);
    TransposeContiguous(DataTypeSize(data->dtype()), data->shape(), perm, data->raw_data(), out->raw_data(),
                        ctx.num_threads());
    return absl::OkStatus();
  });
}

// ---- DepthToSpace / SpaceToDepth -------------------------------------------

absl::Status CheckNchw(absl::string_view op, const Tensor& data, int64_t blocksize) {
  if (data.rank() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": input must be 4-D [N,C,H,W], got shape ", ShapeToString(data.shape())));
  }
  if (blocksize <= 0) return absl::InvalidArgumentError(absl::StrCat(op, ": blocksize ", blocksize, " must be > 0"));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<OpKernel>> CreateDepthToSpace(const KernelInit& init) {
  if (!init.attrs.Has("blocksize")) return absl::InvalidArgumentError("DepthToSpace: attribute 'blocksize' is required");
  const int64_t b = init.attrs.GetInt("blocksize", 0);
  const std::string mode = init.opset >= 11 ? init.attrs.GetString("mode", "DCR") : "DCR";
  if (mode != "DCR" && mode != "CRD") {
    return absl::InvalidArgumentError(absl::StrCat("DepthToSpace: mode '", mode, "' must be DCR or CRD"));
  }
  const bool crd = mode == "CRD";
  return MakeKernel([b, crd](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("DepthToSpace", ctx, 0, "input"));
    TESSERA_RETURN_IF_ERROR(CheckNchw("DepthToSpace", *data, b));
    const int64_t n = data->dim(0), c = data->dim(1), h = data->dim(2), w = data->dim(3);
    if (c % (b * b) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("DepthToSpace: channels ", c,
                                                     " are not divisible by blocksize^2 = ", b * b));
    }
    const int64_t oc = c / (b * b);
    Shape six;
    std::vector<int> perm;
    if (crd) {
      six = {n, oc, b, b, h, w};
      perm = {0, 1, 4, 2, 5, 3};
    } else {
      six = {n, b, b, oc, h, w};
      perm = {0, 3, 4, 1, 5, 2};
    }
    Tensor* out = ctx.AllocateOutput(0, data->dtype(), {n, oc, h * b, w * b});
    TransposeContiguous(DataTypeSize(data->dtype()), six, perm, data->raw_data(), out->raw_data(),
                        ctx.num_threads());
    return absl::OkStatus();
  });
}

absl::StatusOr<std::unique_ptr<OpKernel>> CreateSpaceToDepth(const KernelInit& init) {
  if (!init.attrs.Has("blocksize")) return absl::InvalidArgumentError("SpaceToDepth: attribute 'blocksize' is required");
  const int64_t b = init.attrs.GetInt("blocksize", 0);
  return MakeKernel([b](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("SpaceToDepth", ctx, 0, "input"));
    TESSERA_RETURN_IF_ERROR(CheckNchw("SpaceToDepth", *data, b));
    const int64_t n = data->dim(0), c = data->dim(1), h = data->dim(2), w = data->dim(3);
    if (h % b != 0 || w % b != 0) {
      return absl::InvalidArgumentError(absl::StrCat("SpaceToDepth: spatial size ", h, "x", w,
                                                     " is not divisible by blocksize ", b));
    }
    const Shape six = {n, c, h / b, b, w / b, b};
    const std::vector<int> perm = {0, 3, 5, 1, 2, 4};
    Tensor* out = ctx.AllocateOutput(0, data->dtype(), {n, c * b * b, h / b, w / b});
    TransposeContiguous(DataTypeSize(data->dtype()), six, perm, data->raw_data(), out->raw_data(),
                        ctx.num_threads());
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterLayoutKernels(KernelRegistry& registry) {
  RegisterOp(registry, "Transpose", CreateTranspose);
  RegisterOp(registry, "DepthToSpace", CreateDepthToSpace);
  RegisterOp(registry, "SpaceToDepth", CreateSpaceToDepth);
}

}  // namespace tessera::engine::tensor_ops
