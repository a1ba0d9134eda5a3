// Row-major GEMM on cuBLAS and the whole-array helpers (see blas.cuh).
#include <climits>
#include <string>

#include "pyrnn_cuda/core/blas.cuh"
#include "pyrnn_cuda/core/check.cuh"

namespace pyrnn_cuda {

namespace {

int as_int(idx v, const char* what) {
  // pyrnn.ops rejects such sizes before anything is allocated; this guards direct callers
  if (v < 0 || v > INT_MAX) throw CudaError(std::string("pyrnn._cuda: ") + what + " = " + std::to_string(v) +
                                            " does not fit cuBLAS's 32-bit int");
  return static_cast<int>(v);
}

cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                         float* C, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const double* alpha, const double* A, int lda, const double* B, int ldb,
                         const double* beta, double* C, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
const char* gemm_name(float) { return "cublasSgemm"; }
const char* gemm_name(double) { return "cublasDgemm"; }

cublasStatus_t gemm_batched_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                 const float* alpha, const float* A, int lda, long long sA, const float* B, int ldb,
                                 long long sB, const float* beta, float* C, int ldc, long long sC, int batch) {
  return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batch);
}
cublasStatus_t gemm_batched_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                 const double* alpha, const double* A, int lda, long long sA, const double* B,
                                 int ldb, long long sB, const double* beta, double* C, int ldc, long long sC,
                                 int batch) {
  return cublasDgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batch);
}
const char* gemm_batched_name(float) { return "cublasSgemmStridedBatched"; }
const char* gemm_batched_name(double) { return "cublasDgemmStridedBatched"; }

// Column sums, deterministic: block (32, 32) owns 32 columns; thread (x, y) sums rows y, y+32, ...
// of column x in order, then the 32 partial sums of a column are added in a fixed tree order.
// Loads are coalesced (a warp reads 32 adjacent columns of one row).
template <typename T>
__global__ void column_sums_kernel(idx rows, idx cols, const T* A, idx lda, T* out) {  // A (rows, cols) -> out (cols)
  __shared__ T part[32][32];
  const idx col = static_cast<idx>(blockIdx.x) * 32 + threadIdx.x;
  T acc = T(0);
  if (col < cols)
    for (idx r = threadIdx.y; r < rows; r += 32) acc += A[r * lda + col];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  for (int half = 16; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.y) < half) part[threadIdx.y][threadIdx.x] += part[threadIdx.y + half][threadIdx.x];
    __syncthreads();
  }
  if (threadIdx.y == 0 && col < cols) out[col] = part[0][threadIdx.x];
}

}  // namespace

template <typename T>
void gemm(const Session& s, bool transA, bool transB, idx M, idx Nc, idx K, T alpha, const T* A, idx lda,
          const T* B, idx ldb, T beta, T* C, idx ldc) {
  if (M == 0 || Nc == 0) return;
  if (K == 0) {  // an empty sum: C = beta C (only beta 0 and 1 occur here)
    if (beta == T(0))
      PYRNN_CUDA_CHECK(cudaMemset2DAsync(C, ldc * sizeof(T), 0, Nc * sizeof(T), M, s.stream()));
    return;
  }
  // cuBLAS is column-major, and a row-major (r, c) matrix with row stride ld is the column-major
  // (c, r) matrix with leading dimension ld: its transpose. So C^T = op(B)^T op(A)^T: pass B
  // first, A second, and swap M and Nc; the transpose flags stay with their matrices.
  const cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasStatus_t st =
      gemm_call(s.blas(), opB, opA, as_int(Nc, "GEMM width"), as_int(M, "GEMM height"), as_int(K, "GEMM depth"),
                &alpha, B, as_int(ldb, "GEMM ldb"), A, as_int(lda, "GEMM lda"), &beta, C, as_int(ldc, "GEMM ldc"));
  check_cublas(st, gemm_name(T()), __FILE__, __LINE__);
}

template <typename T>
void gemm_strided_batched(const Session& s, bool transA, bool transB, idx M, idx Nc, idx K, T alpha, const T* A,
                          idx lda, idx strideA, const T* B, idx ldb, idx strideB, T beta, T* C, idx ldc, idx strideC,
                          idx batch) {
  if (M == 0 || Nc == 0 || batch == 0) return;
  if (K == 0) {  // empty sums: C_b = beta C_b (only beta 0 and 1 occur here)
    if (beta == T(0))
      for (idx b = 0; b < batch; ++b)
        PYRNN_CUDA_CHECK(cudaMemset2DAsync(C + b * strideC, ldc * sizeof(T), 0, Nc * sizeof(T), M, s.stream()));
    return;
  }
  // the row-major to column-major mapping of gemm: B first, A second, M and Nc swapped
  const cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasStatus_t st = gemm_batched_call(
      s.blas(), opB, opA, as_int(Nc, "GEMM width"), as_int(M, "GEMM height"), as_int(K, "GEMM depth"), &alpha, B,
      as_int(ldb, "GEMM ldb"), strideB, A, as_int(lda, "GEMM lda"), strideA, &beta, C, as_int(ldc, "GEMM ldc"),
      strideC, as_int(batch, "GEMM batch count"));
  check_cublas(st, gemm_batched_name(T()), __FILE__, __LINE__);
}

template <typename T>
void column_sums(const Session& s, idx rows, idx cols, const T* A, idx lda, T* out) {
  if (cols == 0) return;
  const dim3 block(32, 32);
  const dim3 grid(static_cast<unsigned>((cols + 31) / 32));
  column_sums_kernel<T><<<grid, block, 0, s.stream()>>>(rows, cols, A, lda, out);
  PYRNN_CUDA_CHECK_LAUNCH("column_sums_kernel");
}

template <typename T>
void copy_rows_or_zero(const Session& s, T* dst, const T* src, idx rows, idx cols, idx lds) {
  if (rows == 0 || cols == 0) return;
  if (src)
    PYRNN_CUDA_CHECK(cudaMemcpy2DAsync(dst, cols * sizeof(T), src, lds * sizeof(T), cols * sizeof(T), rows,
                                       cudaMemcpyDeviceToDevice, s.stream()));
  else
    PYRNN_CUDA_CHECK(cudaMemsetAsync(dst, 0, rows * cols * sizeof(T), s.stream()));  // 0 bits = +0.0
}

template <typename T>
void states_before_each_step(const Session& s, idx N, idx Tn, idx H, const T* h0, const T* hs, T* hprev) {
  if (N == 0 || Tn == 0) return;
  const size_t row = static_cast<size_t>(Tn * H) * sizeof(T);  // one batch row of (T, H), in bytes
  if (h0)  // hprev[:, 0] = h0
    PYRNN_CUDA_CHECK(cudaMemcpy2DAsync(hprev, row, h0, H * sizeof(T), H * sizeof(T), N, cudaMemcpyDeviceToDevice,
                                       s.stream()));
  else
    PYRNN_CUDA_CHECK(cudaMemset2DAsync(hprev, row, 0, H * sizeof(T), N, s.stream()));
  if (Tn > 1)  // hprev[:, 1:] = hs[:, :T-1]
    PYRNN_CUDA_CHECK(cudaMemcpy2DAsync(hprev + H, row, hs, row, (Tn - 1) * H * sizeof(T), N,
                                       cudaMemcpyDeviceToDevice, s.stream()));
}

#define PYRNN_INSTANTIATE(T)                                                                              \
  template void gemm<T>(const Session&, bool, bool, idx, idx, idx, T, const T*, idx, const T*, idx, T, T*, idx); \
  template void gemm_strided_batched<T>(const Session&, bool, bool, idx, idx, idx, T, const T*, idx, idx,     \
                                        const T*, idx, idx, T, T*, idx, idx, idx);                           \
  template void column_sums<T>(const Session&, idx, idx, const T*, idx, T*);                              \
  template void copy_rows_or_zero<T>(const Session&, T*, const T*, idx, idx, idx);                        \
  template void states_before_each_step<T>(const Session&, idx, idx, idx, const T*, const T*, T*);
PYRNN_INSTANTIATE(float)
PYRNN_INSTANTIATE(double)
#undef PYRNN_INSTANTIATE

}  // namespace pyrnn_cuda
