// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the
// last two axes and zeroes the rest.
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/tensor_ops_common.h"

namespace tessera::engine::tensor_ops {
namespace {

absl::StatusOr<std::unique_ptr<OpKernel>> CreateTrilu(const KernelInit& init) {
  const bool upper = init.attrs.GetInt("upper", 1) != 0;
  return MakeKernel([upper](KernelContext& ctx) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput("Trilu", ctx, 0, "input"));
    if (data->rank() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("Trilu: input must have rank >= 2, got shape ", ShapeToString(data->shape())));
    }
    int64_t k = 0;
    if (const Tensor* kt = ctx.input(1); kt != nullptr) {
      TESSERA_ASSIGN_OR_RETURN(k, ReadInt64Scalar("Trilu", "k", *kt));
    }
    Tensor* out = ctx.AllocateOutput(0, data->dtype(), data->shape());
    const int64_t h = data->dim(data->rank() - 2), w = data->dim(data->rank() - 1);
    const int64_t rows = data->num_elements() / std::max<int64_t>(1, w);
    if (out->num_elements() == 0) return absl::OkStatus();
    const size_t elem = DataTypeSize(data->dtype());
    const char* src = static_cast<const char*>(data->raw_data());
    char* dst = static_cast<char*>(out->raw_data());
    // Zero bytes are the zero of every element type (0, 0.0, false).
    ParallelFor(ctx.num_threads(), rows, std::max<int64_t>(1, kParallelGrain / w), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t i = r % h;
        // Columns [keep_begin, keep_end) are kept.
        const __int128 diag = static_cast<__int128>(i) + k;
        int64_t keep_begin, keep_end;
        if (upper) {
          keep_begin = static_cast<int64_t>(std::clamp<__int128>(diag, 0, w));
          keep_end = w;
        } else {
          keep_begin = 0;
          keep_end = static_cast<int64_t>(std::clamp<__int128>(diag + 1, 0, w));
        }
        const size_t row = static_cast<size_t>(r * w) * elem;
        std::memset(dst + row, 0, static_cast<size_t>(keep_begin) * elem);
        std::memcpy(dst + row + keep_begin * elem, src + row + keep_begin * elem,
                    static_cast<size_t>(keep_end - keep_begin) * elem);
        std::memset(dst + row + keep_end * elem, 0, static_cast<size_t>(w - keep_end) * elem);
      }
    });
    return absl::OkStatus();
  });
}

}  // namespace

void RegisterTriluKernels(KernelRegistry& registry) { RegisterOp(registry, "Trilu", CreateTrilu); }

}  // namespace tessera::engine::tensor_ops
