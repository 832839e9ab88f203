#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/conv_onednn_runtime.h"
#include "worker/engine/kernels/gemm_blas.h"
#include "worker/engine/kernels/gemm_kernel.h"
#include "worker/engine/kernels/matmul_onednn.h"
#include "worker/engine/kernels/matmul_shape.h"
#include "worker/engine/kernels/parallel.h"

namespace tessera::engine {
namespace {

// Below this many multiply-adds a product runs on one thread.
constexpr int64_t kMinParallelMacs = int64_t{1} << 18;

// Fewer rows than this use oneDNN's matmul when the weights allow it: at
// M = 1..8 (a classifier at small batch) it is about 4x faster than sgemm
// (bench/kernels/RESULTS.md, resnet_fc_512x1000).
constexpr int64_t kOneDnnMaxRows = 64;

class GemmKernel : public OpKernel {
 public:
  // `b_as_kn`: a constant float32 B already laid out as [K, N] (transposed
  // once at load when transB), enabling the oneDNN path for
  // Y = A @ B + C with alpha = beta = 1, no transA and C absent or [N].
  GemmKernel(float alpha, float beta, bool trans_a, bool trans_b, std::optional<Tensor> b_as_kn)
      : alpha_(alpha), beta_(beta), trans_a_(trans_a), trans_b_(trans_b), b_as_kn_(std::move(b_as_kn)) {}

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
    const bool bias_like_c = c == nullptr || (c->num_elements() == n && c->rank() >= 1 && c->shape().back() == n);
    if (type == DataType::kFloat32 && b_as_kn_.has_value() && m < kOneDnnMaxRows && k > 0 && !trans_a_ &&
        alpha_ == 1.0f && (c == nullptr || beta_ == 1.0f) && bias_like_c && b_as_kn_->dim(0) == k &&
        b_as_kn_->dim(1) == n) {
      TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<const OneDnnMatMul> mm, GetOneDnn(m, k, n, c != nullptr, threads));
      ScopedOmpThreads omp_threads(threads);
      return mm->Run(a->data<float>(), b_as_kn_->data<float>(), c ? c->data<float>() : nullptr, y->data<float>());
    }
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
  absl::StatusOr<std::shared_ptr<const OneDnnMatMul>> GetOneDnn(int64_t m, int64_t k, int64_t n, bool has_bias,
                                                                int threads) const {
    const std::vector<int64_t> key = {m, has_bias, threads};
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    OneDnnMatMul::Config config;
    TESSERA_ASSIGN_OR_RETURN(config.shape, ResolveMatMulShape({m, k}, {k, n}, "Gemm"));
    config.has_bias = has_bias;
    config.threads = threads;
    ScopedOmpThreads omp_threads(threads);
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<OneDnnMatMul> mm, OneDnnMatMul::Create(config, b_as_kn_->data<float>()));
    std::shared_ptr<const OneDnnMatMul> shared = std::move(mm);
    cache_.emplace(key, shared);
    return shared;
  }

  float alpha_, beta_;
  bool trans_a_, trans_b_;
  std::optional<Tensor> b_as_kn_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::vector<int64_t>, std::shared_ptr<const OneDnnMatMul>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpKernel>> CreateGemmKernel(const KernelInit& init) {
  // Opsets before 7 had a `broadcast` attribute; from 7 on C always broadcasts.
  const bool trans_b = init.attrs.GetInt("transB", 0) != 0;
  std::optional<Tensor> b_as_kn;
  const Tensor* b = init.constant_inputs.size() > 1 ? init.constant_inputs[1] : nullptr;
  if (b != nullptr && b->dtype() == DataType::kFloat32 && b->rank() == 2) {
    if (!trans_b) {
      b_as_kn = *b;
    } else {  // [N, K] -> [K, N], once
      const int64_t n = b->dim(0), k = b->dim(1);
      Tensor t = Tensor::Allocate(DataType::kFloat32, {k, n});
      const float* src = b->data<float>();
      float* dst = t.data<float>();
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < k; ++j) dst[j * n + i] = src[i * k + j];
      }
      b_as_kn = std::move(t);
    }
  }
  return std::make_unique<GemmKernel>(init.attrs.GetFloat("alpha", 1.0f), init.attrs.GetFloat("beta", 1.0f),
                                      init.attrs.GetInt("transA", 0) != 0, trans_b, std::move(b_as_kn));
}

}  // namespace tessera::engine
