// The recurrent kernels' per-step products h @ Wh and dA @ Wh^T: StepWeights (at the end) holds Wh
// prepared once per sequence and runs each step's product, on a float32 GEMM kernel over Wh packed
// once (AVX-512; OpenBLAS without it, and for float64).
//
// Why not OpenBLAS here: every call repacks both operands, and a step is small (M = N rows) while Wh
// is reused for all T steps. Single thread, (64, 512) @ (512, 1024) (the (64,100,512,512) LSTM step
// on one core): OpenBLAS 826 us, this kernel 613 us (55 GMAC/s, ~90% of the core's FMA peak).
//
// Packed layout of B (K, Nc): column panels of kStepNR = 32, each a contiguous (K, 32) block, zero-padded
// past the last column. Each C element is one dot product summed in k order (few-row calls use 4
// partial sums, combined in a fixed order): no result depends on the thread split.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <vector>

#include "pyrnn/core/blas.hpp"
#include "pyrnn/core/buffer.hpp"
#include "pyrnn/core/index.hpp"
#include "pyrnn/core/threads.hpp"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define PYRNN_STEP_KERNEL 1
#define PYRNN_AVX512 __attribute__((target("avx512f")))
#else
#define PYRNN_STEP_KERNEL 0
#endif

namespace pyrnn {
namespace detail {  // the step kernel; StepWeights below is its interface

constexpr index_t kStepNR = 32;  // columns per panel: two 16-float registers
constexpr int kStepMR = 8;       // rows per micro-tile: 16 accumulators, FMA-bound on one core

// PYRNN_STEP_KERNEL=0 turns the kernel off (OpenBLAS for every step: to measure, and to test that path)
inline bool step_kernel_available() {
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
PYRNN_AVX512 inline void step_micro_tile(index_t K, const float* A, index_t lda, const float* Bp, float* C,
                                         index_t ldc, __mmask16 m0, __mmask16 m1, bool accumulate) {
  constexpr int KU = MR <= 2 ? 4 : 1;  // one or two rows: 4 independent sums so FMA latency is hidden
  __m512 acc[KU][MR][2];
  for (int u = 0; u < KU; ++u)
    for (int i = 0; i < MR; ++i) acc[u][i][0] = acc[u][i][1] = _mm512_setzero_ps();
  index_t k = 0;
  for (; k + KU <= K; k += KU)
    for (int u = 0; u < KU; ++u) {
      const __m512 b0 = _mm512_load_ps(Bp + (k + u) * kStepNR), b1 = _mm512_load_ps(Bp + (k + u) * kStepNR + 16);
      for (int i = 0; i < MR; ++i) {
        const __m512 a = _mm512_set1_ps(A[i * lda + k + u]);
        acc[u][i][0] = _mm512_fmadd_ps(a, b0, acc[u][i][0]);
        acc[u][i][1] = _mm512_fmadd_ps(a, b1, acc[u][i][1]);
      }
    }
  for (; k < K; ++k) {
    const __m512 b0 = _mm512_load_ps(Bp + k * kStepNR), b1 = _mm512_load_ps(Bp + k * kStepNR + 16);
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

// C (M, ncols) (+)= A (M, K) @ one panel Bp (K, 32), ncols <= 32: row tiles of kStepMR, then the rest
PYRNN_AVX512 inline void step_panel(index_t M, index_t K, const float* A, index_t lda, const float* Bp, float* C,
                                    index_t ldc, index_t ncols, bool accumulate) {
  const __mmask16 m0 = static_cast<__mmask16>(ncols >= 16 ? 0xffff : (1u << ncols) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(ncols >= 32 ? 0xffff : ncols <= 16 ? 0 : (1u << (ncols - 16)) - 1);
  index_t i = 0;
  for (; i + kStepMR <= M; i += kStepMR)
    step_micro_tile<kStepMR>(K, A + i * lda, lda, Bp, C + i * ldc, ldc, m0, m1, accumulate);
  const float* a = A + i * lda;
  float* c = C + i * ldc;
  switch (M - i) {
    case 7: step_micro_tile<7>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 6: step_micro_tile<6>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 5: step_micro_tile<5>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 4: step_micro_tile<4>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 3: step_micro_tile<3>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 2: step_micro_tile<2>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    case 1: step_micro_tile<1>(K, a, lda, Bp, c, ldc, m0, m1, accumulate); break;
    default: break;
  }
}
#endif

// Packs B (K, Nc) = src[k * ldk + j * ldj] (so B or a transposed view) into ceil(Nc/32) panels, panel
// p at out + p * K * 32. out holds step_panels(Nc) * K * 32 floats.
inline index_t step_panels(index_t Nc) { return (Nc + kStepNR - 1) / kStepNR; }
inline void pack_step_panels(index_t K, index_t Nc, const float* src, index_t ldk, index_t ldj, float* out) {
  parallel_for(step_panels(Nc), static_cast<double>(K) * kStepNR, [&](index_t p0, index_t p1) {
    for (index_t p = p0; p < p1; ++p) {
      float* dst = out + p * K * kStepNR;
      const index_t w = std::min(kStepNR, Nc - p * kStepNR);
      for (index_t k = 0; k < K; ++k) {
        for (index_t j = 0; j < w; ++j) dst[k * kStepNR + j] = src[k * ldk + (p * kStepNR + j) * ldj];
        for (index_t j = w; j < kStepNR; ++j) dst[k * kStepNR + j] = 0.0f;
      }
    }
  });
}

// C (M, columns of the chosen panels) (+)= A (M, K) @ packed panels. Panel q (q < nq) is read from
// Bp(q) and written to C + col(q), ncols(q) wide. Panels are split across threads in fixed contiguous ranges.
template <typename BpF, typename ColF, typename WidthF>
void run_step_panels(index_t M, index_t K, const float* A, index_t lda, index_t nq, BpF&& Bp, ColF&& col,
                     WidthF&& ncols, float* C, index_t ldc, bool accumulate) {
#if PYRNN_STEP_KERNEL
  if (M <= 0 || nq <= 0) return;
  auto& pool = ThreadPool::instance();
  const double macs = static_cast<double>(M) * K * nq * kStepNR;
  const int parts = static_cast<int>(std::min<double>({static_cast<double>(pool.threads()), macs / 65536.0,
                                                       static_cast<double>(nq)}));
  auto job = [&](index_t q0, index_t q1) {
    for (index_t q = q0; q < q1; ++q) step_panel(M, K, A, lda, Bp(q), C + col(q), ldc, ncols(q), accumulate);
  };
  if (parts <= 1) {
    job(0, nq);
    return;
  }
  const index_t per = (nq + parts - 1) / parts;
  pool.run(parts, [&](int k) { job(std::min(nq, k * per), std::min(nq, (k + 1) * per)); });
#else
  (void)M, (void)K, (void)A, (void)lda, (void)nq, (void)Bp, (void)col, (void)ncols, (void)C, (void)ldc,
      (void)accumulate;
#endif
}

}  // namespace detail

// The recurrent weight Wh (H, G) in the two per-step products:
//   forward   out (M, c1-c0) = h (M, H) @ Wh[:, c0:c1]          (c0, c1 multiples of H: gate blocks)
//   backward  out (M, H) = beta out + d (M, c1-c0) @ Wh[:, c0:c1]^T   (beta 0 or 1)
// float32 on an AVX-512 CPU: Wh is packed once per sequence for the step kernel above,
// which beats OpenBLAS on these small-M products by not repacking Wh every step. Forward packs each
// gate block of H columns separately, so a gate range is whole panels; backward packs Wh^T (G, H).
// Otherwise OpenBLAS, with a transposed copy WhT (G, H) where that layout runs faster:
//   forward, M <= 2 (a GEMV): the dot-product form on WhT's contiguous rows measured 3x faster than
//     the axpy form on Wh (H=256, G=1024: 15 us vs 44 us);
//   backward, M > 2: d @ WhT (no transposed operand) measured faster than d @ Wh^T
//     (see PYRNN_STEP_WHT below for the switch used to measure it).
//
// Preparing Wh (packing, or the transposed copy) costs about a pass over it, as much as one few-row step
// product: it pays off over a sequence, not on one or two steps (decoding, streaming: T = 1), where
// the products run on Wh as it is (PYRNN_STEP_PACK_MIN_STEPS, the fewest steps that prepare it).
inline index_t step_pack_min_steps() {
  static const index_t v = [] {
    const char* s = std::getenv("PYRNN_STEP_PACK_MIN_STEPS");
    return s ? static_cast<index_t>(std::atol(s)) : index_t(4);
  }();
  return v;
}

template <typename T>
class StepWeights {
 public:
  enum Pass { kForward, kBackward };
  // M: the most rows of a step; steps: how many steps will use Wh
  StepWeights(const T* Wh, index_t H, index_t G, index_t M, index_t steps, Pass pass) : Wh_(Wh), H_(H), G_(G) {
    if (steps < step_pack_min_steps()) return;
    if constexpr (std::is_same_v<T, float>) {
      if (detail::step_kernel_available() && H > 0 && G % H == 0) {
        ppb_ = detail::step_panels(H);
        const index_t panel = detail::kStepNR * (pass == kForward ? H : G);  // floats per panel
        Wp_ = std::make_unique<Buffer<float>>(static_cast<size_t>((pass == kForward ? G / H : 1) * ppb_ * panel));
        if (pass == kForward)
          for (index_t b = 0; b < G / H; ++b)
            detail::pack_step_panels(H, H, Wh + b * H, G, 1, Wp_->data() + b * ppb_ * panel);
        else
          detail::pack_step_panels(G, H, Wh, 1, G, Wp_->data());  // B (G, H) = Wh^T: B[k][j] = Wh[j * G + k]
        return;
      }
    }
    const bool want = pass == kForward ? M <= 2 : (M > 2 && use_transposed_backward());
    if (want && H > 0) {
      WhT_.resize(static_cast<size_t>(H * G));
      constexpr index_t kB = 32;  // blocked transpose: both sides stay in cache
      for (index_t i0 = 0; i0 < H; i0 += kB)
        for (index_t j0 = 0; j0 < G; j0 += kB)
          for (index_t i = i0; i < std::min(H, i0 + kB); ++i)
            for (index_t j = j0; j < std::min(G, j0 + kB); ++j) WhT_[j * H + i] = Wh[i * G + j];
    }
  }
  // out (M, c1-c0) = h (M, H) @ Wh[:, c0:c1]; h null stands for a zero state (the first step without
  // an initial state), so out = 0
  void forward(index_t M, const T* h, index_t ldh, index_t c0, index_t c1, T* out, index_t ldo) const {
    if (!h) {
      for (index_t m = 0; m < M; ++m) std::fill(out + m * ldo, out + m * ldo + (c1 - c0), T(0));
      return;
    }
    if constexpr (std::is_same_v<T, float>) {
      if (Wp_) {  // panel q of the range: gate block b0 + q / ppb, panel q % ppb inside it
        const index_t H = H_, ppb = ppb_, b0 = c0 / H, nq = (c1 - c0) / H * ppb;
        const float* Wp = Wp_->data();
        detail::run_step_panels(
            M, H, h, ldh, nq, [&](index_t q) { return Wp + ((b0 + q / ppb) * ppb + q % ppb) * H * detail::kStepNR; },
            [&](index_t q) { return (q / ppb) * H + (q % ppb) * detail::kStepNR; },
            [&](index_t q) { return std::min(detail::kStepNR, H - (q % ppb) * detail::kStepNR); }, out, ldo, false);
        return;
      }
    }
    if (!WhT_.empty())
      pgemm<T>(false, true, M, c1 - c0, H_, T(1), h, ldh, WhT_.data() + c0 * H_, H_, T(0), out, ldo);
    else
      pgemm<T>(false, false, M, c1 - c0, H_, T(1), h, ldh, Wh_ + c0, G_, T(0), out, ldo);
  }
  // out (M, H) = beta out + d (M, c1-c0) @ Wh[:, c0:c1]^T
  void backward(index_t M, const T* d, index_t ldd, index_t c0, index_t c1, T beta, T* out, index_t ldo) const {
    if constexpr (std::is_same_v<T, float>) {
      if (Wp_) {  // panel q: columns [32q, 32q+32) of out, rows [c0, c1) of the packed Wh^T
        const index_t H = H_, G = G_;
        const float* Wp = Wp_->data();
        detail::run_step_panels(
            M, c1 - c0, d, ldd, ppb_, [&](index_t q) { return Wp + (q * G + c0) * detail::kStepNR; },
            [&](index_t q) { return q * detail::kStepNR; },
            [&](index_t q) { return std::min(detail::kStepNR, H - q * detail::kStepNR); }, out, ldo, beta != T(0));
        return;
      }
    }
    if (!WhT_.empty())
      pgemm<T>(false, false, M, H_, c1 - c0, T(1), d, ldd, WhT_.data() + c0 * H_, H_, beta, out, ldo);
    else
      pgemm<T>(false, true, M, H_, c1 - c0, T(1), d, ldd, Wh_ + c0, G_, beta, out, ldo);
  }

 private:
  static bool use_transposed_backward() {
    static const bool on = [] {
      const char* s = std::getenv("PYRNN_STEP_WHT");
      return !(s && s[0] == '0');
    }();
    return on;
  }
  const T* Wh_;
  index_t H_, G_;
  std::vector<T> WhT_;
  index_t ppb_ = 0;                    // packed: panels per gate block (forward) or in all (backward)
  std::unique_ptr<Buffer<float>> Wp_;  // packed for the step kernel, or null
};

}  // namespace pyrnn
