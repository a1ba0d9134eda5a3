// tanh RNN over a whole sequence, forward and backward (BPTT).
// h_t = tanh(x_t Wx + h_{t-1} Wh + b). Batch-major like the book: xs (N, T, D), hs (N, T, H).
// The per-step GEMM reads h_{t-1} straight out of hs with row stride T*H, so nothing is transposed.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "pyrnn/activations.hpp"
#include "pyrnn/blas.hpp"

namespace pyrnn {

using idx = std::ptrdiff_t;

// xs (N,T,D), Wx (D,H), Wh (H,H), b (H)|null, h0 (N,H)|null -> hs (N,T,H), hT (N,H)
template <typename T>
void rnn_forward(idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0,
                 T* hs, T* hT) {
  // All input projections at once, written into hs itself: step t overwrites hs[:, t] in place
  // after the GEMM has read the finished hs[:, t-1].
  gemm<T>(false, false, N * Tn, H, D, T(1), xs, D, Wx, H, T(0), hs, H);
  std::vector<T> gh(static_cast<size_t>(N * H));
  const std::vector<T> zeros(static_cast<size_t>(H), T(0));
  const T* PYRNN_RESTRICT bb = b ? b : zeros.data();  // no bias = a zero bias: no branch in the loop
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;
    const idx ldp = t ? Tn * H : H;
    if (hp)
      gemm<T>(false, false, N, H, H, T(1), hp, ldp, Wh, H, T(0), gh.data(), H);
    else
      std::fill(gh.begin(), gh.end(), T(0));
    for (idx n = 0; n < N; ++n) {  // one fused pass: bias + recurrent part + tanh
      T* PYRNN_RESTRICT a = hs + (n * Tn + t) * H;
      const T* PYRNN_RESTRICT g = gh.data() + n * H;
      for (idx j = 0; j < H; ++j) a[j] = tanh_(a[j] + g[j] + bb[j]);
    }
  }
  if (Tn > 0)
    copy_rows_or_zero(hT, hs + (Tn - 1) * H, N, H, Tn * H);
  else
    copy_rows_or_zero(hT, h0, N, H, H);
}

// saved: xs (N,T,D), Wx (D,H), Wh (H,H), h0 (N,H)|null, hs (N,T,H); grads in: dhs (N,T,H), dhT (N,H)|null
// -> dxs (N,T,D), dWx (D,H), dWh (H,H), db (H)|null, dh0 (N,H)
template <typename T>
void rnn_backward(idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* h0, const T* hs,
                  const T* dhs, const T* dhT, T* dxs, T* dWx, T* dWh, T* db, T* dh0) {
  std::vector<T> dA(static_cast<size_t>(N * Tn * H));  // gradient of every step's pre-activation
  std::vector<T> dh(static_cast<size_t>(N * H));        // gradient reaching h_t from step t+1
  copy_rows_or_zero(dh.data(), dhT, N, H, H);
  for (idx t = Tn - 1; t >= 0; --t) {
    for (idx n = 0; n < N; ++n) {
      const idx r = (n * Tn + t) * H;
      const T* PYRNN_RESTRICT d = dh.data() + n * H;
      const T* PYRNN_RESTRICT h = hs + r;
      const T* PYRNN_RESTRICT dy = dhs + r;
      T* PYRNN_RESTRICT da = dA.data() + r;
      for (idx j = 0; j < H; ++j) da[j] = (d[j] + dy[j]) * (T(1) - h[j] * h[j]);  // tanh' = 1 - tanh^2
    }
    // on to h_{t-1}: dh = dA_t Wh^T
    gemm<T>(false, true, N, H, H, T(1), dA.data() + t * H, Tn * H, Wh, H, T(0), dh.data(), H);
  }
  std::copy(dh.begin(), dh.end(), dh0);
  // Weight and input gradients: one large GEMM each over all N*T rows.
  gemm<T>(false, true, N * Tn, D, H, T(1), dA.data(), H, Wx, H, T(0), dxs, D);
  gemm<T>(true, false, D, H, N * Tn, T(1), xs, D, dA.data(), H, T(0), dWx, H);
  std::vector<T> hprev(static_cast<size_t>(N * Tn * H));
  states_before_each_step(N, Tn, H, h0, hs, hprev.data());
  gemm<T>(true, false, H, H, N * Tn, T(1), hprev.data(), H, dA.data(), H, T(0), dWh, H);
  if (db) column_sums(N * Tn, H, dA.data(), H, db);
}

}  // namespace pyrnn
