// Embedding: row gather forward, deterministic scatter-add backward. W (V, D), idx (R) int64.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "pyrnn/activations.hpp"
#include "pyrnn/threads.hpp"

namespace pyrnn {

using idx = std::ptrdiff_t;

// out (R,D) = W[idx]
template <typename T>
void embedding_forward(idx R, idx D, const T* W, const int64_t* ids, T* out) {
  parallel_for(R, static_cast<double>(D), [&](idx r0, idx r1) {
    for (idx r = r0; r < r1; ++r) std::memcpy(out + r * D, W + ids[r] * D, sizeof(T) * D);
  });
}

template <typename T>
PYRNN_SIMD_CLONES void add_row(idx w, T* PYRNN_RESTRICT dst, const T* PYRNN_RESTRICT src) {
  for (idx j = 0; j < w; ++j) dst[j] += src[j];
}

// dW (V,D) = sum over r of onehot(idx[r]) dout[r], each dW row accumulated in index order r = 0, 1, ...
// (exactly numpy.add.at's order). Threads split the D columns, never the rows, so every element sees
// the same additions in the same order at any thread count: bitwise deterministic.
template <typename T>
void embedding_backward(idx R, idx V, idx D, const int64_t* ids, const T* dout, T* dW) {
  constexpr idx kCols = 16;  // column block per work item: 64 bytes of float, no false sharing
  const idx blocks = (D + kCols - 1) / kCols;
  parallel_for(blocks, static_cast<double>(R + V) * kCols, [&](idx b0, idx b1) {
    const idx c0 = b0 * kCols, c1 = b1 * kCols < D ? b1 * kCols : D, w = c1 - c0;
    for (idx v = 0; v < V; ++v) std::memset(dW + v * D + c0, 0, sizeof(T) * w);
    for (idx r = 0; r < R; ++r) add_row(w, dW + ids[r] * D + c0, dout + r * D + c0);
  });
}

}  // namespace pyrnn
