// Concat and Split: joining and cutting tensors along one axis.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/tensor_ops_common.h"
#include "worker/engine/kernels/tensor_ops_copy.h"

namespace tessera::engine::tensor_ops {
namespace {

// One input (Concat) or output (Split) of an axis copy: `outer` rows of
// `row_bytes` bytes, row r read at src + r * src_stride and written at
// dst + r * dst_stride.
struct BlockRun {
  const char* src;
  size_t src_stride;
  char* dst;
  size_t dst_stride;
  size_t row_bytes;
};

// Copies `outer` rows of every run; parallel over rows, or within each row
// when there are fewer rows than threads (e.g. axis 0).
void CopyRuns(const std::vector<BlockRun>& runs, int64_t outer, int threads) {
  size_t bytes_per_row = 0;
  for (const auto& r : runs) bytes_per_row += r.row_bytes;
  if (bytes_per_row == 0 || outer == 0) return;
  if (outer < threads) {
    for (int64_t o = 0; o < outer; ++o) {
      for (const auto& r : runs) {
        ParallelMemcpy(r.dst + o * r.dst_stride, r.src + o * r.src_stride, r.row_bytes, threads);
      }
    }
    return;
  }
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(64 * 1024 / bytes_per_row));
  ParallelFor(threads, outer, grain, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      for (const auto& r : runs) std::memcpy(r.dst + o * r.dst_stride, r.src + o * r.src_stride, r.row_bytes);
    }
  });
}

// ---- Concat ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<OpKernel>> CreateConcat(const KernelInit& init) {
  if (!init.attrs.Has("axis")) return absl::InvalidArgumentError("Concat: attribute 'axis' is required");
  const int64_t axis_attr = init.attrs.GetInt("axis", 0);
  return MakeKernel([axis_attr](KernelContext& ctx) -> absl::Status {
    if (ctx.num_inputs() < 1) return absl::InvalidArgumentError("Concat: needs at least one input");
    TESSERA_ASSIGN_OR_RETURN(const Tensor* first, RequiredInput("Concat", ctx, 0, "inputs"));
    const int rank = first->rank();
    if (rank == 0) return absl::InvalidArgumentError("Concat: inputs must have rank >= 1, got a scalar");
    TESSERA_ASSIGN_OR_RETURN(int axis, NormalizeAxis("Concat", axis_attr, rank));
    Shape out_shape = first->shape();
    out_shape[axis] = 0;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      TESSERA_ASSIGN_OR_RETURN(const Tensor* t, RequiredInput("Concat", ctx, i, "inputs"));
      if (t->dtype() != first->dtype()) {
        return absl::InvalidArgumentError(absl::StrCat("Concat: input ", i, " is ", DataTypeName(t->dtype()),
                                                       " but input 0 is ", DataTypeName(first->dtype())));
      }
      bool same = t->rank() == rank;
      for (int d = 0; same && d < rank; ++d) same = d == axis || t->dim(d) == first->dim(d);
      if (!same) {
        return absl::InvalidArgumentError(absl::StrCat("Concat: input ", i, " has shape ", ShapeToString(t->shape()),
                                                       ", incompatible with input 0 shape ",
                                                       ShapeToString(first->shape()), " on axis ", axis));
      }
      out_shape[axis] += t->dim(axis);
    }
    TESSERA_RETURN_IF_ERROR(ValidateOutputShape("Concat", out_shape, first->dtype()));
    Tensor* out = ctx.AllocateOutput(0, first->dtype(), out_shape);
    const size_t elem = DataTypeSize(first->dtype());
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= out_shape[d];
    for (int d = axis + 1; d < rank; ++d) inner *= out_shape[d];
    const size_t out_row = static_cast<size_t>(out_shape[axis] * inner) * elem;
    std::vector<BlockRun> runs;
    size_t offset = 0;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor* t = ctx.input(i);
      const size_t row = static_cast<size_t>(t->dim(axis) * inner) * elem;
      if (row > 0) {
        runs.push_back({static_cast<const char*>(t->raw_data()), row, static_cast<char*>(out->raw_data()) + offset,
                        out_row, row});
      }
      offset += row;
    }
    CopyRuns(runs, outer, ctx.num_threads());
    return absl::OkStatus();
  });
}

// ---- Split -----------------------------------------------------------------

class SplitKernel : public OpKernel {
 public:
  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    auto k = std::make_unique<SplitKernel>();
    k->axis_ = init.attrs.GetInt("axis", 0);
    k->split_from_input_ = init.opset >= 13;
    k->attr_split_ = init.attrs.GetInts("split");
    k->num_outputs_attr_ = init.attrs.GetInt("num_outputs", 0);
    if (k->num_outputs_attr_ < 0) return absl::InvalidArgumentError("Split: num_outputs must be positive");
    return std::unique_ptr<OpKernel>(std::move(k));
  }

  absl::Status Compute(KernelContext& ctx) const override {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Split", ctx, 0, "input"));
    if (data->rank() == 0) return absl::InvalidArgumentError("Split: input must have rank >= 1, got a scalar");
    TESSERA_ASSIGN_OR_RETURN(int axis, NormalizeAxis("Split", axis_, data->rank()));
    const int n_out = ctx.num_outputs();
    if (n_out < 1) return absl::InvalidArgumentError("Split: needs at least one output");
    TESSERA_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, PartSizes(ctx, data->dim(axis), n_out));

    const size_t elem = DataTypeSize(data->dtype());
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= data->dim(d);
    for (int d = axis + 1; d < data->rank(); ++d) inner *= data->dim(d);
    const size_t in_row = static_cast<size_t>(data->dim(axis) * inner) * elem;
    std::vector<BlockRun> runs;
    size_t offset = 0;
    for (int i = 0; i < n_out; ++i) {
      const size_t row = static_cast<size_t>(sizes[i] * inner) * elem;
      if (ctx.output_requested(i)) {
        Shape shape = data->shape();
        shape[axis] = sizes[i];
        Tensor* out = ctx.AllocateOutput(i, data->dtype(), shape);
        if (row > 0) {
          runs.push_back({static_cast<const char*>(data->raw_data()) + offset, in_row,
                          static_cast<char*>(out->raw_data()), row, row});
        }
      }
      offset += row;
    }
    CopyRuns(runs, outer, ctx.num_threads());
    return absl::OkStatus();
  }

 private:
  // The length of every part along the axis.
  absl::StatusOr<std::vector<int64_t>> PartSizes(const KernelContext& ctx, int64_t dim, int n_out) const {
    std::vector<int64_t> split = attr_split_;
    bool explicit_split = !split_from_input_ && !split.empty();
    if (split_from_input_) {
      if (const Tensor* t = ctx.input(1); t != nullptr) {
        TESSERA_ASSIGN_OR_RETURN(split, ReadInt64Vector("Split", "split", *t));
        explicit_split = true;
      }
    }
    if (explicit_split) {
      if (static_cast<int>(split.size()) != n_out) {
        return absl::InvalidArgumentError(absl::StrCat("Split: split has ", split.size(), " entries but the node has ",
                                                       n_out, " outputs"));
      }
      int64_t sum = 0;
      for (int64_t s : split) {
        if (s < 0) return absl::InvalidArgumentError(absl::StrCat("Split: negative split size ", s));
        sum += s;
      }
      if (sum != dim) {
        return absl::InvalidArgumentError(
            absl::StrCat("Split: split sizes sum to ", sum, " but the axis has length ", dim));
      }
      return split;
    }
    if (num_outputs_attr_ > 0) {
      // Opset 18: ceil(dim / n) per part, the last part smaller.
      if (num_outputs_attr_ != n_out) {
        return absl::InvalidArgumentError(absl::StrCat("Split: num_outputs is ", num_outputs_attr_,
                                                       " but the node has ", n_out, " outputs"));
      }
      const int64_t part = (dim + n_out - 1) / n_out;
      std::vector<int64_t> sizes(n_out);
      int64_t left = dim;
      for (int i = 0; i < n_out; ++i) {
        sizes[i] = std::min(part, left);
        left -= sizes[i];
      }
      return sizes;
    }
    if (dim % n_out != 0) {
      return absl::InvalidArgumentError(absl::StrCat("Split: axis length ", dim, " cannot be split into ", n_out,
                                                     " equal parts"));
    }
    return std::vector<int64_t>(n_out, dim / n_out);
  }

  int64_t axis_ = 0;
  bool split_from_input_ = false;
  std::vector<int64_t> attr_split_;
  int64_t num_outputs_attr_ = 0;
};

}  // namespace

void RegisterConcatSplitKernels(KernelRegistry& registry) {
  RegisterOp(registry, "Concat", CreateConcat);
  RegisterOp(registry, "Split", FactoryOf<SplitKernel>());
}

}  // namespace tessera::engine::tensor_ops
