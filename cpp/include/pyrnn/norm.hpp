// Layer normalisation over the last axis, forward and backward, float32 and float64, no Python types:
//   y = (x - mean) * rstd * gamma + beta,   rstd = 1 / sqrt(var + eps),  var biased (divide by D).
//
// Rows are independent: forward and backward split them into fixed chunks of 64 rows on pyrnn's threads.
// dgamma and dbeta are sums over all rows: each chunk sums its rows into its own partial, and the
// partials are added in chunk order, so the result is bitwise the same at any thread count. The forward
// keeps only the mean and 1/std per row (not xhat, which would be another (R, D) array to write and
// fault in); the backward recomputes xhat from x.
// Row sums run in kWideLanes independent partial sums of T (pairwise-folded: float32 keeps ~1e-7 relative
// accuracy over model widths) in a fixed order that the compiler vectorizes; row means and chunk
// partials are combined in double; the row loops are compiled for AVX-512, AVX2 and
// baseline x86-64 (PYRNN_SIMD_CLONES). The variance is a second pass over the centred row (no E[x^2] -
// E[x]^2 cancellation).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "pyrnn/core/index.hpp"
#include "pyrnn/core/simd.hpp"
#include "pyrnn/core/threads.hpp"

namespace pyrnn {
namespace detail {

// Independent partial sums per row loop: four AVX-512 registers' worth, so the adds are not
// serialised on one register's latency (one chain of 16 was latency-bound: 3x slower), then folded
// pairwise in a fixed order.
template <typename T>
constexpr int kWideLanes = 256 / static_cast<int>(sizeof(T));

template <typename T>
inline T fold_lanes(T* acc) {
  for (int w = kWideLanes<T> / 2; w >= 1; w /= 2)
    for (int u = 0; u < w; ++u) acc[u] += acc[u + w];
  return acc[0];
}

// fn(r0, r1) over [0, R) in fixed chunks of `per` rows (never sized by the thread count)
template <typename F>
void for_row_chunks(index_t R, index_t per, double work, F&& fn) {
  run_tasks((R + per - 1) / per, work, [&](index_t c) { fn(c * per, std::min(R, (c + 1) * per)); });
}

// sum over d < D of x[d] - shift, or of (x[d] - shift)^2 when `square`: kWideLanes partial sums in T,
// folded, the tail added in double (a fixed order the compiler vectorizes)
template <typename T, bool square>
PYRNN_SIMD_CLONES double shifted_row_sum(const T* PYRNN_RESTRICT x, index_t D, T shift) {
  constexpr int L = kWideLanes<T>;
  T acc[L] = {};
  index_t d = 0;
  for (; d + L <= D; d += L)
    for (int u = 0; u < L; ++u) {
      const T v = x[d + u] - shift;
      acc[u] += square ? v * v : v;
    }
  double s = fold_lanes(acc);
  for (; d < D; ++d) {
    const T v = x[d] - shift;
    s += square ? v * v : v;
  }
  return s;
}

// y (D) = (x - m) q gamma + beta
template <typename T>
PYRNN_SIMD_CLONES void layer_norm_row(const T* PYRNN_RESTRICT x, index_t D, T m, T q, const T* PYRNN_RESTRICT gamma,
                                      const T* PYRNN_RESTRICT beta, T* PYRNN_RESTRICT y) {
  for (index_t d = 0; d < D; ++d) y[d] = (x[d] - m) * q * gamma[d] + beta[d];
}

// One row of the backward, xhat = (x - m) q recomputed (the forward keeps only m and q per row):
//   g = dy gamma;  dx = q (g - mean(g) - xhat mean(g xhat));  pg += dy xhat, pb += dy (chunk partials)
template <typename T>
PYRNN_SIMD_CLONES void layer_norm_row_backward(const T* PYRNN_RESTRICT dy, const T* PYRNN_RESTRICT x,
                                               const T* PYRNN_RESTRICT gamma, index_t D, T m, T q,
                                               T* PYRNN_RESTRICT dx, T* PYRNN_RESTRICT pg, T* PYRNN_RESTRICT pb) {
  // g = dy gamma is rounded to T before it is summed, so a row whose g is constant (D = 1, say) gets
  // g - mean(g) = 0 exactly, as the reference does (CMake builds cpp/bindings/norm.cpp, the file that
  // compiles this header, without FMA contraction)
  constexpr int L = kWideLanes<T>;
  T ag[L] = {}, agh[L] = {};
  index_t d = 0;
  for (; d + L <= D; d += L)
    for (int u = 0; u < L; ++u) {
      const T g = dy[d + u] * gamma[d + u];
      ag[u] += g;
      agh[u] += g * ((x[d + u] - m) * q);
    }
  double sg = fold_lanes(ag), sgh = fold_lanes(agh);
  for (; d < D; ++d) {
    const T g = dy[d] * gamma[d];
    sg += g;
    sgh += static_cast<double>(g) * static_cast<double>((x[d] - m) * q);
  }
  const T mg = static_cast<T>(sg / static_cast<double>(D)), mgh = static_cast<T>(sgh / static_cast<double>(D));
  for (index_t e = 0; e < D; ++e) {
    const T h = (x[e] - m) * q;
    dx[e] = q * ((dy[e] * gamma[e] - mg) - h * mgh);
    pg[e] += dy[e] * h;
    pb[e] += dy[e];
  }
}

// Rows per chunk: fixed (never the thread count), so the dgamma/dbeta partial sums, and the order they
// are added in, depend only on the shape.
constexpr index_t kNormRowsPerChunk = 64;

}  // namespace detail

// x (R, D), gamma (D), beta (D) -> y (R, D), mean (R) and rstd (R) (both null in inference)
template <typename T>
void layer_norm_forward(index_t R, index_t D, const T* x, const T* gamma, const T* beta, double eps, T* y, T* mean,
                        T* rstd) {
  detail::for_row_chunks(R, detail::kNormRowsPerChunk, static_cast<double>(R) * D * 4, [&](index_t r0, index_t r1) {
    for (index_t r = r0; r < r1; ++r) {
      const T* xr = x + r * D;
      // the stored mean is rounded to T: centre on that value, so the backward recomputes the same xhat
      const T m = static_cast<T>(detail::shifted_row_sum<T, false>(xr, D, T(0)) / static_cast<double>(D));
      const double var = detail::shifted_row_sum<T, true>(xr, D, m) / static_cast<double>(D);
      const T q = static_cast<T>(1.0 / std::sqrt(var + eps));
      detail::layer_norm_row<T>(xr, D, m, q, gamma, beta, y + r * D);
      if (mean) mean[r] = m;
      if (rstd) rstd[r] = q;
    }
  });
}

// dy, x (R, D), mean, rstd (R), gamma (D) -> dx (R, D), dgamma (D), dbeta (D)
template <typename T>
void layer_norm_backward(index_t R, index_t D, const T* dy, const T* x, const T* mean, const T* rstd, const T* gamma,
                         T* dx, T* dgamma, T* dbeta) {
  const index_t nchunks = (R + detail::kNormRowsPerChunk - 1) / detail::kNormRowsPerChunk;
  std::vector<T> part(static_cast<size_t>(std::max<index_t>(nchunks, 1) * 2 * D), T(0));  // per chunk: pg, pb
  detail::for_row_chunks(R, detail::kNormRowsPerChunk, static_cast<double>(R) * D * 6, [&](index_t r0, index_t r1) {
    T* pg = part.data() + (r0 / detail::kNormRowsPerChunk) * 2 * D;
    for (index_t r = r0; r < r1; ++r)
      detail::layer_norm_row_backward<T>(dy + r * D, x + r * D, gamma, D, mean[r], rstd[r], dx + r * D, pg, pg + D);
  });
  for (index_t d = 0; d < D; ++d) {  // chunk partials added in chunk order
    double sg = 0, sb = 0;
    for (index_t c = 0; c < nchunks; ++c) {
      sg += part[(c * 2) * D + d];
      sb += part[(c * 2 + 1) * D + d];
    }
    dgamma[d] = static_cast<T>(sg);
    dbeta[d] = static_cast<T>(sb);
  }
}

}  // namespace pyrnn
