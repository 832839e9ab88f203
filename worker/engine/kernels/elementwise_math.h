// Scalar float32 math functions written so that loops calling them
// auto-vectorize (no library calls; branches are selects), for the fast
// paths of Exp, Sigmoid, Tanh and Erf. Accuracy: within 1e-6 relative of the
// std:: versions over the whole float range (a few ulp; results in the
// subnormal range are within one subnormal step); NaN propagates, infinities
// give the limits. Checked by tests/.../elementwise_math_test.cc.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace tessera::engine::elementwise {

// cond ? a : b, computed with bit masks so that the compiler keeps both
// operands unconditional (a ternary lets it sink a possibly-trapping
// computation into a branch, which blocks vectorization).
inline float Select(bool cond, float a, float b) {
  const int32_t mask = -static_cast<int32_t>(cond);
  return std::bit_cast<float>((mask & std::bit_cast<int32_t>(a)) | (~mask & std::bit_cast<int32_t>(b)));
}
inline double Select(bool cond, double a, double b) {
  const int64_t mask = -static_cast<int64_t>(cond);
  return std::bit_cast<double>((mask & std::bit_cast<int64_t>(a)) | (~mask & std::bit_cast<int64_t>(b)));
}
template <typename T>
T Select(bool cond, T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    return (cond & a) | (!cond & b);
  } else {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    const U mask = static_cast<U>(U(0) - static_cast<U>(cond));
    return static_cast<T>((static_cast<U>(a) & mask) | (static_cast<U>(b) & static_cast<U>(~mask)));
  }
}

// 2^k as a float for k in [-126, 127].
inline float PowerOfTwo(int32_t k) { return std::bit_cast<float>((k + 127) << 23); }

// e^x: x = n*ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by the
// Cephes expf polynomial, scaled by 2^n in two steps so that results in the
// subnormal range are rounded once.
inline float VecExp(float x) {
  float c = Select(x == x, x, 0.0f);  // NaN is restored at the end
  c = Select(c < -104.0f, -104.0f, c);
  c = Select(c > 89.0f, 89.0f, c);
  // Round to nearest integer (1.5 * 2^23 shifts the fraction out).
  float n = c * 1.44269504088896341f + 12582912.0f;
  n -= 12582912.0f;
  float r = c - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  const float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  const auto k = static_cast<int32_t>(n);
  const int32_t k1 = k >> 1;
  const int32_t k2 = k - k1;
  const float result = p * PowerOfTwo(k1) * PowerOfTwo(k2);
  return Select(x == x, result, x);
}

inline float VecSigmoid(float x) { return 1.0f / (1.0f + VecExp(-x)); }

// tanh: odd polynomial (least-squares fit, relative error 6e-10) below
// 0.625, else 1 - 2 / (e^(2|x|) + 1); the sign is restored last.
inline float VecTanh(float x) {
  const float a = std::fabs(x);
  const float t = a * a;
  float p = 0.002295796399719887f;
  p = p * t - 0.008346932302333751f;
  p = p * t + 0.021769942092482123f;
  p = p * t - 0.053959402691302165f;
  p = p * t + 0.1333330425542233f;
  p = p * t - 0.33333333177412244f;
  const float small = a + a * t * p;
  const float large = 1.0f - 2.0f / (VecExp(2.0f * a) + 1.0f);
  return std::copysign(Select(a < 0.625f, small, large), x);
}

// erf: |x| * P(x^2) below 0.921875 (relative error 5e-10), else
// 1 - exp(Q(|x|)) with Q a fit of log(erfc) on [0.921875, 4] (8e-10);
// erf(x) rounds to +-1 beyond 4.
inline float VecErf(float x) {
  float a = std::fabs(x);
  a = Select(a < 4.0f, a, 4.0f);
  const float t = a * a;
  float p = 8.392696614913098e-05f;
  p = p * t - 0.0008148506068684502f;
  p = p * t + 0.005201591807580536f;
  p = p * t - 0.026859647514702642f;
  p = p * t + 0.11283700529106899f;
  p = p * t - 0.3761263410892153f;
  p = p * t + 1.1283791666827647f;
  const float small = a * p;
  float q = 1.6131019031639937e-06f;
  q = q * a - 4.557118476083977e-05f;
  q = q * a + 0.0005926017200392208f;
  q = q * a - 0.004739417688713877f;
  q = q * a + 0.02636238020582045f;
  q = q * a - 0.10997404648033966f;
  q = q * a - 0.631941635782542f;
  q = q * a - 1.130163978360476f;
  q = q * a + 0.0003025418047651489f;
  const float large = 1.0f - VecExp(q);
  const float r = std::copysign(Select(a < 0.921875f, small, large), x);
  return Select(x == x, r, x);
}

}  // namespace tessera::engine::elementwise
