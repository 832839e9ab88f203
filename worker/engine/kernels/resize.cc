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
#include <limits>
#include <type_traits>
#include <memory>
#include <numeric>
#include <string>
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

// Linear / cubic over the last two axes of [planes, H, W] in one pass: each
// output row first blends its kTaps input rows into a row buffer (contiguous,
// vectorized; skipped when one input row has all the weight), then gathers
// kTaps values of that buffer per output column.
template <typename T, int kTaps>
void Resize2D(const T* in, T* out, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
              const ResizeAxisMap& rows_map, const ResizeAxisMap& cols_map, T extrapolation, int threads) {
  const std::vector<T> wh(rows_map.weight.begin(), rows_map.weight.end());
  // Column taps stored tap-major (one contiguous array per tap).
  std::vector<T> ww(kTaps * OW);
  std::vector<int32_t> iw(kTaps * OW);
  for (int64_t o = 0; o < OW; ++o) {
    for (int t = 0; t < kTaps; ++t) {
      ww[t * OW + o] = static_cast<T>(cols_map.weight[o * kTaps + t]);
      iw[t * OW + o] = static_cast<int32_t>(cols_map.index[o * kTaps + t]);
    }
  }
  const int64_t* ih = rows_map.index.data();
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / ((OW + W) * kTaps));
  ParallelFor(threads, planes * OH, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> blended(W);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t p = row / OH, oh = row % OH;
      T* d = out + row * OW;
      if (rows_map.outside[oh]) {
        std::fill(d, d + OW, extrapolation);
        continue;
      }
      const T* plane = in + p * H * W;
      const T* w = &wh[oh * kTaps];
      const int64_t* idx = &ih[oh * kTaps];
      // One input row carrying all the weight (e.g. integer coordinates).
      const T* src = nullptr;
      int nonzero = 0;
      for (int t = 0; t < kTaps; ++t) {
        if (w[t] != T(0)) {
          ++nonzero;
          if (w[t] == T(1)) src = plane + idx[t] * W;
        }
      }
      if (nonzero != 1) src = nullptr;
      if (src == nullptr) {
        T* b = blended.data();
        const T* r0 = plane + idx[0] * W;
        const T w0 = w[0];
        for (int64_t i = 0; i < W; ++i) b[i] = w0 * r0[i];
        for (int t = 1; t < kTaps; ++t) {
          const T* rt = plane + idx[t] * W;
          const T wt = w[t];
          for (int64_t i = 0; i < W; ++i) b[i] += wt * rt[i];
        }
        src = b;
      }
      {
        const int32_t* ci = iw.data();
        const T* cw = ww.data();
        for (int64_t o = 0; o < OW; ++o) {
          T acc = cw[o] * src[ci[o]];
          for (int t = 1; t < kTaps; ++t) acc += cw[t * OW + o] * src[ci[t * OW + o]];
          d[o] = acc;
        }
      }
      if (cols_map.any_outside) {
        for (int64_t o = 0; o < OW; ++o) {
          if (cols_map.outside[o]) d[o] = extrapolation;
        }
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
  // Common image case: only the last two axes change.
  if (rank >= 2 && axes.size() == 2 && std::min(axes[0], axes[1]) == rank - 2 &&
      in_shape[rank - 1] <= std::numeric_limits<int32_t>::max()) {
    const int64_t planes = NumElements(in_shape) / (in_shape[rank - 2] * in_shape[rank - 1]);
    const ResizeAxisMap& rows = maps[rank - 2];
    const ResizeAxisMap& cols = maps[rank - 1];
    if (rows.taps == cols.taps && (rows.taps == 2 || rows.taps == 4)) {
      auto run = [&](auto taps) {
        Resize2D<T, decltype(taps)::value>(in, out, planes, in_shape[rank - 2], in_shape[rank - 1], out_shape[rank - 2],
                                           out_shape[rank - 1], rows, cols, extrapolation, threads);
      };
      if (rows.taps == 2) {
        run(std::integral_constant<int, 2>());
      } else {
        run(std::integral_constant<int, 4>());
      }
      return;
    }
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
  ResizeKernel(std::string op_name, int opset, ResizeAxisOptions options, double extrapolation_value,
               std::vector<double> attr_scales)
      : op_name_(std::move(op_name)),
        opset_(opset),
        options_(options),
        extrapolation_value_(extrapolation_value),
        attr_scales_(std::move(attr_scales)) {}

  // Upsample (opsets 7-9, deprecated): Resize-10 semantics (asymmetric
  // coordinates, floor for nearest) with scales from the attribute (7, 8) or
  // input 1 (9).
  static absl::StatusOr<std::unique_ptr<OpKernel>> CreateUpsample(const KernelInit& init) {
    ResizeAxisOptions options;
    std::string mode = init.attrs.GetString("mode", "nearest");
    if (mode == "bilinear") mode = "linear";
    TESSERA_ASSIGN_OR_RETURN(options.mode, ParseResizeMode(mode));
    if (options.mode == ResizeMode::kCubic) {
      return absl::InvalidArgumentError("Upsample: mode must be nearest or linear, got cubic");
    }
    options.transform = CoordinateTransform::kAsymmetric;
    options.rounding = NearestRounding::kOpset10;
    std::vector<double> scales;
    if (init.opset < 9) {
      for (float v : init.attrs.GetFloats("scales")) scales.push_back(v);
      if (scales.empty()) return absl::InvalidArgumentError("Upsample: attribute scales is required before opset 9");
    }
    return std::make_unique<ResizeKernel>("Upsample", std::min(init.opset, 10), options, 0.0, std::move(scales));
  }

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
    return std::make_unique<ResizeKernel>("Resize", init.opset, options, extrapolation_value, std::vector<double>{});
  }

  absl::Status Compute(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (x == nullptr) return absl::InvalidArgumentError(absl::StrCat(op_name_, ": input X is missing"));
    if (x->rank() < 1) return absl::InvalidArgumentError(absl::StrCat(op_name_, ": input X must have rank >= 1, got a scalar"));
    const DataType t = x->dtype();
    if (options_.mode != ResizeMode::kNearest && t != DataType::kFloat32 && t != DataType::kFloat64) {
      return absl::UnimplementedError(absl::StrCat(op_name_, ": mode linear/cubic on element type ", DataTypeName(t),
                                                   " is not supported (float32 and float64 are)"));
    }
    const int rank = x->rank();
    const Shape& in_shape = x->shape();

    // Upsample-7/8 carry scales as an attribute; Resize-10 and Upsample-9
    // take them as input 1, later Resize as input 2.
    const Tensor* scales_t = attr_scales_.empty() ? NonEmptyInput(ctx, opset_ < 11 ? 1 : 2) : nullptr;
    const bool have_scales = scales_t != nullptr || !attr_scales_.empty();
    const int64_t num_scales = scales_t != nullptr ? scales_t->num_elements() : static_cast<int64_t>(attr_scales_.size());
    const Tensor* sizes_t = opset_ < 11 ? nullptr : NonEmptyInput(ctx, 3);
    const Tensor* roi_t = opset_ < 11 ? nullptr : NonEmptyInput(ctx, 1);
    if (have_scales && sizes_t != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(op_name_, ": only one of scales and sizes may be given, got both"));
    }
    if (!have_scales && sizes_t == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(op_name_, ": one of scales and sizes must be given (non-empty)"));
    }
    const bool crop = options_.transform == CoordinateTransform::kTfCropAndResize;
    std::vector<double> roi(2 * rank);
    for (int a = 0; a < rank; ++a) {
      roi[a] = 0;
      roi[rank + a] = 1;
    }
    if (crop && roi_t != nullptr) {
      if (roi_t->num_elements() != 2 * rank) {
        return absl::InvalidArgumentError(absl::StrCat(op_name_, ": roi has ", roi_t->num_elements(),
                                                       " values, expected 2 * rank = ", 2 * rank));
      }
      for (int i = 0; i < 2 * rank; ++i) roi[i] = roi_t->GetAsDouble(i);
    }

    Shape out_shape(rank);
    std::vector<double> scales(rank);
    if (have_scales) {
      if (num_scales != rank) {
        return absl::InvalidArgumentError(absl::StrCat(op_name_, ": scales has ", num_scales,
                                                       " values, expected one per dim of X ", ShapeToString(in_shape)));
      }
      for (int a = 0; a < rank; ++a) {
        scales[a] = scales_t != nullptr ? scales_t->GetAsDouble(a) : attr_scales_[a];
        if (!(scales[a] > 0) || !std::isfinite(scales[a])) {
          return absl::InvalidArgumentError(absl::StrCat(op_name_, ": scales must be positive, got ", scales[a],
                                                         " for axis ", a));
        }
        const double extent = crop ? roi[rank + a] - roi[a] : 1.0;
        const double out = std::floor(static_cast<double>(in_shape[a]) * extent * scales[a]);
        if (!(out >= 0) || out > 9.0e15) {
          return absl::InvalidArgumentError(absl::StrCat(op_name_, ": output size ", out, " for axis ", a, " is invalid"));
        }
        out_shape[a] = static_cast<int64_t>(out);
      }
    } else {
      if (sizes_t->dtype() != DataType::kInt64 || sizes_t->num_elements() != rank) {
        return absl::InvalidArgumentError(absl::StrCat(op_name_, ": sizes must be int64 with one value per dim of X ",
                                                       ShapeToString(in_shape), ", got ", sizes_t->DebugString()));
      }
      for (int a = 0; a < rank; ++a) {
        out_shape[a] = sizes_t->data<int64_t>()[a];
        if (out_shape[a] < 0) {
          return absl::InvalidArgumentError(absl::StrCat(op_name_, ": sizes must be >= 0, got ", out_shape[a]));
        }
        if (in_shape[a] == 0 && out_shape[a] != 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(op_name_, ": cannot resize the empty axis ", a, " of X ", ShapeToString(in_shape)));
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
  std::string op_name_;
  int opset_;
  ResizeAxisOptions options_;
  double extrapolation_value_;
  std::vector<double> attr_scales_;  // Upsample-7/8 only
};

}  // namespace

void RegisterResizeKernel(KernelRegistry& registry) {
  registry.Register("Resize", FactoryOf<ResizeKernel>());
  registry.Register("Upsample", [](const KernelInit& init) { return ResizeKernel::CreateUpsample(init); });
}

}  // namespace tessera::engine
