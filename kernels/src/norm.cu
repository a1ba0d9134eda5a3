// Layer normalisation forward and backward (see norm.cuh).
#include <math.h>

#include "pyrnn_cuda/core/block_reduce.cuh"
#include "pyrnn_cuda/core/check.cuh"
#include "pyrnn_cuda/core/launch.cuh"
#include "pyrnn_cuda/norm.cuh"

namespace pyrnn_cuda {

namespace {

// Threads per row (a power of two: the tree halves it). One block per row, not a warp per short row:
// the same fixed-order block reduction as the softmax rows, correct for any D; a warp-per-row variant
// for D <= 32 or so is left until it can be timed on a GPU (layer norm widths are usually 256..4096,
// where 128 threads per row keep every thread busy).
constexpr int kLayerNormBlock = 128;

// a * b rounded to T, never fused into an FMA by nvcc: g = dy * gamma must be the same rounded value in
// sum(g) and in g - mean(g), so a row whose g is constant (D = 1) gets exactly 0 (as the reference)
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// x (R, D), gamma, beta (D) -> y (R, D), mean, rstd (R)
template <typename T>
__global__ void layer_norm_forward_kernel(idx R, idx D, const T* x, const T* gamma, const T* beta, double eps, T* y,
                                          T* mean, T* rstd) {
  __shared__ double red[kLayerNormBlock];
  for (idx r = blockIdx.x; r < R; r += gridDim.x) {
    const T* xr = x + r * D;
    double sum = 0;
    for (idx d = threadIdx.x; d < D; d += kLayerNormBlock) sum += static_cast<double>(xr[d]);
    sum = block_reduce<kLayerNormBlock, false>(sum, red);
    // the stored mean is rounded to T: centre on that value, so the backward recomputes the same xhat
    const T m = static_cast<T>(sum / static_cast<double>(D));
    double sq = 0;
    for (idx d = threadIdx.x; d < D; d += kLayerNormBlock) {
      const double c = static_cast<double>(xr[d] - m);
      sq += c * c;
    }
    sq = block_reduce<kLayerNormBlock, false>(sq, red);
    const T q = static_cast<T>(1.0 / sqrt(sq / static_cast<double>(D) + eps));
    T* yr = y + r * D;
    for (idx d = threadIdx.x; d < D; d += kLayerNormBlock) yr[d] = mul_rn(xr[d] - m, q) * gamma[d] + beta[d];
    if (threadIdx.x == 0) {
      mean[r] = m;
      rstd[r] = q;
    }
  }
}

// dy, x (R, D), mean, rstd (R), gamma (D) -> dx (R, D), xhat = (x - m) q recomputed:
//   g = dy gamma;  dx = q (g - mean(g) - xhat mean(g xhat))
template <typename T>
__global__ void layer_norm_backward_rows_kernel(idx R, idx D, const T* dy, const T* x, const T* mean, const T* rstd,
                                                const T* gamma, T* dx) {
  __shared__ double red[kLayerNormBlock];
  for (idx r = blockIdx.x; r < R; r += gridDim.x) {
    const T *dyr = dy + r * D, *xr = x + r * D;
    const T m = mean[r], q = rstd[r];
    double sg = 0, sgh = 0;
    for (idx d = threadIdx.x; d < D; d += kLayerNormBlock) {
      const T g = mul_rn(dyr[d], gamma[d]);
      sg += static_cast<double>(g);
      sgh += static_cast<double>(g) * static_cast<double>(mul_rn(xr[d] - m, q));
    }
    sg = block_reduce<kLayerNormBlock, false>(sg, red);
    sgh = block_reduce<kLayerNormBlock, false>(sgh, red);
    const T mg = static_cast<T>(sg / static_cast<double>(D)), mgh = static_cast<T>(sgh / static_cast<double>(D));
    T* dxr = dx + r * D;
    for (idx d = threadIdx.x; d < D; d += kLayerNormBlock) {
      const T g = mul_rn(dyr[d], gamma[d]);
      dxr[d] = q * ((g - mg) - mul_rn(xr[d] - m, q) * mgh);
    }
  }
}

// dy, x (R, D), mean, rstd (R) -> part (nchunks, 2, D): for chunk c and column d, the sums over the
// chunk's rows, in row order, of dy xhat (part[c][0][d]) and of dy (part[c][1][d]). One thread per
// (chunk, column), adjacent threads on adjacent columns (coalesced loads).
template <typename T>
__global__ void layer_norm_partials_kernel(idx R, idx D, idx nchunks, const T* dy, const T* x, const T* mean,
                                           const T* rstd, double* part) {
  PYRNN_GRID_STRIDE_LOOP(k, nchunks * D) {
    const idx c = k / D, d = k % D;
    const idx r0 = c * kLayerNormRowsPerChunk, r1 = r0 + kLayerNormRowsPerChunk < R ? r0 + kLayerNormRowsPerChunk : R;
    double pg = 0, pb = 0;
    for (idx r = r0; r < r1; ++r) {
      const T g = dy[r * D + d];
      pg += static_cast<double>(g) * static_cast<double>(mul_rn(x[r * D + d] - mean[r], rstd[r]));
      pb += static_cast<double>(g);
    }
    part[(c * 2) * D + d] = pg;
    part[(c * 2 + 1) * D + d] = pb;
  }
}

// part (nchunks, 2, D) -> dgamma, dbeta (D): each column's partials added in chunk order
template <typename T>
__global__ void layer_norm_chunk_sums_kernel(idx D, idx nchunks, const double* part, T* dgamma, T* dbeta) {
  PYRNN_GRID_STRIDE_LOOP(d, D) {
    double sg = 0, sb = 0;
    for (idx c = 0; c < nchunks; ++c) {
      sg += part[(c * 2) * D + d];
      sb += part[(c * 2 + 1) * D + d];
    }
    dgamma[d] = static_cast<T>(sg);
    dbeta[d] = static_cast<T>(sb);
  }
}

}  // namespace

template <typename T>
void layer_norm_forward(const Session& s, const LayerNormForwardArgs<T>& args) {
  const idx R = args.R, D = args.D;
  if (R == 0 || D == 0) return;
  layer_norm_forward_kernel<T><<<row_grid(R), kLayerNormBlock, 0, s.stream()>>>(
      R, D, args.x, args.gamma, args.beta, args.eps, args.y, args.mean, args.rstd);
  PYRNN_CUDA_CHECK_LAUNCH("layer_norm_forward_kernel");
}

template <typename T>
void layer_norm_backward(const Session& s, const LayerNormBackwardArgs<T>& args) {
  const idx R = args.R, D = args.D;
  const T *dy = args.dy, *x = args.x, *mean = args.mean, *rstd = args.rstd;
  T *dgamma = args.dgamma, *dbeta = args.dbeta;
  if (D == 0) return;
  if (R == 0) {  // sums over no rows
    PYRNN_CUDA_CHECK(cudaMemsetAsync(dgamma, 0, D * sizeof(T), s.stream()));  // 0 bits = +0.0
    PYRNN_CUDA_CHECK(cudaMemsetAsync(dbeta, 0, D * sizeof(T), s.stream()));
    return;
  }
  layer_norm_backward_rows_kernel<T><<<row_grid(R), kLayerNormBlock, 0, s.stream()>>>(R, D, dy, x, mean, rstd,
                                                                                     args.gamma, args.dx);
  PYRNN_CUDA_CHECK_LAUNCH("layer_norm_backward_rows_kernel");
  const idx nchunks = (R + kLayerNormRowsPerChunk - 1) / kLayerNormRowsPerChunk;
  layer_norm_partials_kernel<T><<<grid_for(nchunks * D), kBlock, 0, s.stream()>>>(R, D, nchunks, dy, x, mean, rstd,
                                                                                 args.part);
  PYRNN_CUDA_CHECK_LAUNCH("layer_norm_partials_kernel");
  layer_norm_chunk_sums_kernel<T><<<grid_for(D), kBlock, 0, s.stream()>>>(D, nchunks, args.part, dgamma, dbeta);
  PYRNN_CUDA_CHECK_LAUNCH("layer_norm_chunk_sums_kernel");
}

PYRNN_CUDA_INSTANTIATE(layer_norm_forward, LayerNormForwardArgs)
PYRNN_CUDA_INSTANTIATE(layer_norm_backward, LayerNormBackwardArgs)

}  // namespace pyrnn_cuda
