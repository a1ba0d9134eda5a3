// Row-major GEMM on cuBLAS, plus the small whole-array helpers the recurrent ops share.
// Matrices are row-major with a row stride (ld, in elements), like the C++ kernels' GEMM, so a
// step's h_t is read straight out of hs (N, T, H) as an (N, H) matrix with ld = T*H: no copies.
#pragma once
#include "pyrnn_cuda/core/op.cuh"

namespace pyrnn_cuda {

// C (M, Nc) = alpha op(A) op(B) + beta C, row-major; op(A) (M, K), op(B) (K, Nc).
// K == 0 gives C = beta C (cuBLAS is not asked); M == 0 or Nc == 0 does nothing.
template <typename T>
void gemm(const Session& s, bool transA, bool transB, idx M, idx Nc, idx K, T alpha, const T* A, idx lda,
          const T* B, idx ldb, T beta, T* C, idx ldc);

// For b < batch: C_b = alpha op(A_b) op(B_b) + beta C_b, X_b = X + b * strideX (elements); each as
// gemm above (row-major, K == 0 gives C_b = beta C_b). One cuBLAS strided-batched call: attention's
// per-sequence products ((Td, H) x (H, Te) for each batch row) without a host loop.
template <typename T>
void gemm_strided_batched(const Session& s, bool transA, bool transB, idx M, idx Nc, idx K, T alpha, const T* A,
                          idx lda, idx strideA, const T* B, idx ldb, idx strideB, T beta, T* C, idx ldc, idx strideC,
                          idx batch);

// out (cols) = sum over the rows of A (rows, cols; row stride lda), in a fixed order (no atomics):
// bitwise the same on every run
template <typename T>
void column_sums(const Session& s, idx rows, idx cols, const T* A, idx lda, T* out);

// dst (rows, cols; ld cols) = src (rows, cols; row stride lds), or zeros when src is null
template <typename T>
void copy_rows_or_zero(const Session& s, T* dst, const T* src, idx rows, idx cols, idx lds);

// hprev (N, T, H) = the state each step starts from: h0 (N, H) (zeros when null), hs[:, 0], ...,
// hs[:, T-2], i.e. hs (N, T, H) shifted one step later (the A of the dWh = sum_t h_{t-1}^T dA_t GEMM)
template <typename T>
void states_before_each_step(const Session& s, idx N, idx Tn, idx H, const T* h0, const T* hs, T* hprev);

}  // namespace pyrnn_cuda
