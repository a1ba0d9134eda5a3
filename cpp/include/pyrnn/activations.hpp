// Scalar activations shared by the recurrent kernels, plus small loop helpers.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "pyrnn/threads.hpp"

// Row pointers in the fused loops never alias; saying so lets the compiler vectorize them.
#define PYRNN_RESTRICT __restrict__

// The fused gate loops are compiled for AVX-512, AVX2+FMA and baseline x86-64, and the loader picks
// the best the CPU has (GCC function multiversioning): 8 or 16 gates per instruction, portable binary.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#define PYRNN_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYRNN_SIMD_CLONES
#endif

namespace pyrnn {

// exp for float32 without a libm call, so the fused gate loops vectorize (libm's expf/tanhf are
// scalar calls and took half the LSTM step). Cephes' expf: x = n ln2 + r with |r| <= ln2/2, a
// degree-6 polynomial for e^r, 2^n built in the exponent bits; about 2 ulp. x is clamped to
// [-87, 88] so 2^n stays a normal float (e^-87 = 1.6e-38 instead of a denormal, e^88 = 1.7e38
// instead of inf): sigmoid and tanh below are then exact to float precision at both ends.
// A NaN input gives NaN (like std::exp), so a NaN in the data propagates through the gates as in
// NumPy: the clamps are written so that a NaN passes them (a comparison with NaN is false), and the
// polynomial of a NaN is NaN whatever 2^n comes out as.
__attribute__((always_inline)) inline float exp_fast(float x) {
  x = x > 88.0f ? 88.0f : x;
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

// 1 / (1 + exp(-x)): never NaN (exp_fast is finite), and both tails keep their relative accuracy.
template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + exp_fast(-x));
}

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|) in (0, 1]: no overflow anywhere. That form
// cancels near 0 (its error is absolute, ~1 ulp of 1: 0.04% relative at tanh = 3e-5, which the
// property tests caught on a small RNN state), so |x| < 0.625 uses Cephes' odd polynomial
// x + x^3 P(x^2) (~1 ulp relative). Both are computed and blended arithmetically (a ternary here
// stopped the gate loops vectorizing: LSTM forward 2.1 -> 3.9 ms). The polynomial reads x clamped
// to the small range, so it stays finite and an inf input still gives +-1; a NaN stays NaN.
__attribute__((always_inline)) inline float tanh_(float x) {
  const float ax = std::fabs(x);
  const float e = exp_fast(-2.0f * ax);
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

// Uninitialized scratch of n elements, for the (N, T, ...) buffers a kernel fully writes before reading.
// std::vector zero-fills, and a fresh 52 MB buffer (LSTM (64,100,512,512) pre-activations) then costs
// the fill plus ~13K 4 KB page faults on every call: measured 30 ms of a 200 ms LSTM forward. Blocks of
// 4 MB and up are 2 MB aligned and asked for transparent huge pages (as NumPy does for its arrays):
// 26 faults instead, and fewer TLB misses in the GEMMs that stream them.
template <typename T>
class Buffer {
 public:
  explicit Buffer(size_t n) : n_(n) {
    if (n == 0) return;
    const size_t bytes = n * sizeof(T);
    constexpr size_t kHuge = size_t(2) << 20;
    const bool huge = bytes >= 2 * kHuge;
    const size_t align = huge ? kHuge : 64;
    void* p = nullptr;
    if (posix_memalign(&p, align, (bytes + align - 1) / align * align) != 0) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(p, (bytes + kHuge - 1) / kHuge * kHuge, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
    p_ = static_cast<T*>(p);
  }
  ~Buffer() { std::free(p_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  T* begin() { return p_; }
  T* end() { return p_ + n_; }

 private:
  T* p_ = nullptr;
  size_t n_;
};

// dst (rows, cols) <- src (rows, cols) with src row stride lds, or zeros when src is null.
template <typename T>
inline void copy_rows_or_zero(T* dst, const T* src, std::ptrdiff_t rows, std::ptrdiff_t cols,
                              std::ptrdiff_t lds) {
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    if (src)
      std::memcpy(dst + r * cols, src + r * lds, sizeof(T) * cols);
    else
      std::memset(dst + r * cols, 0, sizeof(T) * cols);
  }
}

// db (G,) = sum over rows of dA (R, G), rows in order, accumulated in double: fixed order means
// bitwise-reproducible, double means the sum over N*T rows loses nothing visible in float32. Threads
// take whole column blocks, so each column's order of additions never changes.
template <typename T>
inline void column_sums(std::ptrdiff_t R, std::ptrdiff_t G, const T* dA, std::ptrdiff_t lda, T* db) {
  constexpr std::ptrdiff_t kBlock = 256;  // columns per pass: accumulators stay in L1
  const std::ptrdiff_t blocks = (G + kBlock - 1) / kBlock;
  parallel_for(blocks, static_cast<double>(R) * kBlock, [&](std::ptrdiff_t b0, std::ptrdiff_t b1) {
    double acc[kBlock];
    for (std::ptrdiff_t j0 = b0 * kBlock; j0 < std::min(G, b1 * kBlock); j0 += kBlock) {
      const std::ptrdiff_t w = (G - j0 < kBlock) ? G - j0 : kBlock;
      for (std::ptrdiff_t j = 0; j < w; ++j) acc[j] = 0.0;
      for (std::ptrdiff_t r = 0; r < R; ++r) {
        const T* row = dA + r * lda + j0;
        for (std::ptrdiff_t j = 0; j < w; ++j) acc[j] += static_cast<double>(row[j]);
      }
      for (std::ptrdiff_t j = 0; j < w; ++j) db[j0 + j] = static_cast<T>(acc[j]);
    }
  });
}

}  // namespace pyrnn
