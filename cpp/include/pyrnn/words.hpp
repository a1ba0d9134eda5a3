// Word-level kernels, forward and backward, float32 and float64, no Python types:
//   embedding: row gather forward, deterministic scatter-add backward. W (V, D), ids (R) int64.
//   affine: op(A) @ op(B) (+ bias) on pyrnn's threads, for x W + b and both backward products.
//   softmax cross-entropy over rows with an ignore label, fused: the forward reads the scores once and
//     keeps only two numbers per row (the row max and the log of the shifted exp-sum); the backward
//     recomputes softmax from them while writing the gradient, so no (rows, V) probability array is
//     ever stored. Rows: xs (R, V) scores, ts (R) labels.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pyrnn/core/activations.hpp"
#include "pyrnn/core/blas.hpp"
#include "pyrnn/core/index.hpp"
#include "pyrnn/core/simd.hpp"
#include "pyrnn/core/threads.hpp"

namespace pyrnn {
namespace detail {

// dst (w) += src (w)
template <typename T>
PYRNN_SIMD_CLONES void add_row(index_t w, T* PYRNN_RESTRICT dst, const T* PYRNN_RESTRICT src) {
  for (index_t j = 0; j < w; ++j) dst[j] += src[j];
}

// max of x (V >= 1), in 16 independent lanes so the loop vectorizes; max is exact, so any order
// gives the same value.
template <typename T>
PYRNN_SIMD_CLONES T row_max(index_t V, const T* PYRNN_RESTRICT x) {
  constexpr int L = 16;
  T m[L];
  for (int l = 0; l < L; ++l) m[l] = x[0];
  index_t j = 0;
  for (; j + L <= V; j += L)
    for (int l = 0; l < L; ++l) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
  for (; j < V; ++j) m[0] = x[j] > m[0] ? x[j] : m[0];
  T r = m[0];
  for (int l = 1; l < L; ++l) r = m[l] > r ? m[l] : r;
  return r;
}

// sum of exp(x - m) (each term in (0, 1], one of them 1), 16 lanes in a fixed order: deterministic.
template <typename T>
PYRNN_SIMD_CLONES T row_exp_sum(index_t V, const T* PYRNN_RESTRICT x, T m) {
  constexpr int L = 16;
  T s[L] = {};
  index_t j = 0;
  for (; j + L <= V; j += L)
    for (int l = 0; l < L; ++l) s[l] += exp_fast(x[j + l] - m);
  for (; j < V; ++j) s[0] += exp_fast(x[j] - m);
  T r = T(0);
  for (int l = 0; l < L; ++l) r += s[l];
  return r;
}

// dx = exp((x - m) - logz) * scale = softmax(x) * scale, one row
template <typename T>
PYRNN_SIMD_CLONES void scaled_softmax_row(index_t V, const T* PYRNN_RESTRICT x, T m, T logz, T scale,
                                          T* PYRNN_RESTRICT dx) {
  for (index_t j = 0; j < V; ++j) dx[j] = exp_fast((x[j] - m) - logz) * scale;
}

}  // namespace detail

// ---- embedding --------------------------------------------------------------------------------------

// W (V,D), ids (R) int64 -> out (R,D) = W[ids]
template <typename T>
void embedding_forward(index_t R, index_t D, const T* W, const int64_t* ids, T* out) {
  parallel_for(R, static_cast<double>(D), [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) std::memcpy(out + r * D, W + ids[r] * D, sizeof(T) * D);
  });
}

// dout (R,D), ids (R) int64 -> dW (V,D) = sum over r of onehot(ids[r]) dout[r], each dW row accumulated
// in index order r = 0, 1, ... (exactly numpy.add.at's order). Threads split the D columns, never the
// rows, so every element sees the same additions in the same order at any thread count: bitwise
// deterministic.
template <typename T>
void embedding_backward(index_t R, index_t V, index_t D, const int64_t* ids, const T* dout, T* dW) {
  constexpr index_t kCols = 16;  // column block per work item: 64 bytes of float, no false sharing
  const index_t blocks = (D + kCols - 1) / kCols;
  parallel_for(blocks, static_cast<double>(R + V) * kCols, [&](index_t b0, index_t b1) {
    const index_t c0 = b0 * kCols, c1 = b1 * kCols < D ? b1 * kCols : D, w = c1 - c0;
    for (index_t v = 0; v < V; ++v) std::memset(dW + v * D + c0, 0, sizeof(T) * w);
    for (index_t r = 0; r < R; ++r) detail::add_row(w, dW + ids[r] * D + c0, dout + r * D + c0);
  });
}

// ---- affine -----------------------------------------------------------------------------------------

// A (M,K) or (K,M), B (K,N) or (N,K), bias (N)|null -> C (M,N) = op(A) @ op(B) (+ bias on every row),
// op = transpose when asked: the affine's forward x W + b and its backward products dout W^T and
// x^T dout. On pyrnn's threads (pgemm), so a training loop that also needs plain GEMMs never wakes
// NumPy's own BLAS threads, whose spinning after each call measured to slow the recurrent kernels
// by 1.7x in an attention seq2seq step.
template <typename T>
void affine_matmul(bool transA, bool transB, index_t M, index_t N, index_t K, const T* A, index_t lda, const T* B,
                   index_t ldb, const T* bias, T* C) {
  if (bias)
    for (index_t r = 0; r < M; ++r) std::memcpy(C + r * N, bias, sizeof(T) * N);
  pgemm<T>(transA, transB, M, N, K, T(1), A, lda, B, ldb, bias ? T(1) : T(0), C, N);
}

// ---- softmax cross-entropy --------------------------------------------------------------------------

// xs (R,V), ts (R) int64 -> rowmax, logz (R) (0 for ignored rows); returns the loss, the mean over
// rows whose label is not the ignored one (0 when every row is ignored), and the count in *n_valid.
// The per-row losses are summed in double in row order after the (parallel) rows are done, so the
// loss is bitwise the same at any thread count.
template <typename T>
double softmax_cross_entropy_forward(index_t R, index_t V, const T* xs, const int64_t* ts, bool has_ignore,
                                     int64_t ignore, T* rowmax, T* logz, int64_t* n_valid) {
  std::vector<double> nll(static_cast<size_t>(R));
  parallel_for(R, 16.0 * static_cast<double>(V), [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) {
      if ((has_ignore && ts[r] == ignore) || V == 0) {
        rowmax[r] = T(0), logz[r] = T(0), nll[r] = 0.0;
        continue;
      }
      const T* x = xs + r * V;
      const T m = detail::row_max(V, x);
      const T lz = std::log(detail::row_exp_sum(V, x, m));  // sum >= 1: the log is finite and >= 0
      rowmax[r] = m, logz[r] = lz;
      nll[r] = static_cast<double>(lz) - static_cast<double>(x[ts[r]] - m);  // -log softmax(x)[t]
    }
  });
  double total = 0.0;
  int64_t count = 0;
  for (index_t r = 0; r < R; ++r) {
    if (has_ignore && ts[r] == ignore) continue;
    total += nll[r];
    ++count;
  }
  *n_valid = count;
  return count ? total / static_cast<double>(count) : 0.0;
}

// dloss () -> dxs (R,V) = (softmax(x) - onehot(t)) * dloss / max(n_valid, 1); ignored rows exactly 0
template <typename T>
void softmax_cross_entropy_backward(index_t R, index_t V, const T* xs, const int64_t* ts, bool has_ignore,
                                    int64_t ignore, const T* rowmax, const T* logz, int64_t n_valid, T dloss,
                                    T* dxs) {
  const T scale = dloss / static_cast<T>(n_valid > 1 ? n_valid : 1);
  parallel_for(R, 8.0 * static_cast<double>(V), [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) {
      T* dx = dxs + r * V;
      if (has_ignore && ts[r] == ignore) {
        for (index_t j = 0; j < V; ++j) dx[j] = T(0);
        continue;
      }
      detail::scaled_softmax_row(V, xs + r * V, rowmax[r], logz[r], scale, dx);
      dx[ts[r]] -= scale;
    }
  });
}

}  // namespace pyrnn
