// Per-element functors of the unary operators and activations. Each is a
// small struct whose operator() is inline and branch-light so that the
// loops in elementwise_common.h vectorize; parameters (alpha, beta, ...) are
// members read once per loop. Shared by elementwise_unary.cc and
// elementwise_activation.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "worker/engine/kernels/elementwise_math.h"

namespace tessera::engine::elementwise {

// e^x with the vectorizable float path.
inline float ExpOf(float x) { return VecExp(x); }
inline double ExpOf(double x) { return std::exp(x); }

struct AbsOp {
  template <typename T>
  T operator()(T x) const {
    if constexpr (std::is_unsigned_v<T>) {
      return x;
    } else if constexpr (std::is_floating_point_v<T>) {
      return std::fabs(x);
    } else {
      return static_cast<T>(x < 0 ? static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(x)) : x);
    }
  }
};
struct NegOp {
  template <typename T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) {
      return -x;
    } else {  // wraps for the most negative value instead of overflowing
      return static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(x));
    }
  }
};
struct SignOp {
  template <typename T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) {  // NaN and zeros pass through
      return Select(x > T(0), T(1), Select(x < T(0), T(-1), x));
    } else if constexpr (std::is_unsigned_v<T> || std::is_same_v<T, bool>) {
      return static_cast<T>(x != T(0));
    } else {
      return static_cast<T>((x > T(0)) - (x < T(0)));
    }
  }
};
struct CeilOp {
  template <typename T>
  T operator()(T x) const {  // via nearbyint, which vectorizes; sign of zero kept
    const T r = std::nearbyint(x);
    return std::copysign(Select(r < x, r + T(1), r), x);
  }
};
struct FloorOp {
  template <typename T>
  T operator()(T x) const {
    const T r = std::nearbyint(x);
    return std::copysign(Select(r > x, r - T(1), r), x);
  }
};
// Round half to even (the default floating-point rounding mode).
struct RoundOp {
  template <typename T>
  T operator()(T x) const { return std::nearbyint(x); }
};
struct ReciprocalOp {
  template <typename T>
  T operator()(T x) const { return T(1) / x; }
};
struct SqrtOp {
  template <typename T>
  T operator()(T x) const { return std::sqrt(x); }
};
struct ExpOp {
  float operator()(float x) const { return VecExp(x); }
  double operator()(double x) const { return std::exp(x); }
};
struct LogOp {
  template <typename T>
  T operator()(T x) const { return std::log(x); }
};
struct SinOp {
  template <typename T>
  T operator()(T x) const { return std::sin(x); }
};
struct CosOp {
  template <typename T>
  T operator()(T x) const { return std::cos(x); }
};
struct TanOp {
  template <typename T>
  T operator()(T x) const { return std::tan(x); }
};
struct AsinOp {
  template <typename T>
  T operator()(T x) const { return std::asin(x); }
};
struct AcosOp {
  template <typename T>
  T operator()(T x) const { return std::acos(x); }
};
struct AtanOp {
  template <typename T>
  T operator()(T x) const { return std::atan(x); }
};
struct TanhOp {
  float operator()(float x) const { return VecTanh(x); }
  double operator()(double x) const { return std::tanh(x); }
};
struct SigmoidOp {
  float operator()(float x) const { return VecSigmoid(x); }
  double operator()(double x) const { return 1.0 / (1.0 + std::exp(-x)); }
};
// Erf is defined for every numeric type; integers go through double.
struct ErfOp {
  float operator()(float x) const { return VecErf(x); }
  double operator()(double x) const { return std::erf(x); }
  template <typename T>
  T operator()(T x) const { return static_cast<T>(std::erf(static_cast<double>(x))); }
};
// GELU, erf form: x * 0.5 * (1 + erf(x / sqrt(2))) (ai.tessera.Gelu, made
// by the optimizer from the Div/Erf/Add/Mul/Mul chain PyTorch exports).
struct GeluOp {
  float operator()(float x) const { return 0.5f * x * (1.0f + VecErf(x * 0.70710678118654752f)); }
  double operator()(double x) const { return 0.5 * x * (1.0 + std::erf(x * 0.70710678118654752)); }
};
struct ReluOp {
  template <typename T>
  T operator()(T x) const { return x < T(0) ? T(0) : x; }
};
struct NotOp {
  bool operator()(bool x) const { return !x; }
};

struct LeakyReluOp {
  float alpha = 0.01f;
  template <typename T>
  T operator()(T x) const { return Select(x < T(0), static_cast<T>(alpha) * x, x); }
};
struct EluOp {
  float alpha = 1.0f;
  template <typename T>
  T operator()(T x) const { return Select(x < T(0), static_cast<T>(alpha) * (ExpOf(x) - T(1)), x); }
};
struct SeluOp {
  float alpha = 1.67326319217681884765625f;
  float gamma = 1.05070102214813232421875f;
  template <typename T>
  T operator()(T x) const {
    return Select(x > T(0), static_cast<T>(gamma) * x,
                  static_cast<T>(gamma) * (static_cast<T>(alpha) * ExpOf(x) - static_cast<T>(alpha)));
  }
};
struct HardSigmoidOp {
  float alpha = 0.2f;
  float beta = 0.5f;
  template <typename T>
  T operator()(T x) const {
    return std::max(T(0), std::min(T(1), static_cast<T>(alpha) * x + static_cast<T>(beta)));
  }
};
struct HardSwishOp {
  template <typename T>
  T operator()(T x) const {
    return x * std::max(T(0), std::min(T(1), x * static_cast<T>(1.0 / 6.0) + T(0.5)));
  }
};
// log(1 + exp(x)) without overflow for large x.
struct SoftplusOp {
  template <typename T>
  T operator()(T x) const {
    return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
};
struct SoftsignOp {
  template <typename T>
  T operator()(T x) const { return x / (T(1) + std::fabs(x)); }
};
struct ThresholdedReluOp {
  float alpha = 1.0f;
  template <typename T>
  T operator()(T x) const { return x > static_cast<T>(alpha) ? x : T(0); }
};
// min(max(x, lo), hi): when lo > hi every element becomes hi (ONNX rule).
template <typename T>
struct ClipOp {
  T lo;
  T hi;
  T operator()(T x) const { return std::min(hi, std::max(x, lo)); }
};

}  // namespace tessera::engine::elementwise
