// Row-major GEMM over the BLAS the module links (OpenBLAS from the scipy-openblas32
// wheel, whose symbols carry a `scipy_` prefix), plus facts about that BLAS.
#pragma once
#include <cstddef>
#include <string>

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

}  // namespace pyrnn
