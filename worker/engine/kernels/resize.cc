// Resize kernel. Output positions map to input positions axis by axis
// (resize_axis_map.h); the N-D result is the tensor product of those maps.
//
// nearest: one gather pass over output rows (all axes but the last); an
//   output row reading the same input row as the previous one is copied.
// linear / cubic: separable passes, one per axis that actually changes
//   (shrinking axes first). A pass over an inner axis blends whole contiguous
//   rows (vectorized); a pass over the last axis gathers 2 or 4 taps.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/engine/kernel_registry.h"
#include "worker/engine/kernels/broadcast.h"
#include "worker/engine/kernels/parallel.h"
#include "worker/engine/kernels/resize.h"
#include "worker/engine/kernels/resize_axis_map.h"

namespace tessera::engine {
namespace {

constexpr int64_t kParallelGrain = 16384;

const Tensor* NonEmptyInput(const KernelContext& ctx, int i) {
  const Tensor* t = ctx.input(i);
  return t != nullptr && t->num_elements() > 0 ? t : nullptr;
}

template <typename T>
void NearestResize(const T* in, T* out, const Shape& in_shape, const Shape& out_shape,
                   const std::vector<ResizeAxisMap>& maps, T extrapolation, int threads) {
  const int rank = static_cast<int>(in_shape.size());
  const std::vector<int64_t> strides = ContiguousStrides(in_shape);
  std::vector<std::vector<int64_t>> offsets(rank);
  for (int a = 0; a < rank; ++a) {
    offsets[a].resize(out_shape[a]);
    for (int64_t o = 0; o < out_shape[a]; ++o) offsets[a][o] = maps[a].index[o] * strides[a];
  }
  const int64_t width = out_shape[rank - 1];
  const int64_t rows = NumElements(out_shape) / width;
  const int64_t* col = offsets[rank - 1].data();
  const ResizeAxisMap& last_map = maps[rank - 1];
  ParallelFor(threads, rows, std::max<int64_t>(1, kParallelGrain / width), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> counter(std::max(rank - 1, 0));
    for (int64_t rem = begin, a = rank - 2; a >= 0; --a) {
      counter[a] = rem % out_shape[a];
      rem /= out_shape[a];
    }
    int64_t prev_base = -1;
    for (int64_t row = begin; row < end; ++row) {
      int64_t base = 0;
      bool outside = false;
      for (int a = 0; a < rank - 1; ++a) {
        base += offsets[a][counter[a]];
        outside |= maps[a].outside[counter[a]] != 0;
      }
      T* dst = out + row * width;
      if (outside) {
        std::fill(dst, dst + width, extrapolation);
        base = -1;
      } else if (base == prev_base) {
        std::memcpy(dst, dst - width, width * sizeof(T));
      } else {
        const T* src = in + base;
        for (int64_t x = 0; x < width; ++x) dst[x] = src[col[x]];
        if (last_map.any_outside) {
          for (int64_t x = 0; x < width; ++x) {
            if (last_map.outside[x]) dst[x] = extrapolation;
          }
        }
      }
      prev_base = base;
      for (int a = rank - 2; a >= 0; --a) {
        if (++counter[a] < out_shape[a]) break;
        counter[a] = 0;
      }
    }
  });
}

// One separable pass: src viewed as [outer, in_len, inner] becomes dst
// [outer, out_len, inner] under `map`.
template <typename T, int kTaps>
void ResizeOneAxis(const T* src, T* dst, int64_t outer, int64_t in_len, int64_t out_len, int64_t inner,
                   const ResizeAxisMap& map, T extrapolation, int threads) {
  std::vector<T> weights(map.weight.begin(), map.weight.end());
  const int64_t* idx = map.index.data();
  const T* w = weights.data();
  if (inner == 1) {
    ParallelFor(threads, outer, std::max<int64_t>(1, kParallelGrain / (out_len * kTaps)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t o = begin; o < end; ++o) {
                    const T* s = src + o * in_len;
                    T* d = dst + o * out_len;
                    for (int64_t x = 0; x < out_len; ++x) {
                      T acc = w[x * kTaps] * s[idx[x * kTaps]];
                      for (int t = 1; t < kTaps; ++t) acc += w[x * kTaps + t] * s[idx[x * kTaps + t]];
                      d[x] = acc;
                    }
                    if (map.any_outside) {
                      for (int64_t x = 0; x < out_len; ++x) {
                        if (map.outside[x]) d[x] = extrapolation;
                      }
                    }
                  }
                });
    return;
  }
  ParallelFor(threads, outer * out_len, std::max<int64_t>(1, kParallelGrain / (inner * kTaps)),
              [&](int64_t begin, int64_t end) {
                for (int64_t row = begin; row < end; ++row) {
                  const int64_t o = row / out_len, x = row % out_len;
                  T* d = dst + row * inner;
                  if (map.outside[x]) {
                    std::fill(d, d + inner, extrapolation);
                    continue;
                  }
                  const T* s0 = src + (o * in_len + idx[x * kTaps]) * inner;
                  const T w0 = w[x * kTaps];
                  for (int64_t i = 0; i < inner; ++i) d[i] = w0 * s0[i];
                  for (int t = 1; t < kTaps; ++t) {
                    const T* st = src + (o * in_len + idx[x * kTaps + t]) * inner;
                    const T wt = w[x * kTaps + t];
                    for (int64_t i = 0; i < inner; ++i) d[i] += wt * st[i];
                  }
                }
              });
}

template <typename T>
void SeparableResize(const T* in, T* out, const Shape& in_shape, const Shape& out_shape,
                     const std::vector<ResizeAxisMap>& maps, T extrapolation, int threads) {
  const int rank = static_cast<int>(in_shape.size());
  std::vector<int> axes;
  for (int a = 0; a < rank; ++a) {
    if (!maps[a].identity) axes.push_back(a);
  }
  if (axes.empty()) {
    std::copy(in, in + NumElements(in_shape), out);
    return;
  }
  // Shrink first so later passes touch less data.
  std::stable_sort(axes.begin(), axes.end(), [&](int a, int b) {
    return static_cast<double>(out_shape[a]) / in_shape[a] < static_cast<double>(out_shape[b]) / in_shape[b];
  });
  Shape cur = in_shape;
  const T* src = in;
  std::vector<T> buffers[2];
  for (size_t k = 0; k < axes.size(); ++k) {
    const int a = axes[k];
    Shape next = cur;
    next[a] = out_shape[a];
    T* dst = out;
    if (k + 1 < axes.size()) {
      buffers[k % 2].resize(NumElements(next));
      dst = buffers[k % 2].data();
    }
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; ++i) outer *= cur[i];
    for (int i = a + 1; i < rank; ++i) inner *= cur[i];
    switch (maps[a].taps) {
      case 1:
        ResizeOneAxis<T, 1>(src, dst, outer, cur[a], next[a], inner, maps[a], extrapolation, threads);
        break;
      case 2:
        ResizeOneAxis<T, 2>(src, dst, outer, cur[a], next[a], inner, maps[a], extrapolation, threads);
        break;
      default:
        ResizeOneAxis<T, 4>(src, dst, outer, cur[a], next[a], inner, maps[a], extrapolation, threads);
        break;
    }
    src = dst;
    cur = std::move(next);
  }
}

class ResizeKernel : public OpKernel {
 public:
  ResizeKernel(int opset, ResizeAxisOptions options, double extrapolation_value)
      : opset_(opset), options_(options), extrapolation_value_(extrapolation_value) {}

  static absl::StatusOr<std::unique_ptr<OpKernel>> Create(const KernelInit& init) {
    ResizeAxisOptions options;
    TESSERA_ASSIGN_OR_RETURN(options.mode, ParseResizeMode(init.attrs.GetString("mode", "nearest")));
    double extrapolation_value = 0;
    if (init.opset < 11) {
      options.transform = CoordinateTransform::kAsymmetric;
      options.rounding = NearestRounding::kOpset10;
    } else {
      TESSERA_ASSIGN_OR_RETURN(options.transform, ParseCoordinateTransform(init.attrs.GetString(
                                                      "coordinate_transformation_mode", "half_pixel")));
      TESSERA_ASSIGN_OR_RETURN(options.rounding,
                               ParseNearestRounding(init.attrs.GetString("nearest_mode", "round_prefer_floor")));
      options.cubic_coeff_a = init.attrs.GetFloat("cubic_coeff_a", -0.75f);
      options.exclude_outside = init.attrs.GetInt("exclude_outside", 0) != 0;
      extrapolation_value = init.attrs.GetFloat("extrapolation_value", 0.0f);
    }
    return std::make_unique<ResizeKernel>(init.opset, options, extrapolation_value);
  }

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return absl::InvalidArgumentError("Resize: input X is missing");
    if (x->rank() < 1) return absl::InvalidArgumentError("Resize: input X must have rank >= 1, got a scalar");
    const DataType t = x->dtype();
    if (options_.mode != ResizeMode::kNearest && t != DataType::kFloat32 && t != DataType::kFloat64) {
      return absl::UnimplementedError(absl::StrCat("Resize: mode linear/cubic on element type ", DataTypeName(t),
                                                   " is not supported (float32 and float64 are)"));
    }
    const int rank = x->rank();
    const Shape& in_shape = x->shape();

    const Tensor* scales_t = NonEmptyInput(ctx, opset_ < 11 ? 1 : 2);
    const Tensor* sizes_t = opset_ < 11 ? nullptr : NonEmptyInput(ctx, 3);
    const Tensor* roi_t = opset_ < 11 ? nullptr : NonEmptyInput(ctx, 1);
    if (scales_t != nullptr && sizes_t != nullptr) {
      return absl::InvalidArgumentError("Resize: only one of scales and sizes may be given, got both");
    }
    if (scales_t == nullptr && sizes_t == nullptr) {
      return absl::InvalidArgumentError("Resize: one of scales and sizes must be given (non-empty)");
    }
    const bool crop = options_.transform == CoordinateTransform::kTfCropAndResize;
    std::vector<double> roi(2 * rank);
    for (int a = 0; a < rank; ++a) {
      roi[a] = 0;
      roi[rank + a] = 1;
    }
    if (crop && roi_t != nullptr) {
      if (roi_t->num_elements() != 2 * rank) {
        return absl::InvalidArgumentError(absl::StrCat("Resize: roi has ", roi_t->num_elements(),
                                                       " values, expected 2 * rank = ", 2 * rank));
      }
      for (int i = 0; i < 2 * rank; ++i) roi[i] = roi_t->GetAsDouble(i);
    }

    Shape out_shape(rank);
    std::vector<double> scales(rank);
    if (scales_t != nullptr) {
      if (scales_t->num_elements() != rank) {
        return absl::InvalidArgumentError(absl::StrCat("Resize: scales has ", scales_t->num_elements(),
                                                       " values, expected one per dim of X ", ShapeToString(in_shape)));
      }
      for (int a = 0; a < rank; ++a) {
        scales[a] = scales_t->GetAsDouble(a);
        if (!(scales[a] > 0) || !std::isfinite(scales[a])) {
          return absl::InvalidArgumentError(absl::StrCat("Resize: scales must be positive, got ", scales[a],
                                                         " for axis ", a));
        }
        const double extent = crop ? roi[rank + a] - roi[a] : 1.0;
        const double out = std::floor(static_cast<double>(in_shape[a]) * extent * scales[a]);
        if (!(out >= 0) || out > 9.0e15) {
          return absl::InvalidArgumentError(absl::StrCat("Resize: output size ", out, " for axis ", a, " is invalid"));
        }
        out_shape[a] = static_cast<int64_t>(out);
      }
    } else {
      if (sizes_t->dtype() != DataType::kInt64 || sizes_t->num_elements() != rank) {
        return absl::InvalidArgumentError(absl::StrCat("Resize: sizes must be int64 with one value per dim of X ",
                                                       ShapeToString(in_shape), ", got ", sizes_t->DebugString()));
      }
      for (int a = 0; a < rank; ++a) {
        out_shape[a] = sizes_t->data<int64_t>()[a];
        if (out_shape[a] < 0) {
          return absl::InvalidArgumentError(absl::StrCat("Resize: sizes must be >= 0, got ", out_shape[a]));
        }
        if (in_shape[a] == 0 && out_shape[a] != 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("Resize: cannot resize the empty axis ", a, " of X ", ShapeToString(in_shape)));
        }
        scales[a] = in_shape[a] > 0 ? static_cast<double>(out_shape[a]) / static_cast<double>(in_shape[a]) : 1.0;
      }
    }
    TESSERA_RETURN_IF_ERROR(ValidateShape(out_shape, t));
    Tensor* y = ctx.AllocateOutput(0, t, out_shape);
    if (NumElements(out_shape) == 0) return absl::OkStatus();

    std::vector<ResizeAxisMap> maps;
    maps.reserve(rank);
    for (int a = 0; a < rank; ++a) {
      maps.push_back(BuildResizeAxisMap(options_, in_shape[a], out_shape[a], scales[a], roi[a], roi[rank + a]));
    }
    if (options_.mode == ResizeMode::kNearest) {
      return DispatchType<float, double, int8_t, uint8_t, int32_t, int64_t, bool>(t, [&](auto tag) {
        using T = decltype(tag);
        NearestResize<T>(x->data<T>(), y->data<T>(), in_shape, out_shape, maps,
                         static_cast<T>(extrapolation_value_), ctx.num_threads());
        return absl::OkStatus();
      });
    }
    return DispatchType<float, double>(t, [&](auto tag) {
      using T = decltype(tag);
      SeparableResize<T>(x->data<T>(), y->data<T>(), in_shape, out_shape, maps, static_cast<T>(extrapolation_value_),
                         ctx.num_threads());
      return absl::OkStatus();
    });
  }

 private:
  int opset_;
  ResizeAxisOptions options_;
  double extrapolation_value_;
};

}  // namespace

void RegisterResizeKernel(KernelRegistry& registry) { registry.Register("Resize", FactoryOf<ResizeKernel>()); }

}  // namespace tessera::engine
