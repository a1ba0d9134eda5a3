// Masked softmax rows and their backward (see softmax_rows.cuh).
#include <math.h>

#include "pyrnn_cuda/core/activations.cuh"
#include "pyrnn_cuda/core/block_reduce.cuh"
#include "pyrnn_cuda/core/check.cuh"
#include "pyrnn_cuda/core/launch.cuh"
#include "pyrnn_cuda/core/softmax_rows.cuh"

namespace pyrnn_cuda {

namespace {

constexpr int kRowBlock = 128;  // threads per row (a power of two: the tree halves it)

template <typename T>
__global__ void masked_softmax_rows_kernel(idx rows, idx cols, T* scores, const bool* keep, idx rows_per_keep,
                                           idx causal_Tq) {  // scores (rows, cols) in place; keep (rows/rpk, cols)
  __shared__ T red[kRowBlock];
  const T inf = T(INFINITY);
  for (idx r = blockIdx.x; r < rows; r += gridDim.x) {
    T* row = scores + r * cols;
    const bool* k = keep ? keep + (r / rows_per_keep) * cols : nullptr;
    const idx last = causal_Tq > 0 ? r % causal_Tq : cols - 1;  // causal: keys after the query are masked
    T m = -inf;
    for (idx j = threadIdx.x; j <= last && j < cols; j += kRowBlock)
      if ((!k || k[j]) && row[j] > m) m = row[j];
    m = block_reduce<kRowBlock, true>(m, red);
    // every key masked: max -inf, and -inf - (-inf) = NaN; shift by 0 so all exponentials are 0
    if (!(m > -inf && m < inf)) m = T(0);
    T z = T(0);
    for (idx j = threadIdx.x; j < cols; j += kRowBlock) {
      const T e = j <= last && (!k || k[j]) ? exp_(row[j] - m) : T(0);
      row[j] = e;
      z += e;
    }
    z = block_reduce<kRowBlock, false>(z, red);
    if (!(z > T(0))) z = T(1);  // all masked: 0 / 1 = 0
    for (idx j = threadIdx.x; j < cols; j += kRowBlock) row[j] = row[j] / z;
  }
}

template <typename T>
__global__ void softmax_rows_backward_kernel(idx rows, idx cols, const T* a, const T* da, T* ds,
                                             T scale) {  // a, da, ds (rows, cols); ds may alias da
  __shared__ T red[kRowBlock];
  for (idx r = blockIdx.x; r < rows; r += gridDim.x) {
    const idx o = r * cols;
    T dot = T(0);
    for (idx j = threadIdx.x; j < cols; j += kRowBlock) dot += a[o + j] * da[o + j];
    dot = block_reduce<kRowBlock, false>(dot, red);
    for (idx j = threadIdx.x; j < cols; j += kRowBlock) ds[o + j] = a[o + j] * (da[o + j] - dot) * scale;
  }
}

}  // namespace

template <typename T>
void masked_softmax_rows(const Session& s, idx rows, idx cols, T* scores, const bool* keep, idx rows_per_keep,
                         idx causal_Tq) {
  if (rows == 0 || cols == 0) return;
  masked_softmax_rows_kernel<T><<<row_grid(rows), kRowBlock, 0, s.stream()>>>(rows, cols, scores, keep,
                                                                              rows_per_keep, causal_Tq);
  PYRNN_CUDA_CHECK_LAUNCH("masked_softmax_rows_kernel");
}

template <typename T>
void softmax_rows_backward(const Session& s, idx rows, idx cols, const T* a, const T* da, T* ds, T scale) {
  if (rows == 0 || cols == 0) return;
  softmax_rows_backward_kernel<T><<<row_grid(rows), kRowBlock, 0, s.stream()>>>(rows, cols, a, da, ds, scale);
  PYRNN_CUDA_CHECK_LAUNCH("softmax_rows_backward_kernel");
}

#define PYRNN_INSTANTIATE(T)                                                                                 \
  template void masked_softmax_rows<T>(const Session&, idx, idx, T*, const bool*, idx, idx);                  \
  template void softmax_rows_backward<T>(const Session&, idx, idx, const T*, const T*, T*, T);
PYRNN_INSTANTIATE(float)
PYRNN_INSTANTIATE(double)
#undef PYRNN_INSTANTIATE

}  // namespace pyrnn_cuda
