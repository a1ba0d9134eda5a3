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

// a (H) = tanh(a + g + b), one batch row of one step (compiled for AVX-512 / AVX2 / baseline)
template <typename T>
PYRNN_SIMD_CLONES void rnn_forward_row(idx H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT g,
                                       const T* PYRNN_RESTRICT b) {
  for (idx j = 0; j < H; ++j) a[j] = tanh_(a[j] + g[j] + b[j]);
}

// da (H) = (dh + dy) * (1 - h^2), tanh' = 1 - tanh^2
template <typename T>
PYRNN_SIMD_CLONES void rnn_backward_row(idx H, const T* PYRNN_RESTRICT dh, const T* PYRNN_RESTRICT dy,
                                        const T* PYRNN_RESTRICT h, T* PYRNN_RESTRICT da) {
  for (idx j = 0; j < H; ++j) da[j] = (dh[j] + dy[j]) * (T(1) - h[j] * h[j]);
}

// xs (N,T,D), Wx (D,H), Wh (H,H), b (H)|null, h0 (N,H)|null -> hs (N,T,H), hT (N,H)
template <typename T>
void rnn_forward(idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0,
                 T* hs, T* hT) {
  // All input projections at once, written into hs itself: step t overwrites hs[:, t] in place
  // after the GEMM has read the finished hs[:, t-1].
  pgemm<T>(false, false, N * Tn, H, D, T(1), xs, D, Wx, H, T(0), hs, H);
  std::vector<T> gh(static_cast<size_t>(N * H));
  const std::vector<T> zeros(static_cast<size_t>(H), T(0));
  const T* bb = b ? b : zeros.data();  // no bias = a zero bias: no branch in the loop
  const StepWeights<T> wh(Wh, H, H, N, StepWeights<T>::kForward);
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;
    const idx ldp = t ? Tn * H : H;
    if (hp)
      wh.forward(N, hp, ldp, 0, H, gh.data(), H);
    else
      std::fill(gh.begin(), gh.end(), T(0));
    for (idx n = 0; n < N; ++n)  // one fused pass: bias + recurrent part + tanh
      rnn_forward_row<T>(H, hs + (n * Tn + t) * H, gh.data() + n * H, bb);
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
  Buffer<T> dA(static_cast<size_t>(N * Tn * H));  // gradient of every step's pre-activation
  std::vector<T> dh(static_cast<size_t>(N * H));  // gradient reaching h_t from step t+1
  copy_rows_or_zero(dh.data(), dhT, N, H, H);
  const StepWeights<T> whb(Wh, H, H, N, StepWeights<T>::kBackward);
  for (idx t = Tn - 1; t >= 0; --t) {
    for (idx n = 0; n < N; ++n) {
      const idx r = (n * Tn + t) * H;
      rnn_backward_row<T>(H, dh.data() + n * H, dhs + r, hs + r, dA.data() + r);
    }
    // on to h_{t-1}: dh = dA_t Wh^T
    whb.backward(N, dA.data() + t * H, Tn * H, 0, H, T(0), dh.data(), H);
  }
  std::copy(dh.begin(), dh.end(), dh0);
  // Weight and input gradients: one large GEMM each over all N*T rows.
  pgemm<T>(false, true, N * Tn, D, H, T(1), dA.data(), H, Wx, H, T(0), dxs, D);
  pgemm<T>(true, false, D, H, N * Tn, T(1), xs, D, dA.data(), H, T(0), dWx, H);
  if (db) column_sums(N * Tn, H, dA.data(), H, db);
  grad_from_previous_states<T>(N, Tn, H, H, h0, hs, dA.data(), H, dWh, H);
}

}  // namespace pyrnn
