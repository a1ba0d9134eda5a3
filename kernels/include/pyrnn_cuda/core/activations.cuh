// Device activations, written like the NumPy reference (pyrnn/reference/recurrent.py) so float32
// agrees with it to rounding: CUDA's expf/tanhf (no --use_fast_math: 2 ulp at most) and IEEE
// division.
#pragma once
#include <cuda_runtime.h>

namespace pyrnn_cuda {

__device__ __forceinline__ float exp_(float x) { return expf(x); }
__device__ __forceinline__ double exp_(double x) { return exp(x); }
__device__ __forceinline__ float log_(float x) { return logf(x); }
__device__ __forceinline__ double log_(double x) { return log(x); }
__device__ __forceinline__ float tanh_(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_(double x) { return tanh(x); }

// exp(-|x|) never overflows, and each branch keeps its tail's relative accuracy (the reference's
// form); a NaN stays NaN
template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
  const T e = exp_(-fabs(x));
  return x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

}  // namespace pyrnn_cuda
