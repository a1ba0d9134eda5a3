// Host emulation of cuBLAS's column-major GEMM (plain and strided-batched) for kernels/emulator (see cuda_runtime.h there): the
// documented argument checks (m, n, k >= 0; lda >= max(1, rows of op(A) as stored), ...) and the
// product, summed in long double (the emulator checks indexing and transposes, not rounding).
#pragma once
#include "cuda_runtime.h"

typedef int cublasStatus_t;
constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7;
typedef struct cublasContext* cublasHandle_t;
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasMath_t { CUBLAS_DEFAULT_MATH = 0 };
enum cublasPointerMode_t { CUBLAS_POINTER_MODE_HOST = 0 };
enum cublasAtomicsMode_t { CUBLAS_ATOMICS_NOT_ALLOWED = 0 };
enum libraryPropertyType { MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL };
#define CUBLAS_VERSION 130000

inline const char* cublasGetStatusName(cublasStatus_t s) {
  return s == CUBLAS_STATUS_INVALID_VALUE ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_EMULATED";
}
inline const char* cublasGetStatusString(cublasStatus_t) { return "emulated cuBLAS error"; }
inline cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = reinterpret_cast<cublasHandle_t>(1);
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetPointerMode(cublasHandle_t, cublasPointerMode_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetAtomicsMode(cublasHandle_t, cublasAtomicsMode_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasGetProperty(libraryPropertyType t, int* v) {
  *v = t == MAJOR_VERSION ? 13 : 0;
  return CUBLAS_STATUS_SUCCESS;
}

// cuBLAS's documented checks: m, n, k >= 0; lda >= max(1, rows of op(A) as stored), ldb likewise, ldc >= max(1, m)
inline bool emu_gemm_args_valid(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda, int ldb,
                                int ldc) {
  auto at_least_1 = [](int a) { return a > 1 ? a : 1; };
  return m >= 0 && n >= 0 && k >= 0 && lda >= at_least_1(ta == CUBLAS_OP_N ? m : k) &&
         ldb >= at_least_1(tb == CUBLAS_OP_N ? k : n) && ldc >= at_least_1(m);
}

// C (m, n) = alpha op(A) op(B) + beta C, column-major: X(i, j) is X[i + j * ldX]
template <class T>
cublasStatus_t emu_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T* alpha, const T* A,
                        int lda, const T* B, int ldb, const T* beta, T* C, int ldc) {
  if (!emu_gemm_args_valid(ta, tb, m, n, k, lda, ldb, ldc)) return CUBLAS_STATUS_INVALID_VALUE;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      long double s = 0;
      for (int l = 0; l < k; ++l) {
        const T a = ta == CUBLAS_OP_N ? A[i + static_cast<long>(l) * lda] : A[l + static_cast<long>(i) * lda];
        const T b = tb == CUBLAS_OP_N ? B[l + static_cast<long>(j) * ldb] : B[j + static_cast<long>(l) * ldb];
        s += static_cast<long double>(a) * b;
      }
      T& c = C[i + static_cast<long>(j) * ldc];
      c = static_cast<T>(*alpha * static_cast<T>(s) + (*beta == T(0) ? T(0) : *beta * c));  // beta 0: C unread
    }
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                  const float* alpha, const float* A, int lda, const float* B, int ldb,
                                  const float* beta, float* C, int ldc) {
  return emu_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline cublasStatus_t cublasDgemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                  const double* alpha, const double* A, int lda, const double* B, int ldb,
                                  const double* beta, double* C, int ldc) {
  return emu_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Strided-batched: C_b = alpha op(A_b) op(B_b) + beta C_b with X_b = X + b * strideX, for b < batchCount;
// the checks of gemm plus batchCount >= 0 (cuBLAS: CUBLAS_STATUS_INVALID_VALUE)
template <class T>
cublasStatus_t emu_gemm_strided_batched(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                        const T* alpha, const T* A, int lda, long long sA, const T* B, int ldb,
                                        long long sB, const T* beta, T* C, int ldc, long long sC, int batchCount) {
  if (batchCount < 0 || !emu_gemm_args_valid(ta, tb, m, n, k, lda, ldb, ldc)) return CUBLAS_STATUS_INVALID_VALUE;
  for (int b = 0; b < batchCount; ++b) {
    const cublasStatus_t st = emu_gemm(ta, tb, m, n, k, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
  }
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m,
                                                int n, int k, const float* alpha, const float* A, int lda,
                                                long long sA, const float* B, int ldb, long long sB,
                                                const float* beta, float* C, int ldc, long long sC, int batchCount) {
  return emu_gemm_strided_batched(ta, tb, m, n, k, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batchCount);
}
inline cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m,
                                                int n, int k, const double* alpha, const double* A, int lda,
                                                long long sA, const double* B, int ldb, long long sB,
                                                const double* beta, double* C, int ldc, long long sC,
                                                int batchCount) {
  return emu_gemm_strided_batched(ta, tb, m, n, k, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batchCount);
}
