// A thread block's max or sum in a fixed order (a shared-memory tree): bitwise the same on every
// run, no atomics. Shared by the softmax row kernels and the streaming SDPA kernels.
#pragma once
#include <cuda_runtime.h>

namespace pyrnn_cuda {

// The block's combined v (max or sum), returned to every thread: a fixed tree over red (kBlock
// entries of shared memory; kBlock = blockDim.x, a power of two: the tree halves it). The leading
// barrier lets a caller reuse red right away.
template <int kBlock, bool kMax, typename T>
__device__ T block_reduce(T v, T* red) {
  __syncthreads();
  red[threadIdx.x] = v;
  __syncthreads();
  for (int half = kBlock / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) {
      const T o = red[threadIdx.x + half];
      red[threadIdx.x] = kMax ? (o > red[threadIdx.x] ? o : red[threadIdx.x]) : red[threadIdx.x] + o;
    }
    __syncthreads();
  }
  return red[0];
}

}  // namespace pyrnn_cuda
