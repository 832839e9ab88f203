// AveragePool and MaxPool over 1 to 3 spatial dims (NCHW-style layouts), and
// the registration of the whole pool / normalization / resize group.
//
// Each (n, c) plane is independent and planes are spread over threads. Inside
// a plane, every kernel tap adds one shifted (and strided) input row into the
// output row, so the innermost loop is a contiguous, branch-free loop over
// output columns that the compiler vectorizes; the column range valid for
// each tap is precomputed, which removes all padding checks from that loop.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/kernel_groups.h"
#include "worker/engine/kernels/normalization.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/pool.h"
#include "worker/engine/kernels/pool_geometry.h"
#include "worker/engine/kernels/resize.h"

namespace tessera::engine {
namespace {

constexpr int64_t kParallelGrain = 16384;

int64_t CeilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// For each kernel tap along the innermost axis: the output columns [lo, hi)
// whose input column (ow * stride + offset) lies inside the input row.
struct ColumnTaps {
  std::vector<int64_t> offset, lo, hi;
};

ColumnTaps ComputeColumnTaps(const PoolWindow3D& w) {
  ColumnTaps c;
  const int64_t in = w.in[2], out = w.out[2], s = w.stride[2];
  for (int64_t k = 0; k < w.kernel[2]; ++k) {
    const int64_t off = k * w.dilation[2] - w.pad_begin[2];
    const int64_t lo = std::max<int64_t>(0, CeilDiv(-off, s));
    const int64_t hi = std::max(lo, std::min<int64_t>(out, FloorDiv(in - 1 - off, s) + 1));
    c.offset.push_back(off);
    c.lo.push_back(lo);
    c.hi.push_back(hi);
  }
  return c;
}

// out[o] = combine(out[o], in[o * stride + offset]) for o in [lo, hi).
template <typename T, typename Combine>
inline void CombineRow(T* out, const T* in, int64_t offset, int64_t lo, int64_t hi, int64_t stride,
                       Combine combine) {
  if (stride == 1) {
    const T* src = in + offset;
    for (int64_t o = lo; o < hi; ++o) out[o] = combine(out[o], src[o]);
  } else if (stride == 2) {
    for (int64_t o = lo; o < hi; ++o) out[o] = combine(out[o], in[2 * o + offset]);
  } else {
    for (int64_t o = lo; o < hi; ++o) out[o] = combine(out[o], in[o * stride + offset]);
  }
}

int64_t PlaneGrain(const PoolWindow3D& w) {
  const int64_t work = std::max<int64_t>(1, w.out_plane_size() * w.kernel[0] * w.kernel[1] * w.kernel[2]);
  return std::max<int64_t>(1, kParallelGrain / work);
}

// Runs the tap loop for every output row of planes [begin, end): `init`
// fills an output row, `combine` folds one input value in, `finish(row, od,
// oh)` post-processes a finished row.
template <typename T, typename Combine, typename Finish>
void PoolPlanes(const PoolWindow3D& w, const T* x, T* y, int64_t begin, int64_t end, T init, Combine combine,
                Finish finish) {
  const TapRanges dr = ComputeTapRanges(w, 0, 0, w.in[0]);
  const TapRanges hr = ComputeTapRanges(w, 1, 0, w.in[1]);
  const ColumnTaps ct = ComputeColumnTaps(w);
  const int64_t in_plane = w.in_plane_size(), out_plane = w.out_plane_size();
  const int64_t H = w.in[1], W = w.in[2], OH = w.out[1], OW = w.out[2];
  for (int64_t p = begin; p < end; ++p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    for (int64_t od = 0; od < w.out[0]; ++od) {
      for (int64_t oh = 0; oh < OH; ++oh) {
        T* orow = yp + (od * OH + oh) * OW;
        std::fill(orow, orow + OW, init);
        for (int64_t kd = dr.first[od]; kd < dr.last[od]; ++kd) {
          const int64_t id = od * w.stride[0] - w.pad_begin[0] + kd * w.dilation[0];
          for (int64_t kh = hr.first[oh]; kh < hr.last[oh]; ++kh) {
            const int64_t ih = oh * w.stride[1] - w.pad_begin[1] + kh * w.dilation[1];
            const T* irow = xp + (id * H + ih) * W;
            for (size_t k = 0; k < ct.offset.size(); ++k) {
              CombineRow(orow, irow, ct.offset[k], ct.lo[k], ct.hi[k], w.stride[2], combine);
            }
          }
        }
        finish(orow, od, oh);
      }
    }
  }
}

// Number of taps of each output position along `axis` that fall in the
// counted region (the real input, or the input plus its explicit pads).
std::vector<int64_t> TapCounts(const PoolWindow3D& w, int axis, bool include_pad) {
  const TapRanges r = include_pad ? ComputeTapRanges(w, axis, -w.pad_begin[axis], w.in[axis] + w.pad_end[axis])
                                  : ComputeTapRanges(w, axis, 0, w.in[axis]);
  std::vector<int64_t> counts(r.first.size());
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = r.last[i] - r.first[i];
  return counts;
}

template <typename T>
void AveragePoolImpl(const PoolWindow3D& w, bool count_include_pad, const T* x, T* y, int threads) {
  const std::vector<int64_t> cd = TapCounts(w, 0, count_include_pad);
  const std::vector<int64_t> ch = TapCounts(w, 1, count_include_pad);
  const std::vector<int64_t> cw_int = TapCounts(w, 2, count_include_pad);
  const std::vector<T> cw(cw_int.begin(), cw_int.end());
  const int64_t OW = w.out[2];
  ParallelFor(threads, w.planes, PlaneGrain(w), [&](int64_t begin, int64_t end) {
    PoolPlanes<T>(
        w, x, y, begin, end, T(0), [](T a, T b) { return a + b; },
        [&](T* row, int64_t od, int64_t oh) {
          const T outer = static_cast<T>(cd[od] * ch[oh]);
          for (int64_t o = 0; o < OW; ++o) {
            const T denom = outer * cw[o];
            row[o] = denom > T(0) ? row[o] / denom : T(0);
          }
        });
  });
}

template <typename T>
void MaxPoolImpl(const PoolWindow3D& w, const T* x, T* y, int threads) {
  const T lowest = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                        : std::numeric_limits<T>::lowest();
  ParallelFor(threads, w.planes, PlaneGrain(w), [&](int64_t begin, int64_t end) {
    PoolPlanes<T>(
        w, x, y, begin, end, lowest, [](T a, T b) { return b > a ? b : a; }, [](T*, int64_t, int64_t) {});
  });
}

// MaxPool that also records the flat input index of each maximum (the first
// one in window order on ties), row-major or column-major over the spatial
// dims, offset by plane * plane_size as ONNX specifies.
template <typename T>
void MaxPoolWithIndicesImpl(const PoolWindow3D& w, bool column_major, const T* x, T* y, int64_t* indices,
                            int threads) {
  const TapRanges dr = ComputeTapRanges(w, 0, 0, w.in[0]);
  const TapRanges hr = ComputeTapRanges(w, 1, 0, w.in[1]);
  const TapRanges wr = ComputeTapRanges(w, 2, 0, w.in[2]);
  const int64_t D = w.in[0], H = w.in[1], W = w.in[2];
  const int64_t in_plane = w.in_plane_size(), out_plane = w.out_plane_size();
  const T lowest = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                        : std::numeric_limits<T>::lowest();
  ParallelFor(threads, w.planes, PlaneGrain(w), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* xp = x + p * in_plane;
      int64_t o = p * out_plane;
      for (int64_t od = 0; od < w.out[0]; ++od) {
        for (int64_t oh = 0; oh < w.out[1]; ++oh) {
          for (int64_t ow = 0; ow < w.out[2]; ++ow, ++o) {
            T best = lowest;
            int64_t best_d = -1, best_h = 0, best_w = 0;
            for (int64_t kd = dr.first[od]; kd < dr.last[od]; ++kd) {
              const int64_t id = od * w.stride[0] - w.pad_begin[0] + kd * w.dilation[0];
              for (int64_t kh = hr.first[oh]; kh < hr.last[oh]; ++kh) {
                const int64_t ih = oh * w.stride[1] - w.pad_begin[1] + kh * w.dilation[1];
                for (int64_t kw = wr.first[ow]; kw < wr.last[ow]; ++kw) {
                  const int64_t iw = ow * w.stride[2] - w.pad_begin[2] + kw * w.dilation[2];
                  const T v = xp[(id * H + ih) * W + iw];
                  if (best_d < 0 || v > best) {
                    best = v;
                    best_d = id;
                    best_h = ih;
                    best_w = iw;
                  }
                }
              }
            }
            y[o] = best;
            if (best_d < 0) {
              indices[o] = -1;
            } else {
              const int64_t spatial = column_major ? best_d + best_h * D + best_w * D * H
                                                   : (best_d * H + best_h) * W + best_w;
              indices[o] = p * in_plane + spatial;
            }
          }
        }
      }
    }
  });
}

absl::Status CheckPoolInput(const Tensor* x, absl::string_view op_name) {
  if (x == nullptr) return absl::InvalidArgumentError(absl::StrCat(op_name, ": input X is missing"));
  return absl::OkStatus();
}

class AveragePoolKernel : public OpKernel {
 public:
  AveragePoolKernel(PoolAttributes attrs, bool count_include_pad)
      : attrs_(std::move(attrs)), count_include_pad_(count_include_pad) {}

  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    TESSERA_ASSIGN_OR_RETURN(PoolAttributes attrs, PoolAttributes::Parse(init.attrs, "AveragePool"));
    return std::make_unique<AveragePoolKernel>(std::move(attrs), init.attrs.GetInt("count_include_pad", 0) != 0);
  }

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    TESSERA_RETURN_IF_ERROR(CheckPoolInput(x, "AveragePool"));
    if (x->dtype() != DataType::kFloat32 && x->dtype() != DataType::kFloat64) {
      return absl::UnimplementedError(
          absl::StrCat("AveragePool: element type ", DataTypeName(x->dtype()), " is not supported"));
    }
    TESSERA_ASSIGN_OR_RETURN(PoolWindow3D w, ComputePoolWindow(attrs_, x->shape(), "AveragePool"));
    Tensor* y = ctx.AllocateOutput(0, x->dtype(), PoolOutputShape(x->shape(), w));
    return DispatchType<float, double>(x->dtype(), [&](auto tag) {
      using T = decltype(tag);
      AveragePoolImpl<T>(w, count_include_pad_, x->data<T>(), y->data<T>(), ctx.num_threads());
      return absl::OkStatus();
    });
  }

 private:
  PoolAttributes attrs_;
  bool count_include_pad_;
};

class MaxPoolKernel : public OpKernel {
 public:
  MaxPoolKernel(PoolAttributes attrs, bool column_major) : attrs_(std::move(attrs)), column_major_(column_major) {}

  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    TESSERA_ASSIGN_OR_RETURN(PoolAttributes attrs, PoolAttributes::Parse(init.attrs, "MaxPool"));
    const int64_t storage_order = init.attrs.GetInt("storage_order", 0);
    if (storage_order != 0 && storage_order != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("MaxPool: storage_order must be 0 (row major) or 1 (column major), got ", storage_order));
    }
    return std::make_unique<MaxPoolKernel>(std::move(attrs), storage_order == 1);
  }

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    TESSERA_RETURN_IF_ERROR(CheckPoolInput(x, "MaxPool"));
    const DataType t = x->dtype();
    if (t != DataType::kFloat32 && t != DataType::kFloat64 && t != DataType::kInt8 && t != DataType::kUint8) {
      return absl::UnimplementedError(
          absl::StrCat("MaxPool: element type ", DataTypeName(t), " is not supported"));
    }
    TESSERA_ASSIGN_OR_RETURN(PoolWindow3D w, ComputePoolWindow(attrs_, x->shape(), "MaxPool"));
    const Shape out_shape = PoolOutputShape(x->shape(), w);
    Tensor* y = ctx.AllocateOutput(0, t, out_shape);
    const bool want_indices = ctx.num_outputs() > 1 && ctx.output_requested(1);
    Tensor* indices = want_indices ? ctx.AllocateOutput(1, DataType::kInt64, out_shape) : nullptr;
    return DispatchType<float, double, int8_t, uint8_t>(t, [&](auto tag) {
      using T = decltype(tag);
      if (indices != nullptr) {
        MaxPoolWithIndicesImpl<T>(w, column_major_, x->data<T>(), y->data<T>(), indices->data<int64_t>(),
                                  ctx.num_threads());
      } else {
        MaxPoolImpl<T>(w, x->data<T>(), y->data<T>(), ctx.num_threads());
      }
      return absl::OkStatus();
    });
  }

 private:
  PoolAttributes attrs_;
  bool column_major_;
};

}  // namespace

void RegisterWindowPoolKernels(KernelRegistry& registry) {
  registry.Register("AveragePool", FactoryOf<AveragePoolKernel>());
  registry.Register("MaxPool", FactoryOf<MaxPoolKernel>());
}

void RegisterPoolNormKernels(KernelRegistry& registry) {
  RegisterWindowPoolKernels(registry);
  RegisterGlobalPoolKernels(registry);
  RegisterNormalizationKernels(registry);
  RegisterLayerNormalizationKernel(registry);
  RegisterLrnKernel(registry);
  RegisterResizeKernel(registry);
}

}  // namespace tessera::engine
