// Scalar activations (exp, sigmoid, tanh) for the fused row loops: float32 without libm calls, so the
// loops vectorize; float64 on libm.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace pyrnn {

// exp for float32 without a libm call, so the fused gate loops vectorize (libm's expf/tanhf are
// scalar calls and took half the LSTM step). Cephes' expf: x = n ln2 + r with |r| <= ln2/2, a
// degree-6 polynomial for e^r, 2^n built in the exponent bits; about 2 ulp. x is clamped to
// [-87, 88] so 2^n stays a normal float (e^-87 = 1.6e-38 instead of a denormal, e^88 = 1.7e38
// instead of inf): sigmoid and tanh below are then exact to float precision at both ends.
// A NaN input gives NaN (like std::exp), so a NaN in the data propagates through the gates as in
// NumPy: the clamps are written so that a NaN passes them (a comparison with NaN is false), and the
// polynomial of a NaN is NaN whatever 2^n comes out as. `hi` moves the upper clamp (see sigmoid).
__attribute__((always_inline)) inline float exp_fast(float x, float hi = 88.0f) {
  x = x > hi ? hi : x;
  x = x < -87.0f ? -87.0f : x;
  const float fx = x * 1.44269504088896341f + 0.5f;
  int n = static_cast<int>(fx);  // truncation; floor for negative fx below
  n -= (static_cast<float>(n) > fx) ? 1 : 0;
  const float fn = static_cast<float>(n);
  float r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(n + 127) << 23;  // unsigned: no shift of a negative
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}
// float64 is for gradient checks: keep libm's correctly rounded-ish exp and tanh there.
inline double exp_fast(double x) { return std::exp(x); }

// 1 / (1 + exp(-x)): NaN only for a NaN, and both tails keep their relative accuracy down to e^-88.
// float32: exp(-x) is clamped at 89 instead of 88, where 2^n = 2^128 is +inf: so sigmoid(x) = 0 below
// -88.4 and sigmoid(-inf) = 0 exactly, as in NumPy (where exp(-x) overflows below -88.72); clamped at 88
// it gave 6e-39, and an inf then reached other outputs than in the reference (inf * 6e-39 is inf where
// inf * 0 is NaN). sigmoid(+inf) = 1 / (1 + 1.6e-38) = 1. The same instructions as before: a constant.
__attribute__((always_inline)) inline float sigmoid(float x) { return 1.0f / (1.0f + exp_fast(-x, 89.0f)); }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|) in (0, 1]: no overflow anywhere. That form
// cancels near 0 (its error is absolute, ~1 ulp of 1: 0.04% relative at tanh = 3e-5, which the
// property tests caught on a small RNN state), so |x| < 0.625 uses Cephes' odd polynomial
// x + x^3 P(x^2) (~1 ulp relative). Both are computed and blended arithmetically (a ternary here
// stopped the gate loops vectorizing: LSTM forward 2.1 -> 3.9 ms). The polynomial reads x clamped
// to the small range, so it stays finite and an inf input still gives +-1; a NaN stays NaN.
__attribute__((always_inline)) inline float tanh_(float x) {
  const float ax = std::fabs(x);
  const float e = exp_fast(-2.0f * ax);  // in (0, 1]: neither end matters, tanh(+-inf) = +-1 exactly
  const float big = std::copysign((1.0f - e) / (1.0f + e), x);
  float xs = x > 0.625f ? 0.625f : x;  // clamps written like exp_fast's, which vectorize
  xs = xs < -0.625f ? -0.625f : xs;
  const float z = xs * xs;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = xs + xs * z * p;
  const float w = static_cast<float>(ax < 0.625f);
  return w * small + (1.0f - w) * big;
}
inline double tanh_(double x) { return std::tanh(x); }

}  // namespace pyrnn
