// Einsum (ai.onnx opset 12+): float32, float64, int32, int64.
//
// Each operand becomes a strided view with one dimension per distinct label
// (a label repeated inside one operand, a diagonal, gets the sum of its
// strides; a broadcast size-1 dimension gets stride 0). Operands are
// contracted left to right; each pairwise step classifies the labels as
//   batch (both operands, still needed), contracted (both, no longer needed),
//   M (first only, needed), N (second only, needed), and
//   summed-out (one operand only, no longer needed: summed before the product)
// and runs a batched [M x K] * [K x N] product. Float operands already laid
// out as [batch, M, K] or [batch, K, M] (and likewise for B) go to
// cblas_?gemm straight from the input memory, e.g. "bij,bjk->bik" and
// "bhid,bhjd->bhij"; anything else is copied into that layout first. Small or
// integer products use a plain loop. A single operand is a permute + sum.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/einsum_equation.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/reduce_group.h"

namespace tessera::engine {
namespace {

constexpr int64_t kGrain = 16384;
// Products with fewer multiply-adds per batch than this use the plain loop.
constexpr int64_t kBlasMinWork = 32768;

using Labels = std::vector<int>;

// An operand (or intermediate) as a strided view: one dimension per label.
template <typename T>
struct View {
  const T* data = nullptr;
  Labels labels;
  std::vector<int64_t> strides;
  std::vector<T> storage;  // owns `data` for intermediates

  int64_t StrideOf(int label) const {
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] == label) return strides[i];
    }
    return 0;
  }
  bool Has(int label) const { return std::find(labels.begin(), labels.end(), label) != labels.end(); }
};

struct Sizes {
  std::vector<int64_t> of_label;
  int64_t Product(const Labels& labels) const {
    int64_t p = 1;
    for (int l : labels) p *= of_label[l];
    return p;
  }
};

// Copies view `v` into contiguous `dst` laid out in label order `order`
// (every label of `order` must be in `v`; labels of `v` missing from `order`
// are fixed at index 0).
template <typename T>
void Materialize(const View<T>& v, const Labels& order, const Sizes& sizes, T* dst) {
  const int rank = static_cast<int>(order.size());
  std::vector<int64_t> dims(rank), strides(rank);
  for (int i = 0; i < rank; ++i) {
    dims[i] = sizes.of_label[order[i]];
    strides[i] = v.StrideOf(order[i]);
  }
  const int64_t total = sizes.Product(order);
  if (total == 0) return;
  if (rank == 0) {
    dst[0] = v.data[0];
    return;
  }
  const int64_t inner = dims[rank - 1];
  const int64_t inner_stride = strides[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t src_offset = 0;
  for (int64_t out = 0; out < total; out += inner) {
    const T* src = v.data + src_offset;
    T* d = dst + out;
    if (inner_stride == 1) {
      std::memcpy(d, src, static_cast<size_t>(inner) * sizeof(T));
    } else {
      for (int64_t j = 0; j < inner; ++j) d[j] = src[j * inner_stride];
    }
    for (int k = rank - 2; k >= 0; --k) {
      src_offset += strides[k];
      if (++idx[k] < dims[k]) break;
      src_offset -= strides[k] * dims[k];
      idx[k] = 0;
    }
  }
}

// True when `v` is exactly contiguous in label order `order`.
template <typename T>
bool IsContiguous(const View<T>& v, const Labels& order, const Sizes& sizes) {
  int64_t expected = 1;
  for (int i = static_cast<int>(order.size()) - 1; i >= 0; --i) {
    const int64_t size = sizes.of_label[order[i]];
    if (size != 1 && v.StrideOf(order[i]) != expected) return false;
    expected *= size;
  }
  return true;
}

Labels Concat(std::initializer_list<const Labels*> parts) {
  Labels out;
  for (const Labels* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}

// Writes sum over `summed` of v into contiguous `dst` ordered as `keep`.
template <typename T>
void SumOut(const View<T>& v, const Labels& keep, const Labels& summed, const Sizes& sizes, T* dst, int threads) {
  const int64_t outer = sizes.Product(keep);
  const int64_t n = sizes.Product(summed);
  if (n == 1 || outer == 0) {
    Materialize(v, keep, sizes, dst);
    return;
  }
  if (n == 0) {
    std::fill(dst, dst + outer, T(0));
    return;
  }
  std::vector<T> tmp(static_cast<size_t>(outer * n));
  Materialize(v, Concat({&keep, &summed}), sizes, tmp.data());
  const int64_t grain = std::max<int64_t>(1, kGrain / n);
  ParallelFor(threads, outer, grain, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const T* src = tmp.data() + o * n;
      T sum = T(0);
      for (int64_t i = 0; i < n; ++i) sum += src[i];
      dst[o] = sum;
    }
  });
}

// An operand of the batched product: contiguous [batch, rows, cols], or
// with `transposed` [batch, cols, rows].
template <typename T>
struct GemmOperand {
  const T* data;
  bool transposed;
};

// Lays `v` out as [batch, first, second] (or finds it already is, possibly
// transposed), using `scratch` when a copy is needed.
template <typename T>
GemmOperand<T> PrepareOperand(const View<T>& v, const Labels& batch, const Labels& first, const Labels& second,
                              const Sizes& sizes, std::vector<T>& scratch) {
  const Labels direct = Concat({&batch, &first, &second});
  if (IsContiguous(v, direct, sizes)) return {v.data, false};
  const Labels swapped = Concat({&batch, &second, &first});
  if (IsContiguous(v, swapped, sizes)) return {v.data, true};
  scratch.resize(static_cast<size_t>(sizes.Product(direct)));
  Materialize(v, direct, sizes, scratch.data());
  return {scratch.data(), false};
}

// C[b] = A[b] (m x k) * B[b] (k x n) for b < batch; C contiguous.
template <typename T>
void BatchedProduct(GemmOperand<T> a, GemmOperand<T> b, T* c, int64_t batch, int64_t m, int64_t n, int64_t k,
                    int threads) {
  if (batch * m * n == 0) return;
  if (k == 0) {
    std::fill(c, c + batch * m * n, T(0));
    return;
  }
  if constexpr (std::is_floating_point_v<T>) {
    if (m * n * k >= kBlasMinWork) {
      const auto ta = a.transposed ? CblasTrans : CblasNoTrans;
      const auto tb = b.transposed ? CblasTrans : CblasNoTrans;
      const int lda = static_cast<int>(a.transposed ? m : k);
      const int ldb = static_cast<int>(b.transposed ? k : n);
      for (int64_t i = 0; i < batch; ++i) {
        const T* ap = a.data + i * m * k;
        const T* bp = b.data + i * k * n;
        T* cp = c + i * m * n;
        if constexpr (std::is_same_v<T, float>) {
          cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, ap,
                      lda, bp, ldb, 0.0f, cp, static_cast<int>(n));
        } else {
          cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, ap,
                      lda, bp, ldb, 0.0, cp, static_cast<int>(n));
        }
      }
      return;
    }
  }
  // Plain loop over output rows: C[i, :] += A[i, p] * B[p, :].
  const int64_t a_row = a.transposed ? 1 : k, a_col = a.transposed ? m : 1;
  const int64_t b_row = b.transposed ? 1 : n, b_col = b.transposed ? k : 1;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * k));
  ParallelFor(threads, batch * m, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t bi = row / m, i = row % m;
      const T* ap = a.data + bi * m * k + i * a_row;
      const T* bp = b.data + bi * k * n;
      T* cp = c + bi * m * n + i * n;
      std::fill(cp, cp + n, T(0));
      for (int64_t p = 0; p < k; ++p) {
        const T av = ap[p * a_col];
        const T* brow = bp + p * b_row;
        if (b_col == 1) {
          for (int64_t j = 0; j < n; ++j) cp[j] += av * brow[j];
        } else {
          for (int64_t j = 0; j < n; ++j) cp[j] += av * brow[j * b_col];
        }
      }
    }
  });
}

// Contracts a and b, keeping labels in `needed`. When `final_order` is given
// the result is written to `out` in that label order and an empty view is
// returned; otherwise the result view ([batch, M, N]) owns its storage.
template <typename T>
View<T> Contract(const View<T>& a, const View<T>& b, const std::vector<bool>& needed, const Sizes& sizes,
                 const Labels* final_order, T* out, int threads) {
  Labels batch, contracted, m_labels, n_labels, a_summed, b_summed;
  for (int l : a.labels) {
    const bool in_b = b.Has(l);
    if (in_b) {
      (needed[l] ? batch : contracted).push_back(l);
    } else {
      (needed[l] ? m_labels : a_summed).push_back(l);
    }
  }
  for (int l : b.labels) {
    if (!a.Has(l)) (needed[l] ? n_labels : b_summed).push_back(l);
  }
  // Sum out labels only one side has and nobody needs.
  View<T> a_reduced, b_reduced;
  const View<T>* ap = &a;
  const View<T>* bp = &b;
  if (!a_summed.empty()) {
    a_reduced.labels = Concat({&batch, &m_labels, &contracted});
    a_reduced.storage.resize(static_cast<size_t>(sizes.Product(a_reduced.labels)));
    SumOut(a, a_reduced.labels, a_summed, sizes, a_reduced.storage.data(), threads);
    a_reduced.data = a_reduced.storage.data();
    a_reduced.strides.assign(a_reduced.labels.size(), 0);
    int64_t s = 1;
    for (int i = static_cast<int>(a_reduced.labels.size()) - 1; i >= 0; --i) {
      a_reduced.strides[i] = s;
      s *= sizes.of_label[a_reduced.labels[i]];
    }
    ap = &a_reduced;
  }
  if (!b_summed.empty()) {
    b_reduced.labels = Concat({&batch, &contracted, &n_labels});
    b_reduced.storage.resize(static_cast<size_t>(sizes.Product(b_reduced.labels)));
    SumOut(b, b_reduced.labels, b_summed, sizes, b_reduced.storage.data(), threads);
    b_reduced.data = b_reduced.storage.data();
    b_reduced.strides.assign(b_reduced.labels.size(), 0);
    int64_t s = 1;
    for (int i = static_cast<int>(b_reduced.labels.size()) - 1; i >= 0; --i) {
      b_reduced.strides[i] = s;
      s *= sizes.of_label[b_reduced.labels[i]];
    }
    bp = &b_reduced;
  }
  std::vector<T> a_scratch, b_scratch;
  const GemmOperand<T> ga = PrepareOperand(*ap, batch, m_labels, contracted, sizes, a_scratch);
  const GemmOperand<T> gb = PrepareOperand(*bp, batch, contracted, n_labels, sizes, b_scratch);
  const int64_t nb = sizes.Product(batch), m = sizes.Product(m_labels), n = sizes.Product(n_labels),
                k = sizes.Product(contracted);

  View<T> result;
  result.labels = Concat({&batch, &m_labels, &n_labels});
  result.strides.assign(result.labels.size(), 0);
  int64_t s = 1;
  for (int i = static_cast<int>(result.labels.size()) - 1; i >= 0; --i) {
    result.strides[i] = s;
    s *= sizes.of_label[result.labels[i]];
  }
  if (final_order != nullptr && *final_order == result.labels) {
    BatchedProduct(ga, gb, out, nb, m, n, k, threads);
    return View<T>{};
  }
  result.storage.resize(static_cast<size_t>(nb * m * n));
  BatchedProduct(ga, gb, result.storage.data(), nb, m, n, k, threads);
  result.data = result.storage.data();
  if (final_order != nullptr) {
    Materialize(result, *final_order, sizes, out);
    return View<T>{};
  }
  return result;
}

class EinsumKernel : public OpKernel {
 public:
  explicit EinsumKernel(EinsumTerms terms) : terms_(std::move(terms)) {}

  absl::Status Compute(KernelContext& ctx) const override {
    const int count = ctx.num_inputs();
    if (count == 0) return absl::InvalidArgumentError("Einsum: needs at least one input");
    std::vector<const Tensor*> inputs(count);
    std::vector<int> ranks(count);
    for (int i = 0; i < count; ++i) {
      inputs[i] = ctx.input(i);
      if (inputs[i] == nullptr) return absl::InvalidArgumentError(absl::StrCat("Einsum: input ", i, " is missing"));
      if (inputs[i]->dtype() != inputs[0]->dtype()) {
        return absl::InvalidArgumentError(absl::StrCat("Einsum: input ", i, " has type ",
                                                       DataTypeName(inputs[i]->dtype()), " but input 0 has type ",
                                                       DataTypeName(inputs[0]->dtype())));
      }
      ranks[i] = inputs[i]->rank();
    }
    TESSERA_ASSIGN_OR_RETURN(EinsumEquation eq, BindEinsumTerms(terms_, ranks));
    // Label sizes: equal across operands, or 1 (broadcast).
    Sizes sizes;
    sizes.of_label.assign(eq.num_labels, 1);
    std::vector<bool> sized(eq.num_labels, false);
    for (int i = 0; i < count; ++i) {
      for (int d = 0; d < ranks[i]; ++d) {
        const int label = eq.operand_labels[i][d];
        const int64_t dim = inputs[i]->dim(d);
        int64_t& size = sizes.of_label[label];
        if (!sized[label] || size == 1) {
          size = sized[label] && dim == 1 ? size : dim;
          sized[label] = true;
        } else if (dim != size && dim != 1) {
          return absl::InvalidArgumentError(
              absl::StrCat("Einsum: label '", std::string(1, eq.label_names[label]), "' has size ", size,
                           " in one place and ", dim, " in input ", i, " (shape ",
                           ShapeToString(inputs[i]->shape()), ")"));
        }
      }
    }
    // A label repeated within one operand must have one size there.
    for (int i = 0; i < count; ++i) {
      for (int d = 0; d < ranks[i]; ++d) {
        const int label = eq.operand_labels[i][d];
        if (inputs[i]->dim(d) != sizes.of_label[label] && inputs[i]->dim(d) != 1) {
          return absl::InvalidArgumentError(absl::StrCat("Einsum: label '", std::string(1, eq.label_names[label]),
                                                         "' has inconsistent sizes in input ", i));
        }
      }
    }
    Shape out_shape;
    for (int l : eq.output_labels) out_shape.push_back(sizes.of_label[l]);
    absl::Status status = DispatchType<float, double, int32_t, int64_t>(inputs[0]->dtype(), [&](auto tag) {
      using T = decltype(tag);
      return Run<T>(ctx, inputs, eq, sizes, out_shape);
    });
    if (!status.ok() && status.code() == absl::StatusCode::kInvalidArgument &&
        absl::StrContains(status.message(), "is not supported here")) {
      return absl::UnimplementedError(
          absl::StrCat("Einsum: element type ", DataTypeName(inputs[0]->dtype()), " is not supported"));
    }
    return status;
  }

 private:
  template <typename T>
  static absl::Status Run(KernelContext& ctx, const std::vector<const Tensor*>& inputs, const EinsumEquation& eq,
                          const Sizes& sizes, const Shape& out_shape) {
    Tensor* out_tensor = ctx.AllocateOutput(0, inputs[0]->dtype(), out_shape);
    T* out = out_tensor->data<T>();
    const int64_t out_count = out_tensor->num_elements();
    if (out_count == 0) return absl::OkStatus();
    for (const Tensor* t : inputs) {
      if (t->num_elements() == 0) {  // an empty summed dimension: all sums are 0
        std::fill(out, out + out_count, T(0));
        return absl::OkStatus();
      }
    }
    const int threads = ctx.num_threads();
    const int count = static_cast<int>(inputs.size());
    std::vector<View<T>> views(count);
    for (int i = 0; i < count; ++i) {
      View<T>& v = views[i];
      v.data = inputs[i]->data<T>();
      const Shape& shape = inputs[i]->shape();
      std::vector<int64_t> strides(shape.size(), 1);
      for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d) strides[d] = strides[d + 1] * shape[d + 1];
      for (size_t d = 0; d < shape.size(); ++d) {
        const int label = eq.operand_labels[i][d];
        const int64_t stride = shape[d] == 1 ? 0 : strides[d];  // broadcast dims read index 0
        auto it = std::find(v.labels.begin(), v.labels.end(), label);
        if (it == v.labels.end()) {
          v.labels.push_back(label);
          v.strides.push_back(stride);
        } else {
          v.strides[it - v.labels.begin()] += stride;  // diagonal
        }
      }
    }
    const Labels& output = eq.output_labels;
    if (count == 1) {
      Labels summed;
      for (int l : views[0].labels) {
        if (std::find(output.begin(), output.end(), l) == output.end()) summed.push_back(l);
      }
      SumOut(views[0], output, summed, sizes, out, threads);
      return absl::OkStatus();
    }
    View<T> current = std::move(views[0]);
    for (int i = 1; i < count; ++i) {
      std::vector<bool> needed(eq.num_labels, false);
      for (int l : output) needed[l] = true;
      for (int j = i + 1; j < count; ++j) {
        for (int l : eq.operand_labels[j]) needed[l] = true;
      }
      const bool last = i == count - 1;
      View<T> next = Contract(current, views[i], needed, sizes, last ? &output : nullptr, out, threads);
      if (!last) current = std::move(next);
    }
    return absl::OkStatus();
  }

  EinsumTerms terms_;
};

absl::StatusOr<std::unique_ptr<OpKernel>> CreateEinsum(const KernelInit& init) {
  if (!init.attrs.Has("equation")) return absl::InvalidArgumentError("Einsum: attribute 'equation' is required");
  TESSERA_ASSIGN_OR_RETURN(EinsumTerms terms, ParseEinsumTerms(init.attrs.GetString("equation", "")));
  if (terms.inputs.size() != static_cast<size_t>(init.node.input_size())) {
    return absl::InvalidArgumentError(absl::StrCat("Einsum: equation '", init.attrs.GetString("equation", ""),
                                                   "' has ", terms.inputs.size(), " input terms but the node has ",
                                                   init.node.input_size(), " inputs"));
  }
  return std::unique_ptr<OpKernel>(std::make_unique<EinsumKernel>(std::move(terms)));
}

}  // namespace

void RegisterEinsumKernel(KernelRegistry& registry) { registry.Register("Einsum", CreateEinsum); }

}  // namespace tessera::engine
