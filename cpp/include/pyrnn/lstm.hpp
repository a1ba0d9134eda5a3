// LSTM over a whole sequence, forward and backward (BPTT). Gates in the book's order [f, g, i, o]:
// c_t = f * c_{t-1} + g * i, h_t = o * tanh(c_t). Batch-major: xs (N, T, D), hs (N, T, H).
#pragma once
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "pyrnn/activations.hpp"
#include "pyrnn/blas.hpp"
#include "pyrnn/profile.hpp"

namespace pyrnn {

using idx = std::ptrdiff_t;

// Units [0, nu) of one batch row of one step (the whole row: nu = H). a (4 gate blocks, H apart) input
// projection, activated in place when Store; gh (4 blocks, ldg apart) h_{t-1} Wh; b (4 blocks, H apart);
// c_prev, c, h (nu)
template <typename T, bool Store>
PYRNN_SIMD_CLONES void lstm_forward_units(idx nu, idx H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT gh, idx ldg,
                                          const T* PYRNN_RESTRICT b, const T* PYRNN_RESTRICT c_prev,
                                          T* PYRNN_RESTRICT c, T* PYRNN_RESTRICT h) {
  for (idx j = 0; j < nu; ++j) {
    const T f = sigmoid(a[j] + gh[j] + b[j]);
    const T g = tanh_(a[H + j] + gh[ldg + j] + b[H + j]);
    const T i = sigmoid(a[2 * H + j] + gh[2 * ldg + j] + b[2 * H + j]);
    const T o = sigmoid(a[3 * H + j] + gh[3 * ldg + j] + b[3 * H + j]);
    const T cj = f * c_prev[j] + g * i;  // forget part of the old memory, write the new
    c[j] = cj;
    h[j] = o * tanh_(cj);
    if (Store) a[j] = f, a[H + j] = g, a[2 * H + j] = i, a[3 * H + j] = o;
  }
}

// Units [0, nu) of one batch row of one reverse step. gates (4 blocks, H apart) activated [f,g,i,o];
// c, c_prev (nu); dhs (nu) gradient from the output; dh (nu) from step t+1; dc (nu) from step t+1,
// updated to the gradient on c_{t-1}; da (4 blocks, H apart) out
template <typename T>
PYRNN_SIMD_CLONES void lstm_backward_units(idx nu, idx H, const T* PYRNN_RESTRICT gates, const T* PYRNN_RESTRICT c,
                                           const T* PYRNN_RESTRICT c_prev, const T* PYRNN_RESTRICT dhs,
                                           const T* PYRNN_RESTRICT dh, T* PYRNN_RESTRICT dc, T* PYRNN_RESTRICT da) {
  for (idx j = 0; j < nu; ++j) {
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
  const bool fused = StepWeights<T>::fusable(H, G);
  const StepWeights<T> wh(Wh, H, G, N, fused ? StepWeights<T>::kForwardUnits : StepWeights<T>::kForward);
  auto c_rows = [&](idx n, idx t) {  // (c_{t-1}, c_t) of batch row n
    if (train) return std::make_pair(t ? cs + (n * Tn + t - 1) * H : (c0 ? c0 + n * H : zeros.data()),
                                     cs + (n * Tn + t) * H);
    return std::make_pair(static_cast<const T*>(c_inf.data() + (t % 2) * N * H + n * H),
                          c_inf.data() + ((t + 1) % 2) * N * H + n * H);
  };
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;
    const idx ldp = t ? Tn * H : H;
    if constexpr (std::is_same_v<T, float>) {
      if (fused && hp) {  // product and pointwise in one pass (see StepWeights)
        ProfTimer pt_(kFwdStepGemm);
        constexpr idx ldg = StepWeights<T>::kUnits;  // tile row: [f | g | i | o] of ldg units each
        wh.forward_units(N, hp, ldp, [&](idx u0, idx nu, idx row0, idx rows, const float* tile) {
          for (idx n = row0; n < row0 + rows; ++n) {
            const auto [cp, cn] = c_rows(n, t);
            T* a = ax + (n * Tn + t) * G + u0;
            const float* gh_n = tile + (n - row0) * 4 * ldg;
            T* h = hs + (n * Tn + t) * H + u0;
            if (train)
              lstm_forward_units<T, true>(nu, H, a, gh_n, ldg, bb + u0, cp + u0, cn + u0, h);
            else
              lstm_forward_units<T, false>(nu, H, a, gh_n, ldg, bb + u0, cp + u0, cn + u0, h);
          }
        });
        continue;
      }
    }
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
        const auto [cp, cn] = c_rows(n, t);
        T* a = ax + (n * Tn + t) * G;
        T* h = hs + (n * Tn + t) * H;
        if (train)
          lstm_forward_units<T, true>(H, H, a, gh.data() + n * G, H, bb, cp, cn, h);
        else
          lstm_forward_units<T, false>(H, H, a, gh.data() + n * G, H, bb, cp, cn, h);
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
  const bool fused = StepWeights<T>::fusable(H, G);
  const StepWeights<T> whb(Wh, H, G, N, StepWeights<T>::kBackward);
  auto c_prev = [&](idx n, idx t) { return t ? cs + (n * Tn + t - 1) * H : (c0 ? c0 + n * H : zeros.data()); };
  // Step t needs dh = dA_{t+1} Wh^T (dhT at the last step); dh0 = dA_0 Wh^T after the loop.
  for (idx t = Tn - 1; t >= 0; --t) {
    if constexpr (std::is_same_v<T, float>) {
      if (fused && t < Tn - 1) {  // product and pointwise in one pass (see StepWeights)
        ProfTimer pt_(kBwdStepGemm);
        whb.backward_units(N, dA.data() + (t + 1) * G, Tn * G, [&](idx u0, idx nu, idx row0, idx rows, const float* tile) {
          for (idx n = row0; n < row0 + rows; ++n) {
            const idx r = n * Tn + t;
            lstm_backward_units<T>(nu, H, gates + r * G + u0, cs + r * H + u0, c_prev(n, t) + u0, dhs + r * H + u0,
                                   tile + (n - row0) * stepk::kNR, dc0 + n * H + u0, dA.data() + r * G + u0);
          }
        });
        continue;
      }
    }
    if (t < Tn - 1) {
      ProfTimer pt2_(kBwdStepGemm);
      whb.backward(N, dA.data() + (t + 1) * G, Tn * G, 0, G, T(0), dh.data(), H);
    }
    ProfTimer pt_(kBwdPointwise);
    parallel_for(N, pointwise_cost() * H, [&](idx n0, idx n1) {  // one fused pass over the gates of step t
      for (idx n = n0; n < n1; ++n) {
        const idx r = n * Tn + t;
        lstm_backward_units<T>(H, H, gates + r * G, cs + r * H, c_prev(n, t), dhs + r * H, dh.data() + n * H,
                               dc0 + n * H, dA.data() + r * G);
      }
    });
  }
  if (Tn > 0) {  // on to h0
    ProfTimer pt2_(kBwdStepGemm);
    whb.backward(N, dA.data(), Tn * G, 0, G, T(0), dh.data(), H);
  }
  std::copy(dh.begin(), dh.end(), dh0);
  { ProfTimer pt_(kBwdInputGemm); pgemm<T>(false, true, N * Tn, D, G, T(1), dA.data(), G, Wx, G, T(0), dxs, D); }
  { ProfTimer pt_(kBwdWeightGemm); pgemm<T>(true, false, D, G, N * Tn, T(1), xs, D, dA.data(), G, T(0), dWx, G); }
  { ProfTimer pt_(kBwdOther); if (db) column_sums(N * Tn, G, dA.data(), G, db); }
  { ProfTimer pt_(kBwdWeightGemm); grad_from_previous_states<T>(N, Tn, H, G, h0, hs, dA.data(), G, dWh, G); }
}

}  // namespace pyrnn
