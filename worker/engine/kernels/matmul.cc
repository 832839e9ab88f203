#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "worker/engine/kernels/conv_fused_activation.h"
#include "worker/engine/kernels/conv_onednn_runtime.h"
#include "worker/engine/kernels/gemm_blas.h"
#include "worker/engine/kernels/matmul_kernel.h"
#include "worker/engine/kernels/matmul_onednn.h"
#include "worker/engine/kernels/matmul_shape.h"
#include "worker/engine/kernels/parallel.h"

namespace tessera::engine {
namespace {

// Below this many multiply-adds a product runs on one thread.
constexpr int64_t kMinParallelMacs = int64_t{1} << 16;

// The backend measured fastest for this shape on AVX2 with 2 threads
// (bench/kernels/RESULTS.md).
MatMulBackend ChooseBackend(const MatMulShape& s) {
  if (!OneDnnMatMul::Supports(s)) return MatMulBackend::kBlas;
  return MatMulBackend::kOneDnn;
}

// y = act(a @ b + bias) through BlasGemm, split into (batch, row or column
// block) items over ParallelFor. `activation` is only used for float.
template <typename T>
void BlasMatMul(const MatMulShape& s, const T* a, const T* b, const T* bias, const FusedActivation& activation,
                T* y, int threads) {
  const int64_t batches = s.b_shared ? 1 : s.batch_count;
  const int64_t rows = s.b_shared ? s.batch_count * s.m : s.m;
  const int64_t cols = s.n, k = s.k;
  if (batches * rows * cols * std::max<int64_t>(k, 1) < kMinParallelMacs) threads = 1;
  const bool split_rows = rows >= cols;
  const int64_t split_extent = split_rows ? rows : cols;
  const int64_t blocks =
      std::clamp<int64_t>((threads + batches - 1) / batches, 1, std::max<int64_t>(1, split_extent / 16));
  std::vector<std::pair<int64_t, int64_t>> offsets(batches, {0, 0});
  if (!s.b_shared) {
    for (int64_t i = 0; i < batches; ++i) s.BatchOffsets(i, offsets[i].first, offsets[i].second);
  }
  ParallelFor(threads, batches * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t batch = item / blocks, blk = item % blocks;
      int64_t r0 = 0, r1 = rows, c0 = 0, c1 = cols;
      if (split_rows) {
        r0 = rows * blk / blocks;
        r1 = rows * (blk + 1) / blocks;
      } else {
        c0 = cols * blk / blocks;
        c1 = cols * (blk + 1) / blocks;
      }
      T* yb = y + batch * rows * cols + r0 * cols + c0;
      const T* ab = a + offsets[batch].first + r0 * k;
      const T* bb = b + offsets[batch].second + c0;
      T beta = T(0);
      if (bias != nullptr) {
        for (int64_t r = r0; r < r1; ++r) std::copy(bias + c0, bias + c1, yb + (r - r0) * cols);
        beta = T(1);
      }
      BlasGemm(false, false, r1 - r0, c1 - c0, k, T(1), ab, k, bb, cols, beta, yb, cols);
      if constexpr (std::is_same_v<T, float>) {
        if (!activation.is_none()) {
          for (int64_t r = r0; r < r1; ++r) activation.Apply(yb + (r - r0) * cols, c1 - c0);
        }
      }
    }
  });
}

class MatMulKernel : public OpKernel {
 public:
  MatMulKernel(MatMulKernelOptions options, FusedActivation activation, std::optional<Tensor> constant_b)
      : options_(options), activation_(activation), constant_b_(std::move(constant_b)) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const char* op = options_.fused ? "FusedMatMul" : "MatMul";
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    const Tensor* bias = options_.fused ? ctx.input(2) : nullptr;
    if (a == nullptr || b == nullptr) return absl::InvalidArgumentError(absl::StrCat(op, ": inputs A and B are required"));
    const DataType type = a->dtype();
    if (type != DataType::kFloat32 && type != DataType::kFloat64 && type != DataType::kInt32 &&
        type != DataType::kInt64) {
      return absl::UnimplementedError(absl::StrCat(op, ": element type ", DataTypeName(type),
                                                   " is not supported (float32, float64, int32, int64)"));
    }
    if (options_.fused && type != DataType::kFloat32) {
      return absl::UnimplementedError(absl::StrCat(op, ": element type ", DataTypeName(type),
                                                   " is not supported (float32 only)"));
    }
    for (const Tensor* t : {b, bias}) {
      if (t != nullptr && t->dtype() != type) {
        return absl::InvalidArgumentError(absl::StrCat(op, ": all inputs must have A's element type ",
                                                       DataTypeName(type), ", got ", DataTypeName(t->dtype())));
      }
    }
    TESSERA_ASSIGN_OR_RETURN(MatMulShape s, ResolveMatMulShape(a->shape(), b->shape(), op));
    if (bias != nullptr && bias->num_elements() != s.n) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": bias C must have ", s.n, " elements (the columns of B), got ",
                                                     ShapeToString(bias->shape())));
    }
    TESSERA_RETURN_IF_ERROR(ValidateShape(s.output, type));
    Tensor* y = ctx.AllocateOutput(0, type, s.output);
    if (y->num_elements() == 0) return absl::OkStatus();
    const int threads = ctx.num_threads();
    return DispatchType<float, double, int32_t, int64_t>(type, [&](auto tag) -> absl::Status {
      using T = decltype(tag);
      const T* bias_data = bias ? bias->data<T>() : nullptr;
      if constexpr (std::is_same_v<T, float>) {
        MatMulBackend backend = options_.backend == MatMulBackend::kAuto ? ChooseBackend(s) : options_.backend;
        if (!OneDnnMatMul::Supports(s) || s.k == 0) backend = MatMulBackend::kBlas;
        if (backend == MatMulBackend::kOneDnn) {
          TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<const OneDnnMatMul> mm,
                                   GetOneDnn(s, a->shape(), b->shape(), bias != nullptr, threads));
          ScopedOmpThreads omp_threads(threads);
          return mm->Run(a->data<float>(), b->data<float>(), bias_data, y->data<float>());
        }
      }
      BlasMatMul<T>(s, a->data<T>(), b->data<T>(), bias_data, activation_, y->data<T>(), threads);
      return absl::OkStatus();
    });
  }

 private:
  absl::StatusOr<std::shared_ptr<const OneDnnMatMul>> GetOneDnn(const MatMulShape& s, const Shape& a_shape,
                                                                const Shape& b_shape, bool has_bias,
                                                                int threads) const {
    std::vector<int64_t> key = {threads, has_bias, static_cast<int64_t>(a_shape.size())};
    key.insert(key.end(), a_shape.begin(), a_shape.end());
    key.insert(key.end(), b_shape.begin(), b_shape.end());
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    OneDnnMatMul::Config config;
    config.shape = s;
    config.has_bias = has_bias;
    config.activation = activation_;
    config.threads = threads;
    const bool b_constant = constant_b_.has_value() && constant_b_->shape() == b_shape;
    ScopedOmpThreads omp_threads(threads);
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<OneDnnMatMul> mm,
                             OneDnnMatMul::Create(config, b_constant ? constant_b_->data<float>() : nullptr));
    std::shared_ptr<const OneDnnMatMul> shared = std::move(mm);
    cache_.emplace(std::move(key), shared);
    return shared;
  }

  MatMulKernelOptions options_;
  FusedActivation activation_;
  std::optional<Tensor> constant_b_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::vector<int64_t>, std::shared_ptr<const OneDnnMatMul>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpKernel>> CreateMatMulKernel(const KernelInit& init,
                                                             const MatMulKernelOptions& options) {
  FusedActivation activation;
  if (options.fused) {
    TESSERA_ASSIGN_OR_RETURN(activation, FusedActivation::FromAttributes(init.attrs, "FusedMatMul"));
  }
  std::optional<Tensor> constant_b;
  if (init.constant_inputs.size() > 1 && init.constant_inputs[1] != nullptr &&
      init.constant_inputs[1]->dtype() == DataType::kFloat32) {
    constant_b = *init.constant_inputs[1];
  }
  return std::make_unique<MatMulKernel>(options, activation, std::move(constant_b));
}

}  // namespace tessera::engine
