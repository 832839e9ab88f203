// A vectorizable exp() for float, used by Softmax-like kernels.
//
// std::exp does not auto-vectorize without -ffast-math; this Cephes-style
// version (range reduction by ln 2, degree-6 polynomial, exponent built from
// bits) has no branches, and selects with bit masks instead of ?: (which GCC
// will not if-convert on floats under the default -ftrapping-math), so loops
// over it vectorize. Relative error is below 2e-7 on [-87.3, 88]; inputs
// below -87.3 (including -inf) return 0 (true value < 1.2e-38), inputs above
// 88 return exp(88), NaN stays NaN.
#pragma once

#include <bit>
#include <cstdint>

namespace tessera::engine {

// cond ? a : b, computed with bit masks.
inline float SelectFloat(bool cond, float a, float b) {
  const uint32_t mask = 0u - static_cast<uint32_t>(cond);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(a) & mask) | (std::bit_cast<uint32_t>(b) & ~mask));
}

inline float VectorizableExp(float x) {
  constexpr float kLow = -87.33654f;
  constexpr float kHigh = 88.0f;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const bool is_nan = x != x;
  const bool underflow = x < kLow;
  float v = SelectFloat(x > kHigh, kHigh, x);
  v = SelectFloat(underflow || is_nan, kLow, v);
  const float n = (v * kLog2e + kRound) - kRound;  // in [-126, 127]
  const float r = (v - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * (r * r) + r + 1.0f;
  const float scale = std::bit_cast<float>(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  const float result = SelectFloat(underflow, 0.0f, y * scale);
  return SelectFloat(is_nan, x, result);
}

}  // namespace tessera::engine
