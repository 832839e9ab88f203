#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/gemm_blas.h"
#include "worker/engine/kernels/gemm_kernel.h"
#include "worker/engine/kernels/parallel.h"

namespace tessera::engine {
namespace {

constexpr int64_t kMinParallelMacs = int64_t{1} << 16;

class GemmKernel : public OpKernel {
 public:
  GemmKernel(float alpha, float beta, bool trans_a, bool trans_b)
      : alpha_(alpha), beta_(beta), trans_a_(trans_a), trans_b_(trans_b) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    const Tensor* c = ctx.input(2);
    if (a == nullptr || b == nullptr) return absl::InvalidArgumentError("Gemm: inputs A and B are required");
    const DataType type = a->dtype();
    if (type != DataType::kFloat32 && type != DataType::kFloat64 && type != DataType::kInt32 &&
        type != DataType::kInt64) {
      return absl::UnimplementedError(absl::StrCat("Gemm: element type ", DataTypeName(type),
                                                   " is not supported (float32, float64, int32, int64)"));
    }
    for (const Tensor* t : {b, c}) {
      if (t != nullptr && t->dtype() != type) {
        return absl::InvalidArgumentError(absl::StrCat("Gemm: all inputs must have A's element type ",
                                                       DataTypeName(type), ", got ", DataTypeName(t->dtype())));
      }
    }
    if (a->rank() != 2 || b->rank() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("Gemm: A and B must be 2-D, got A ", ShapeToString(a->shape()),
                                                     " and B ", ShapeToString(b->shape())));
    }
    const int64_t m = trans_a_ ? a->dim(1) : a->dim(0);
    const int64_t k = trans_a_ ? a->dim(0) : a->dim(1);
    const int64_t kb = trans_b_ ? b->dim(1) : b->dim(0);
    const int64_t n = trans_b_ ? b->dim(0) : b->dim(1);
    if (k != kb) {
      return absl::InvalidArgumentError(absl::StrCat("Gemm: inner dimensions differ: A ", ShapeToString(a->shape()),
                                                     (trans_a_ ? " (transposed)" : ""), " and B ",
                                                     ShapeToString(b->shape()), (trans_b_ ? " (transposed)" : "")));
    }
    // C broadcasts unidirectionally to [M, N].
    int64_t c_row_stride = 0, c_col_stride = 0;
    if (c != nullptr) {
      const Shape& cs = c->shape();
      const bool ok = cs.size() <= 2 && (cs.empty() || cs.back() == n || cs.back() == 1) &&
                      (cs.size() < 2 || cs[0] == m || cs[0] == 1);
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat("Gemm: C ", ShapeToString(cs),
                                                       " does not broadcast to the output [", m, ",", n, "]"));
      }
      c_col_stride = (!cs.empty() && cs.back() == n && n != 1) ? 1 : 0;
      c_row_stride = (cs.size() == 2 && cs[0] == m && m != 1) ? cs[1] : 0;
    }
    Tensor* y = ctx.AllocateOutput(0, type, {m, n});
    if (m == 0 || n == 0) return absl::OkStatus();
    int threads = ctx.num_threads();
    if (m * n * std::max<int64_t>(k, 1) < kMinParallelMacs) threads = 1;
    return DispatchType<float, double, int32_t, int64_t>(type, [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      const T* ad = a->data<T>();
      const T* bd = b->data<T>();
      const T* cd = c ? c->data<T>() : nullptr;
      T* yd = y->data<T>();
      const int64_t lda = a->dim(1), ldb = b->dim(1);
      const bool split_rows = m >= n;
      const int64_t extent = split_rows ? m : n;
      const int64_t blocks = std::clamp<int64_t>(threads, 1, std::max<int64_t>(1, extent / 16));
      ParallelFor(threads, blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t blk = begin; blk < end; ++blk) {
          int64_t r0 = 0, r1 = m, c0 = 0, c1 = n;
          if (split_rows) {
            r0 = m * blk / blocks;
            r1 = m * (blk + 1) / blocks;
          } else {
            c0 = n * blk / blocks;
            c1 = n * (blk + 1) / blocks;
          }
          T beta = T(0);
          if (cd != nullptr && beta_ != 0.0f) {
            for (int64_t r = r0; r < r1; ++r) {
              T* row = yd + r * n;
              const T* crow = cd + r * c_row_stride;
              for (int64_t j = c0; j < c1; ++j) row[j] = static_cast<T>(beta_ * crow[j * c_col_stride]);
            }
            beta = T(1);
          }
          const T* a_block = trans_a_ ? ad + r0 : ad + r0 * lda;
          const T* b_block = trans_b_ ? bd + c0 * ldb : bd + c0;
          BlasGemm(trans_a_, trans_b_, r1 - r0, c1 - c0, k, static_cast<T>(alpha_), a_block, lda, b_block, ldb, beta,
                   yd + r0 * n + c0, n);
        }
      });
      return absl::OkStatus();
    });
  }

 private:
  float alpha_, beta_;
  bool trans_a_, trans_b_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpKernel>> CreateGemmKernel(const KernelInit& init) {
  // Opsets before 7 had a `broadcast` attribute; from 7 on C always broadcasts.
  return std::make_unique<GemmKernel>(init.attrs.GetFloat("alpha", 1.0f), init.attrs.GetFloat("beta", 1.0f),
                                      init.attrs.GetInt("transA", 0) != 0, init.attrs.GetInt("transB", 0) != 0);
}

}  // namespace tessera::engine
