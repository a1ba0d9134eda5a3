// Softmax cross-entropy over time with an ignore label, forward and backward, fused:
// the forward reads the scores once and keeps only two numbers per row (the row max and the log
// of the shifted exp-sum); the backward recomputes softmax from them while writing the gradient,
// so no (rows, V) probability array is ever stored. Rows: xs (R, V) scores, ts (R) labels.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "pyrnn/activations.hpp"
#include "pyrnn/threads.hpp"

namespace pyrnn {

using idx = std::ptrdiff_t;

// max of x (V >= 1), in 16 independent lanes so the loop vectorizes; max is exact, so any order
// gives the same value.
template <typename T>
PYRNN_SIMD_CLONES T row_max(idx V, const T* PYRNN_RESTRICT x) {
  constexpr int L = 16;
  T m[L];
  for (int l = 0; l < L; ++l) m[l] = x[0];
  idx j = 0;
  for (; j + L <= V; j += L)
    for (int l = 0; l < L; ++l) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
  for (; j < V; ++j) m[0] = x[j] > m[0] ? x[j] : m[0];
  T r = m[0];
  for (int l = 1; l < L; ++l) r = m[l] > r ? m[l] : r;
  return r;
}

// sum of exp(x - m) (each term in (0, 1], one of them 1), 16 lanes in a fixed order: deterministic.
template <typename T>
PYRNN_SIMD_CLONES T row_exp_sum(idx V, const T* PYRNN_RESTRICT x, T m) {
  constexpr int L = 16;
  T s[L] = {};
  idx j = 0;
  for (; j + L <= V; j += L)
    for (int l = 0; l < L; ++l) s[l] += exp_fast(x[j + l] - m);
  for (; j < V; ++j) s[0] += exp_fast(x[j] - m);
  T r = T(0);
  for (int l = 0; l < L; ++l) r += s[l];
  return r;
}

// dx = (exp((x - m) - logz) - onehot(t)) * scale, one row
template <typename T>
PYRNN_SIMD_CLONES void row_softmax_grad(idx V, const T* PYRNN_RESTRICT x, T m, T logz, T scale,
                                        T* PYRNN_RESTRICT dx) {
  for (idx j = 0; j < V; ++j) dx[j] = exp_fast((x[j] - m) - logz) * scale;
}

// xs (R,V), ts (R) int64 -> rowmax, logz (R) (0 for ignored rows); returns the loss, the mean over
// rows whose label is not the ignored one (0 when every row is ignored), and the count in *n_valid.
// The per-row losses are summed in double in row order after the (parallel) rows are done, so the
// loss is bitwise the same at any thread count.
template <typename T>
double softmax_xent_forward(idx R, idx V, const T* xs, const int64_t* ts, bool has_ignore, int64_t ignore,
                            T* rowmax, T* logz, int64_t* n_valid) {
  std::vector<double> nll(static_cast<size_t>(R));
  parallel_for(R, 16.0 * static_cast<double>(V), [&](idx r0, idx r1) {
    for (idx r = r0; r < r1; ++r) {
      if ((has_ignore && ts[r] == ignore) || V == 0) {
        rowmax[r] = T(0), logz[r] = T(0), nll[r] = 0.0;
        continue;
      }
      const T* x = xs + r * V;
      const T m = row_max(V, x);
      const T lz = std::log(row_exp_sum(V, x, m));  // sum >= 1: the log is finite and >= 0
      rowmax[r] = m, logz[r] = lz;
      nll[r] = static_cast<double>(lz) - static_cast<double>(x[ts[r]] - m);  // -log softmax(x)[t]
    }
  });
  double total = 0.0;
  int64_t count = 0;
  for (idx r = 0; r < R; ++r) {
    if (has_ignore && ts[r] == ignore) continue;
    total += nll[r];
    ++count;
  }
  *n_valid = count;
  return count ? total / static_cast<double>(count) : 0.0;
}

// dloss () -> dxs (R,V) = (softmax(x) - onehot(t)) * dloss / max(n_valid, 1); ignored rows exactly 0
template <typename T>
void softmax_xent_backward(idx R, idx V, const T* xs, const int64_t* ts, bool has_ignore, int64_t ignore,
                           const T* rowmax, const T* logz, int64_t n_valid, T dloss, T* dxs) {
  const T scale = dloss / static_cast<T>(n_valid > 1 ? n_valid : 1);
  parallel_for(R, 8.0 * static_cast<double>(V), [&](idx r0, idx r1) {
    for (idx r = r0; r < r1; ++r) {
      T* dx = dxs + r * V;
      if (has_ignore && ts[r] == ignore) {
        for (idx j = 0; j < V; ++j) dx[j] = T(0);
        continue;
      }
      row_softmax_grad(V, xs + r * V, rowmax[r], logz[r], scale, dx);
      dx[ts[r]] -= scale;
    }
  });
}

}  // namespace pyrnn
