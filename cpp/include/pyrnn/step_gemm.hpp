// float32 GEMM kernel for the per-step products h @ Wh and dA @ Wh^T, over a weight packed once per
// sequence (AVX-512; pyrnn::StepWeights falls back to OpenBLAS without it, and for float64).
//
// Why not OpenBLAS here: every call repacks both operands, and a step is small (M = N rows) while Wh
// is reused for all T steps. Single thread, (64, 512) @ (512, 1024) (the (64,100,512,512) LSTM step
// on one core): OpenBLAS 826 us, this kernel 613 us (55 GMAC/s, ~90% of the core's FMA peak).
//
// Packed layout of B (K, Nc): column panels of kNR = 32, each a contiguous (K, 32) block, zero-padded
// past the last column. Each C element is one dot product summed in k order (few-row calls use 4
// partial sums, combined in a fixed order): no result depends on the thread split.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdlib>

#include "pyrnn/activations.hpp"
#include "pyrnn/threads.hpp"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define PYRNN_STEP_KERNEL 1
#define PYRNN_AVX512 __attribute__((target("avx512f")))
#else
#define PYRNN_STEP_KERNEL 0
#endif

namespace pyrnn {
namespace stepk {

constexpr std::ptrdiff_t kNR = 32;  // columns per panel: two 16-float registers
constexpr int kMR = 8;              // rows per micro-tile: 16 accumulators, FMA-bound on one core

// PYRNN_STEP_KERNEL=0 turns the kernel off (OpenBLAS for every step: to measure, and to test that path)
inline bool available() {
#if PYRNN_STEP_KERNEL
  static const bool ok = [] {
    const char* s = std::getenv("PYRNN_STEP_KERNEL");
    return !(s && s[0] == '0') && __builtin_cpu_supports("avx512f");
  }();
  return ok;
#else
  return false;
#endif
}

#if PYRNN_STEP_KERNEL
// C (MR, ncols) (+)= A (MR, K) @ Bp (K, 32); m0, m1 mask the columns present in each half
template <int MR>
PYRNN_AVX512 inline void micro(std::ptrdiff_t K, const float* A, std::ptrdiff_t lda, const float* Bp, float* C,
                               std::ptrdiff_t ldc, __mmask16 m0, __mmask16 m1, bool accumulate) {
  constexpr int KU = MR <= 2 ? 4 : 1;  // one or two rows: 4 independent sums so FMA latency is hidden
  __m512 acc[KU][MR][2];
  for (int u = 0; u < KU; ++u)
    for (int i = 0; i < MR; ++i) acc[u][i][0] = acc[u][i][1] = _mm512_setzero_ps();
  std::ptrdiff_t k = 0;
  for (; k + KU <= K; k += KU)
    for (int u = 0; u < KU; ++u) {
      const __m512 b0 = _mm512_load_ps(Bp + (k + u) * kNR), b1 = _mm512_load_ps(Bp + (k + u) * kNR + 16);
      for (int i = 0; i < MR; ++i) {
        const __m512 a = _mm512_set1_ps(A[i * lda + k + u]);
        acc[u][i][0] = _mm512_fmadd_ps(a, b0, acc[u][i][0]);
        acc[u][i][1] = _mm512_fmadd_ps(a, b1, acc[u][i][1]);
      }
    }
  for (; k < K; ++k) {
    const __m512 b0 = _mm512_load_ps(Bp + k * kNR), b1 = _mm512_load_ps(Bp + k * kNR + 16);
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(A[i * lda + k]);
      acc[0][i][0] = _mm512_fmadd_ps(a, b0, acc[0][i][0]);
      acc[0][i][1] = _mm512_fmadd_ps(a, b1, acc[0][i][1]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    __m512 v0 = acc[0][i][0], v1 = acc[0][i][1];
    for (int u = 1; u < KU; ++u) v0 = _mm512_add_ps(v0, acc[u][i][0]), v1 = _mm512_add_ps(v1, acc[u][i][1]);
    float* c = C + i * ldc;
    if (accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + 16));
    }
    _mm512_mask_storeu_ps(c, m0, v0);
    _mm512_mask_storeu_ps(c + 16, m1, v1);
  }
}

// C (M, ncols) (+)= A (M, K) @ one panel Bp (K, 32), ncols <= 32: row tiles of kMR, then the rest
PYRNN_AVX512 inline void panel(std::ptrdiff_t M, std::ptrdiff_t K, const float* A, std::ptrdiff_t lda,
                               const float* Bp, float* C, std::ptrdiff_t ldc, std::ptrdiff_t ncols, bool accumulate) {
  const __mmask16 m0 = static_cast<__mmask16>(ncols >= 16 ? 0xffff : (1u << ncols) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(ncols >= 32 ? 0xffff : ncols <= 16 ? 0 : (1u << (ncols - 16)) - 1);
  std::ptrdiff_t i = 0;
  for (; i + kMR <= M; i += kMR) micro<kMR>(K, A + i * lda, lda, Bp, C + i * ldc, ldc, m0, m1, accumulate);
  const float* a = A + i * lda;
  float* c = C + i * ldc;
  switch (M - i) {
    case 7: micro<7>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 6: micro<6>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 5: micro<5>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 4: micro<4>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 3: micro<3>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 2: micro<2>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 1: micro<1>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    default: break;
  }
}
#endif

// Packs B (K, Nc) = src[k * ldk + j * ldj] (so B or a transposed view) into ceil(Nc/32) panels, panel
// p at out + p * K * 32. out holds panels(Nc) * K * 32 floats.
inline std::ptrdiff_t panels(std::ptrdiff_t Nc) { return (Nc + kNR - 1) / kNR; }
inline void pack(std::ptrdiff_t K, std::ptrdiff_t Nc, const float* src, std::ptrdiff_t ldk, std::ptrdiff_t ldj,
                 float* out) {
  parallel_for(panels(Nc), static_cast<double>(K) * kNR, [&](std::ptrdiff_t p0, std::ptrdiff_t p1) {
    for (std::ptrdiff_t p = p0; p < p1; ++p) {
      float* dst = out + p * K * kNR;
      const std::ptrdiff_t w = std::min(kNR, Nc - p * kNR);
      for (std::ptrdiff_t k = 0; k < K; ++k) {
        for (std::ptrdiff_t j = 0; j < w; ++j) dst[k * kNR + j] = src[k * ldk + (p * kNR + j) * ldj];
        for (std::ptrdiff_t j = w; j < kNR; ++j) dst[k * kNR + j] = 0.0f;
      }
    }
  });
}

// C (M, columns of the chosen panels) (+)= A (M, K) @ packed panels. Panel q (q < nq) is read from
// Bp(q) and written to C + col(q), ncols(q) wide. Panels are split across threads in fixed contiguous ranges.
template <typename BpF, typename ColF, typename WidthF>
void run_panels(std::ptrdiff_t M, std::ptrdiff_t K, const float* A, std::ptrdiff_t lda, std::ptrdiff_t nq,
                BpF&& Bp, ColF&& col, WidthF&& ncols, float* C, std::ptrdiff_t ldc, bool accumulate) {
#if PYRNN_STEP_KERNEL
  if (M <= 0 || nq <= 0) return;
  auto& pool = ThreadPool::instance();
  const double macs = static_cast<double>(M) * K * nq * kNR;
  const int parts = static_cast<int>(std::min<double>({static_cast<double>(pool.threads()), macs / 65536.0,
                                                       static_cast<double>(nq)}));
  auto job = [&](std::ptrdiff_t q0, std::ptrdiff_t q1) {
    for (std::ptrdiff_t q = q0; q < q1; ++q) panel(M, K, A, lda, Bp(q), C + col(q), ldc, ncols(q), accumulate);
  };
  if (parts <= 1) {
    job(0, nq);
    return;
  }
  const std::ptrdiff_t per = (nq + parts - 1) / parts;
  pool.run(parts, [&](int k) { job(std::min(nq, k * per), std::min(nq, (k + 1) * per)); });
#else
  (void)M, (void)K, (void)A, (void)lda, (void)nq, (void)Bp, (void)col, (void)ncols, (void)C, (void)ldc,
      (void)accumulate;
#endif
}

}  // namespace stepk
}  // namespace pyrnn
