// Row-major GEMM over the BLAS the module links (OpenBLAS from the scipy-openblas32
// wheel, whose symbols carry a `scipy_` prefix), plus facts about that BLAS.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

#include "pyrnn/step_gemm.hpp"
#include "pyrnn/threads.hpp"

#include <algorithm>
#include <memory>
#include <type_traits>
#include <cblas.h>  // scipy_openblas32's header: declares scipy_cblas_* and scipy_openblas_*

namespace pyrnn {

// C (M, Nc) = alpha * op(A) (M, K) @ op(B) (K, Nc) + beta * C; all row-major with leading dims.
// Degenerate sizes are handled here because BLAS rejects ld < 1 and K = 0 would skip the beta scaling.
template <typename T>
inline void gemm(bool transA, bool transB, std::ptrdiff_t M, std::ptrdiff_t Nc, std::ptrdiff_t K, T alpha,
                 const T* A, std::ptrdiff_t lda, const T* B, std::ptrdiff_t ldb, T beta, T* C,
                 std::ptrdiff_t ldc) {
  if (M <= 0 || Nc <= 0) return;
  if (K <= 0) {
    for (std::ptrdiff_t i = 0; i < M; ++i)
      for (std::ptrdiff_t j = 0; j < Nc; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  const auto ta = transA ? CblasTrans : CblasNoTrans;
  const auto tb = transB ? CblasTrans : CblasNoTrans;
  if constexpr (sizeof(T) == sizeof(float)) {
    scipy_cblas_sgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)Nc, (blasint)K, alpha, A, (blasint)lda, B,
                      (blasint)ldb, beta, C, (blasint)ldc);
  } else {
    scipy_cblas_dgemm(CblasRowMajor, ta, tb, (blasint)M, (blasint)Nc, (blasint)K, alpha, A, (blasint)lda, B,
                      (blasint)ldb, beta, C, (blasint)ldc);
  }
}

inline std::string blas_name() { return "OpenBLAS"; }

// e.g. "0.3.34.481.3" (from the header the module was compiled against).
inline std::string blas_version() {
  std::string v = OPENBLAS_VERSION;  // " OpenBLAS 0.3.34.481.3 "
  const std::string key = "OpenBLAS ";
  auto p = v.find(key);
  if (p != std::string::npos) v = v.substr(p + key.size());
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

// The runtime library's own configuration string (architecture it picked, MAX_THREADS, ...).
inline std::string blas_config() { return scipy_openblas_get_config(); }
inline std::string blas_core() { return scipy_openblas_get_corename(); }
inline int blas_threads() { return scipy_openblas_get_num_threads(); }
inline void blas_set_threads(int n) { scipy_openblas_set_num_threads(n); }

// ---- GEMM split across pyrnn's threads --------------------------------------------------------------
// The BLAS runs single-threaded (set when pyrnn._cpu loads); pgemm splits C into fixed blocks of rows
// (when M >= Nc) or columns, one single-threaded BLAS call per block on pyrnn's pool. No block splits K,
// so every element of C is the same dot product in the same order as in one call: results do not
// depend on the split. Below ~64K multiply-adds a call runs whole on the caller.
template <typename T>
inline void pgemm(bool transA, bool transB, std::ptrdiff_t M, std::ptrdiff_t Nc, std::ptrdiff_t K, T alpha,
                  const T* A, std::ptrdiff_t lda, const T* B, std::ptrdiff_t ldb, T beta, T* C, std::ptrdiff_t ldc) {
  auto& pool = ThreadPool::instance();
  const double macs = static_cast<double>(M) * Nc * K;
  // Small GEMMs (the per-step ones, and up to ~64M multiply-adds): one block per thread (measured
  // best at (32,35,128,128)). Large ones: up to 2 blocks per thread of >= 32M multiply-adds each,
  // taken first-come: when another process holds a core, the thread that runs takes most blocks
  // instead of waiting for a descheduled one to finish half the work (PYRNN_GEMM_BLOCKS sets the 2).
  // Each block repacks the operand it shares with the others (all of A^T for dW = X^T dA: 13 MB at
  // (64,100,512,512)), so more blocks cost packing: LSTM fwd+bwd there, quiet machine, median of 5,
  // two rounds: 1 block/thread 411 ms, 2: 413 ms, 4: 421 ms.
  int parts = static_cast<int>(std::min<double>(pool.threads(), macs / 65536.0));
  if (parts > 1) parts = std::max(parts, static_cast<int>(std::min<double>(gemm_blocks_per_thread() * pool.threads(), macs / 33554432.0)));
  const bool by_rows = M >= Nc;
  const std::ptrdiff_t len = by_rows ? M : Nc;
  constexpr std::ptrdiff_t kAlign = 16;  // block edges on whole SIMD tiles / cache lines of C
  parts = static_cast<int>(std::min<std::ptrdiff_t>(parts, len / kAlign));
  if (parts <= 1 || K <= 0) {
    gemm<T>(transA, transB, M, Nc, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const std::ptrdiff_t step = ((len + parts - 1) / parts + kAlign - 1) / kAlign * kAlign;
  pool.run(parts, [&](int k) {
    const std::ptrdiff_t b = std::min(len, k * step), e = std::min(len, (k + 1) * step);
    if (b >= e) return;
    if (by_rows)
      gemm<T>(transA, transB, e - b, Nc, K, alpha, transA ? A + b : A + b * lda, lda, B, ldb, beta, C + b * ldc,
              ldc);
    else
      gemm<T>(transA, transB, M, e - b, K, alpha, A, lda, transB ? B + b * ldb : B + b, ldb, beta, C + b, ldc);
  });
}

// dW (H, C) = hprev^T dA without building hprev (N*T, H), the state each step starts from (h0's row, or
// zeros, at t = 0; else hs's previous row). hs (N, T, H); dA (N*T rows, C columns, leading dim ldd).
// One GEMM pairs every hs row r-1 with dA row r; the pairs that cross into the next sequence (r = n*T)
// become exact zeros because dA's t = 0 rows are cleared first, and h0^T dA_0 is added by a K = N GEMM.
// Saves copying hs into an (N*T, H) buffer. CLOBBERS dA's t = 0 rows: call it after every other use of dA.
template <typename T>
inline void grad_from_previous_states(std::ptrdiff_t N, std::ptrdiff_t Tn, std::ptrdiff_t H, std::ptrdiff_t C,
                                      const T* h0, const T* hs, T* dA, std::ptrdiff_t ldd, T* dW,
                                      std::ptrdiff_t ldw) {
  if (N * Tn == 0) {  // no step: zero gradient (gemm with K = 0 and beta 0 writes zeros)
    gemm<T>(true, false, H, C, 0, T(1), hs, H, dA, ldd, T(0), dW, ldw);
    return;
  }
  std::vector<T> dA0(h0 ? static_cast<size_t>(N * C) : 0);
  for (std::ptrdiff_t n = 0; n < N; ++n) {
    T* row = dA + n * Tn * ldd;
    if (h0) std::copy(row, row + C, dA0.data() + n * C);
    std::fill(row, row + C, T(0));
  }
  pgemm<T>(true, false, H, C, N * Tn - 1, T(1), hs, H, dA + ldd, ldd, T(0), dW, ldw);
  if (h0) pgemm<T>(true, false, H, C, N, T(1), h0, H, dA0.data(), C, T(1), dW, ldw);
}

// The recurrent weight Wh (H, G) in the two per-step products:
//   forward   out (M, c1-c0) = h (M, H) @ Wh[:, c0:c1]          (c0, c1 multiples of H: gate blocks)
//   backward  out (M, H) = beta out + d (M, c1-c0) @ Wh[:, c0:c1]^T   (beta 0 or 1)
// float32 on an AVX-512 CPU: Wh is packed once per sequence for pyrnn's step kernel (step_gemm.hpp),
// which beats OpenBLAS on these small-M products by not repacking Wh every step. Forward packs each
// gate block of H columns separately, so a gate range is whole panels; backward packs Wh^T (G, H).
// Otherwise OpenBLAS, with a transposed copy WhT (G, H) where that layout runs faster:
//   forward, M <= 2 (a GEMV): the dot-product form on WhT's contiguous rows measured 3x faster than
//     the axpy form on Wh (H=256, G=1024: 15 us vs 44 us);
//   backward, M > 2: d @ WhT (no transposed operand) measured faster than d @ Wh^T
//     (see PYRNN_STEP_WHT below for the switch used to measure it).
template <typename T>
class StepWeights {
 public:
  enum Pass { kForward, kBackward };
  StepWeights(const T* Wh, std::ptrdiff_t H, std::ptrdiff_t G, std::ptrdiff_t M, Pass pass) : Wh_(Wh), H_(H), G_(G) {
    if constexpr (std::is_same_v<T, float>) {
      if (stepk::available() && H > 0 && G % H == 0) {
        ppb_ = stepk::panels(H);
        const std::ptrdiff_t panel = stepk::kNR * (pass == kForward ? H : G);  // floats per panel
        Wp_ = std::make_unique<Buffer<float>>(static_cast<size_t>((pass == kForward ? G / H : 1) * ppb_ * panel));
        if (pass == kForward)
          for (std::ptrdiff_t b = 0; b < G / H; ++b) stepk::pack(H, H, Wh + b * H, G, 1, Wp_->data() + b * ppb_ * panel);
        else
          stepk::pack(G, H, Wh, 1, G, Wp_->data());  // B (G, H) = Wh^T: B[k][j] = Wh[j * G + k]
        return;
      }
    }
    const bool want = pass == kForward ? M <= 2 : (M > 2 && use_transposed_backward());
    if (want && H > 0) {
      WhT_.resize(static_cast<size_t>(H * G));
      constexpr std::ptrdiff_t kB = 32;  // blocked transpose: both sides stay in cache
      for (std::ptrdiff_t i0 = 0; i0 < H; i0 += kB)
        for (std::ptrdiff_t j0 = 0; j0 < G; j0 += kB)
          for (std::ptrdiff_t i = i0; i < std::min(H, i0 + kB); ++i)
            for (std::ptrdiff_t j = j0; j < std::min(G, j0 + kB); ++j) WhT_[j * H + i] = Wh[i * G + j];
    }
  }
  // out (M, c1-c0) = h (M, H) @ Wh[:, c0:c1]
  void forward(std::ptrdiff_t M, const T* h, std::ptrdiff_t ldh, std::ptrdiff_t c0, std::ptrdiff_t c1, T* out,
               std::ptrdiff_t ldo) const {
    if constexpr (std::is_same_v<T, float>) {
      if (Wp_) {  // panel q of the range: gate block b0 + q / ppb, panel q % ppb inside it
        const std::ptrdiff_t H = H_, ppb = ppb_, b0 = c0 / H, nq = (c1 - c0) / H * ppb;
        const float* Wp = Wp_->data();
        stepk::run_panels(
            M, H, h, ldh, nq, [&](std::ptrdiff_t q) { return Wp + ((b0 + q / ppb) * ppb + q % ppb) * H * stepk::kNR; },
            [&](std::ptrdiff_t q) { return (q / ppb) * H + (q % ppb) * stepk::kNR; },
            [&](std::ptrdiff_t q) { return std::min(stepk::kNR, H - (q % ppb) * stepk::kNR); }, out, ldo, false);
        return;
      }
    }
    if (!WhT_.empty())
      pgemm<T>(false, true, M, c1 - c0, H_, T(1), h, ldh, WhT_.data() + c0 * H_, H_, T(0), out, ldo);
    else
      pgemm<T>(false, false, M, c1 - c0, H_, T(1), h, ldh, Wh_ + c0, G_, T(0), out, ldo);
  }
  // out (M, H) = beta out + d (M, c1-c0) @ Wh[:, c0:c1]^T
  void backward(std::ptrdiff_t M, const T* d, std::ptrdiff_t ldd, std::ptrdiff_t c0, std::ptrdiff_t c1, T beta,
                T* out, std::ptrdiff_t ldo) const {
    if constexpr (std::is_same_v<T, float>) {
      if (Wp_) {  // panel q: columns [32q, 32q+32) of out, rows [c0, c1) of the packed Wh^T
        const std::ptrdiff_t H = H_, G = G_;
        const float* Wp = Wp_->data();
        stepk::run_panels(
            M, c1 - c0, d, ldd, ppb_, [&](std::ptrdiff_t q) { return Wp + (q * G + c0) * stepk::kNR; },
            [&](std::ptrdiff_t q) { return q * stepk::kNR; },
            [&](std::ptrdiff_t q) { return std::min(stepk::kNR, H - q * stepk::kNR); }, out, ldo, beta != T(0));
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
  std::ptrdiff_t H_, G_;
  std::vector<T> WhT_;
  std::ptrdiff_t ppb_ = 0;             // packed: panels per gate block (forward) or in all (backward)
  std::unique_ptr<Buffer<float>> Wp_;  // packed for the step kernel, or null
};

}  // namespace pyrnn
