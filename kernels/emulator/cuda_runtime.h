// Host emulation of the CUDA runtime pieces pyrnn's kernels use, for checking them where no GPU
// exists (tests/test_cuda_emulated.py). NOT a CUDA implementation: just enough to run kernels/src
// on the CPU, element by element, so that their indexing, strides and math can be compared with
// the NumPy reference (under AddressSanitizer, which catches any out-of-bounds access).
//
// Kernels run one block at a time. Blocks without __syncthreads run their threads one after the
// other (pyrnn's elementwise kernels: one thread per element, no inter-thread communication);
// kernels that synchronize are launched with emu::launch_threaded (one pooled OS thread per CUDA
// thread, a barrier for __syncthreads). kernels/emulator/build.py rewrites `k<<<cfg>>>(args)` into
// these calls.
#pragma once
#include <math.h>

#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <semaphore>
#include <stdexcept>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static  // one block runs at a time: a static is that block's shared memory

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

typedef int cudaError_t;
constexpr cudaError_t cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidDevice = 101;
typedef struct CUstream_st* cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyDeviceToDevice = 3 };
#define CUDART_VERSION 13000

inline const char* cudaGetErrorName(cudaError_t e) {
  return e == cudaErrorInvalidDevice ? "cudaErrorInvalidDevice" : "cudaErrorInvalidValue";
}
inline const char* cudaGetErrorString(cudaError_t) { return "emulated CUDA error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
inline cudaError_t cudaRuntimeGetVersion(int* v) { *v = CUDART_VERSION; return cudaSuccess; }
inline cudaError_t cudaDriverGetVersion(int* v) { *v = CUDART_VERSION; return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* c) { *c = 1; return cudaSuccess; }
struct cudaDeviceProp { char name[256]; };
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::strcpy(p->name, "pyrnn host emulator");
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                                     size_t height, cudaMemcpyKind, cudaStream_t) {
  if (dpitch < width || spitch < width) return cudaErrorInvalidValue;  // as documented
  for (size_t r = 0; r < height; ++r)
    std::memcpy(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  return cudaSuccess;
}
inline cudaError_t cudaMemset2DAsync(void* p, size_t pitch, int v, size_t width, size_t height, cudaStream_t) {
  if (pitch < width) return cudaErrorInvalidValue;
  for (size_t r = 0; r < height; ++r) std::memset(static_cast<char*>(p) + r * pitch, v, width);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  std::memset(p, v, n);
  return cudaSuccess;
}

namespace emu {

inline void check_config(dim3 grid, dim3 block) {
  const unsigned threads = block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > 1024)
    throw std::runtime_error("emulated launch: invalid configuration (CUDA: cudaErrorInvalidConfiguration)");
}

// every thread of every block in turn: for kernels without __syncthreads
template <class... P, class... A>
void launch(dim3 grid, dim3 block, size_t, cudaStream_t, void (*k)(P...), A... args) {
  check_config(grid, block);
  blockDim = block, gridDim = grid;
  for (unsigned bx = 0; bx < grid.x; ++bx)
    for (unsigned ty = 0; ty < block.y; ++ty)
      for (unsigned tx = 0; tx < block.x; ++tx) {
        blockIdx = dim3(bx), threadIdx = dim3(tx, ty);
        k(args...);
      }
}

// 1024 worker threads, created once and never joined (process lifetime), that run one block at a
// time. Each has its own semaphore, so a block of n threads wakes exactly n workers (waking all 1024
// for a 128-thread block made the row kernels' emulation ~8x slower).
struct Pool {
  std::vector<std::unique_ptr<std::binary_semaphore>> go;
  std::counting_semaphore<1024> done{0};
  std::function<void(unsigned)> job;
  Pool() {
    for (unsigned i = 0; i < 1024; ++i) go.push_back(std::make_unique<std::binary_semaphore>(0));
    for (unsigned i = 0; i < 1024; ++i)
      std::thread([this, i] {
        for (;;) {
          go[i]->acquire();  // release/acquire: job is visible here
          job(i);
          done.release();
        }
      }).detach();
  }
  // f(i) for i < n on workers 0..n-1; returns when all have finished
  void run(const std::function<void(unsigned)>& f, unsigned n) {
    job = f;
    for (unsigned i = 0; i < n; ++i) go[i]->release();
    for (unsigned i = 0; i < n; ++i) done.acquire();
  }
};
inline std::barrier<>* block_barrier = nullptr;

// one pooled OS thread per CUDA thread of the block, a barrier for __syncthreads
template <class... P, class... A>
void launch_threaded(dim3 grid, dim3 block, size_t, cudaStream_t, void (*k)(P...), A... args) {
  check_config(grid, block);
  static Pool* pool = new Pool;  // leaked on purpose: its detached threads live until exit
  blockDim = block, gridDim = grid;
  const unsigned threads = block.x * block.y;
  for (unsigned bx = 0; bx < grid.x; ++bx) {
    std::barrier<> b(threads);
    block_barrier = &b;
    pool->run(
        [&](unsigned i) {
          blockIdx = dim3(bx), threadIdx = dim3(i % block.x, i / block.x);
          k(args...);
        },
        threads);
  }
}

}  // namespace emu

inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }
// the round-to-nearest products nvcc never fuses into an FMA; g++ here makes no FMA (no -mfma)
inline float __fmul_rn(float a, float b) { return a * b; }
inline double __dmul_rn(double a, double b) { return a * b; }
