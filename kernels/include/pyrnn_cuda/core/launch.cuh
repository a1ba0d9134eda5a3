// Launch geometry: the elementwise kernels run one thread per element of an (N, H) step, the row
// kernels one thread block per row; both stride over a bounded grid, so any size fits.
#pragma once
#include <algorithm>
#include <cstdint>

namespace pyrnn_cuda {

constexpr int kBlock = 256;

// blocks for n elements (n > 0): enough to cover them, at most 2^20 (the loop strides past that)
inline unsigned grid_for(std::int64_t n) {
  return static_cast<unsigned>(std::min<std::int64_t>((n + kBlock - 1) / kBlock, std::int64_t(1) << 20));
}

// blocks for the row kernels (one block per row): at most 2^20 (the kernels stride past that)
inline unsigned row_grid(std::int64_t rows) {
  return static_cast<unsigned>(std::min<std::int64_t>(rows, std::int64_t(1) << 20));
}

}  // namespace pyrnn_cuda

// for (k = this thread's first element; k < n; k += all threads), k 64-bit
#define PYRNN_GRID_STRIDE_LOOP(k, n)                                                        \
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < (n); \
       k += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
