// Row-major GEMM over the BLAS the module links (OpenBLAS from the scipy-openblas32
// wheel, whose symbols carry a `scipy_` prefix), plus facts about that BLAS.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <string>

#include <cblas.h>  // scipy_openblas32's header: declares scipy_cblas_* and scipy_openblas_*

#include "pyrnn/core/env.hpp"
#include "pyrnn/core/index.hpp"
#include "pyrnn/core/threads.hpp"

namespace pyrnn {

// y (rows of the stored matrix when !trans, else its columns) = alpha * op(Mat) x + beta * y, row-major
template <typename T>
inline void gemv(bool trans, index_t rows, index_t cols, T alpha, const T* Mat, index_t ld, const T* x, index_t incx,
                 T beta, T* y, index_t incy) {
  const auto t = trans ? CblasTrans : CblasNoTrans;
  if constexpr (sizeof(T) == sizeof(float))
    scipy_cblas_sgemv(CblasRowMajor, t, (blasint)rows, (blasint)cols, alpha, Mat, (blasint)ld, x, (blasint)incx, beta,
                      y, (blasint)incy);
  else
    scipy_cblas_dgemv(CblasRowMajor, t, (blasint)rows, (blasint)cols, alpha, Mat, (blasint)ld, x, (blasint)incx, beta,
                      y, (blasint)incy);
}

// A GEMM with one row (M = 1) or one column (Nc = 1) as a matrix-vector product: OpenBLAS's gemm packs
// both operands even then (a 1-row x @ Wx (1024, 4096) took 1.7 ms, the same gemv 0.3 ms), gemv streams
// the matrix once. Sizes >= 1. beta 0 clears C first, so no NaN in C's old contents survives (BLAS
// leaves beta = 0 with unread y to the implementation).
template <typename T>
inline void gemv_product(bool transA, bool transB, index_t M, index_t Nc, index_t K, T alpha, const T* A, index_t lda,
                         const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  if (M == 1) {  // c (Nc) = op(B)^T a, a the one row of op(A)
    if (beta == T(0)) std::fill(C, C + Nc, T(0));
    const index_t inca = transA ? lda : 1;
    if (transB)  // B stored (Nc, K)
      gemv<T>(false, Nc, K, alpha, B, ldb, A, inca, beta, C, 1);
    else  // B stored (K, Nc)
      gemv<T>(true, K, Nc, alpha, B, ldb, A, inca, beta, C, 1);
    return;
  }
  // Nc == 1: c (M, column of C) = op(A) b, b the one column of op(B)
  if (beta == T(0))
    for (index_t i = 0; i < M; ++i) C[i * ldc] = T(0);
  const index_t incb = transB ? 1 : ldb;
  if (transA)  // A stored (K, M)
    gemv<T>(true, K, M, alpha, A, lda, B, incb, beta, C, ldc);
  else  // A stored (M, K)
    gemv<T>(false, M, K, alpha, A, lda, B, incb, beta, C, ldc);
}

// C (M, Nc) = alpha * op(A) (M, K) @ op(B) (K, Nc) + beta * C; all row-major with leading dims.
// Degenerate sizes are handled here because BLAS rejects ld < 1 and K = 0 would skip the beta scaling.
template <typename T>
inline void gemm(bool transA, bool transB, index_t M, index_t Nc, index_t K, T alpha, const T* A, index_t lda,
                 const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  if (M <= 0 || Nc <= 0) return;
  if (K <= 0) {
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < Nc; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  if (M == 1 || Nc == 1) {
    gemv_product<T>(transA, transB, M, Nc, K, alpha, A, lda, B, ldb, beta, C, ldc);
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

// Blocks per thread for a large GEMM (tuning knob, measured: see pgemm). PYRNN_GEMM_BLOCKS.
inline double gemm_blocks_per_thread() {
  static const double v = env_number("PYRNN_GEMM_BLOCKS", 2.0);
  return v;
}

// The BLAS runs single-threaded (set when pyrnn._cpu loads); pgemm splits C into fixed blocks of rows
// (when M >= Nc) or columns, one single-threaded BLAS call per block on pyrnn's pool. No block splits K,
// so every element of C is the same dot product in the same order as in one call: results do not
// depend on the split. Below ~64K multiply-adds a call runs whole on the caller.
template <typename T>
inline void pgemm(bool transA, bool transB, index_t M, index_t Nc, index_t K, T alpha,
                  const T* A, index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
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
  const index_t len = by_rows ? M : Nc;
  constexpr index_t kAlign = 16;  // block edges on whole SIMD tiles / cache lines of C
  parts = static_cast<int>(std::min<index_t>(parts, len / kAlign));
  if (parts <= 1 || K <= 0) {
    gemm<T>(transA, transB, M, Nc, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const index_t step = ((len + parts - 1) / parts + kAlign - 1) / kAlign * kAlign;
  pool.run(parts, [&](int k) {
    const index_t b = std::min(len, k * step), e = std::min(len, (k + 1) * step);
    if (b >= e) return;
    if (by_rows)
      gemm<T>(transA, transB, e - b, Nc, K, alpha, transA ? A + b : A + b * lda, lda, B, ldb, beta, C + b * ldc,
              ldc);
    else
      gemm<T>(transA, transB, M, e - b, K, alpha, A, lda, transB ? B + b * ldb : B + b, ldb, beta, C + b, ldc);
  });
}

}  // namespace pyrnn
