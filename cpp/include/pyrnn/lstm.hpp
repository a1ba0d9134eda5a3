// LSTM over a whole sequence, forward and backward (BPTT). Gates in the book's order [f, g, i, o]:
// c_t = f * c_{t-1} + g * i, h_t = o * tanh(c_t). Batch-major: xs (N, T, D), hs (N, T, H).
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "pyrnn/activations.hpp"
#include "pyrnn/blas.hpp"
#include "pyrnn/profile.hpp"

namespace pyrnn {

using idx = std::ptrdiff_t;

// One batch row of one step. a (4H) input projection, activated in place when Store; gh (4H) h_{t-1} Wh;
// b (4H); c_prev, c (H); h (H)
template <typename T, bool Store>
PYRNN_SIMD_CLONES void lstm_forward_row(idx H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT gh, const T* PYRNN_RESTRICT b,
                             const T* PYRNN_RESTRICT c_prev, T* PYRNN_RESTRICT c, T* PYRNN_RESTRICT h) {
  for (idx j = 0; j < H; ++j) {
    const T f = sigmoid(a[j] + gh[j] + b[j]);
    const T g = tanh_(a[H + j] + gh[H + j] + b[H + j]);
    const T i = sigmoid(a[2 * H + j] + gh[2 * H + j] + b[2 * H + j]);
    const T o = sigmoid(a[3 * H + j] + gh[3 * H + j] + b[3 * H + j]);
    const T cj = f * c_prev[j] + g * i;  // forget part of the old memory, write the new
    c[j] = cj;
    h[j] = o * tanh_(cj);
    if (Store) a[j] = f, a[H + j] = g, a[2 * H + j] = i, a[3 * H + j] = o;
  }
}

// One batch row of one reverse step. gates (4H) activated [f,g,i,o]; c, c_prev (H); dhs (H) gradient from
// the output; dh (H) from step t+1; dc (H) from step t+1, updated to the gradient on c_{t-1}; da (4H) out
template <typename T>
PYRNN_SIMD_CLONES void lstm_backward_row(idx H, const T* PYRNN_RESTRICT gates, const T* PYRNN_RESTRICT c,
                              const T* PYRNN_RESTRICT c_prev, const T* PYRNN_RESTRICT dhs, const T* PYRNN_RESTRICT dh,
                              T* PYRNN_RESTRICT dc, T* PYRNN_RESTRICT da) {
  for (idx j = 0; j < H; ++j) {
    const T f = gates[j], g = gates[H + j], i = gates[2 * H + j], o = gates[3 * H + j];
    const T tc = tanh_(c[j]);  // recomputed: cheaper than saving another (N,T,H) array
    const T dhj = dh[j] + dhs[j];
    const T dcj = dc[j] + dhj * o * (T(1) - tc * tc);
    da[j] = dcj * c_prev[j] * f * (T(1) - f);  // sigmoid' = s (1 - s), tanh' = 1 - tanh^2
    da[H + j] = dcj * i * (T(1) - g * g);
    da[2 * H + j] = dcj * g * i * (T(1) - i);
    da[3 * H + j] = dhj * tc * o * (T(1) - o);
    dc[j] = dcj * f;  // on to c_{t-1}
  }
}

// xs (N,T,D), Wx (D,4H), Wh (H,4H), b (4H)|null, h0,c0 (N,H)|null -> hs (N,T,H), hT,cT (N,H);
// training (both non-null, else inference): cs (N,T,H) cell states, gates (N,T,4H) activated [f,g,i,o]
template <typename T>
void lstm_forward(idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* b, const T* h0,
                  const T* c0, T* hs, T* hT, T* cT, T* cs, T* gates) {
  const idx G = 4 * H;
  const bool train = cs && gates;
  // Input projections of all steps in one GEMM; in training they land in `gates` and each step
  // activates its slice in place, so the pre-activations never need a buffer of their own.
  Buffer<T> ax_scratch(train ? 0 : static_cast<size_t>(N * Tn * G));
  T* ax = train ? gates : ax_scratch.data();
  { ProfTimer pt_(kFwdInputGemm); pgemm<T>(false, false, N * Tn, G, D, T(1), xs, D, Wx, G, T(0), ax, G); }
  std::vector<T> gh(static_cast<size_t>(N * G));
  const std::vector<T> zeros(static_cast<size_t>(G), T(0));  // stands in for a missing bias or state
  const T* bb = b ? b : zeros.data();
  // inference keeps only the running c, in two buffers swapped per step (no in-place aliasing)
  std::vector<T> c_inf(train ? 0 : static_cast<size_t>(2 * N * H));
  if (!train) copy_rows_or_zero(c_inf.data(), c0, N, H, H);
  const StepWeights<T> wh(Wh, H, G, N, StepWeights<T>::kForward);
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;
    const idx ldp = t ? Tn * H : H;
    {
      ProfTimer pt_(kFwdStepGemm);
      if (hp)
        wh.forward(N, hp, ldp, 0, G, gh.data(), G);
      else
        std::fill(gh.begin(), gh.end(), T(0));
    }
    ProfTimer pt_(kFwdPointwise);
    // one fused pass: bias, activations, cell and hidden update; batch rows are split across threads
    // when N*H is large enough to pay for a fork/join (about a microsecond): measured 4-6% faster
    // at (32,35,128,128)
    parallel_for(N, pointwise_cost() * H, [&](idx n0, idx n1) {
      for (idx n = n0; n < n1; ++n) {
        const T* cp;
        T* cn;
        if (train) {
          cp = t ? cs + (n * Tn + t - 1) * H : (c0 ? c0 + n * H : zeros.data());
          cn = cs + (n * Tn + t) * H;
        } else {
          cp = c_inf.data() + (t % 2) * N * H + n * H;
          cn = c_inf.data() + ((t + 1) % 2) * N * H + n * H;
        }
        T* a = ax + (n * Tn + t) * G;
        T* h = hs + (n * Tn + t) * H;
        if (train)
          lstm_forward_row<T, true>(H, a, gh.data() + n * G, bb, cp, cn, h);
        else
          lstm_forward_row<T, false>(H, a, gh.data() + n * G, bb, cp, cn, h);
      }
    });
  }
  if (Tn > 0) {
    copy_rows_or_zero(hT, hs + (Tn - 1) * H, N, H, Tn * H);
    if (train)
      copy_rows_or_zero(cT, cs + (Tn - 1) * H, N, H, Tn * H);
    else
      copy_rows_or_zero(cT, c_inf.data() + (Tn % 2) * N * H, N, H, H);
  } else {
    copy_rows_or_zero(hT, h0, N, H, H);
    copy_rows_or_zero(cT, c0, N, H, H);
  }
}

// saved: xs (N,T,D), Wx (D,4H), Wh (H,4H), h0,c0 (N,H)|null, hs,cs (N,T,H), gates (N,T,4H);
// grads in: dhs (N,T,H), dhT,dcT (N,H)|null
// -> dxs (N,T,D), dWx (D,4H), dWh (H,4H), db (4H)|null, dh0,dc0 (N,H)
template <typename T>
void lstm_backward(idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* h0, const T* c0,
                   const T* hs, const T* cs, const T* gates, const T* dhs, const T* dhT, const T* dcT, T* dxs,
                   T* dWx, T* dWh, T* db, T* dh0, T* dc0) {
  const idx G = 4 * H;
  Buffer<T> dA(static_cast<size_t>(N * Tn * G));  // gradient of every step's pre-activations [f,g,i,o]
  std::vector<T> dh(static_cast<size_t>(N * H));  // gradient reaching h_t from step t+1
  copy_rows_or_zero(dh.data(), dhT, N, H, H);
  copy_rows_or_zero(dc0, dcT, N, H, H);  // dc0 doubles as the running gradient on c
  const std::vector<T> zeros(static_cast<size_t>(H), T(0));  // c_{-1} when c0 is null
  const StepWeights<T> whb(Wh, H, G, N, StepWeights<T>::kBackward);
  for (idx t = Tn - 1; t >= 0; --t) {
    ProfTimer pt_(kBwdPointwise);
    parallel_for(N, pointwise_cost() * H, [&](idx n0, idx n1) {  // one fused pass over the gates of step t
      for (idx n = n0; n < n1; ++n) {
        const idx r = n * Tn + t;
        const T* cp = t ? cs + (r - 1) * H : (c0 ? c0 + n * H : zeros.data());
        lstm_backward_row<T>(H, gates + r * G, cs + r * H, cp, dhs + r * H, dh.data() + n * H, dc0 + n * H,
                             dA.data() + r * G);
      }
    });
    pt_.stop();
    // on to h_{t-1}: dh = dA_t Wh^T
    ProfTimer pt2_(kBwdStepGemm);
    whb.backward(N, dA.data() + t * G, Tn * G, 0, G, T(0), dh.data(), H);
  }
  std::copy(dh.begin(), dh.end(), dh0);
  { ProfTimer pt_(kBwdInputGemm); pgemm<T>(false, true, N * Tn, D, G, T(1), dA.data(), G, Wx, G, T(0), dxs, D); }
  { ProfTimer pt_(kBwdWeightGemm); pgemm<T>(true, false, D, G, N * Tn, T(1), xs, D, dA.data(), G, T(0), dWx, G); }
  { ProfTimer pt_(kBwdOther); if (db) column_sums(N * Tn, G, dA.data(), G, db); }
  { ProfTimer pt_(kBwdWeightGemm); grad_from_previous_states<T>(N, Tn, H, G, h0, hs, dA.data(), G, dWh, G); }
}

}  // namespace pyrnn
