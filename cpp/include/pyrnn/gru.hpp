// GRU over a whole sequence, forward and backward (BPTT). Gates [z, r, n], h_t = (1 - z) h_{t-1} + z n.
//   reset_after = false (the book, Cho et al.): n = tanh(x Wxn + bn + (r * h) Whn);  b (3H) all input bias.
//   reset_after = true (cuDNN, PyTorch, Keras): n = tanh(x Wxn + b0n + r * (h Whn + b1n));
//                                               b (2, 3H): b[0] input bias, b[1] recurrent bias.
// Batch-major: xs (N, T, D), hs (N, T, H).
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "pyrnn/activations.hpp"
#include "pyrnn/blas.hpp"
#include "pyrnn/profile.hpp"

namespace pyrnn {

using idx = std::ptrdiff_t;

// ---- one batch row of one step, compiled for AVX-512 / AVX2 / baseline (PYRNN_SIMD_CLONES) ----------
// a (3H): input projection [z,r,n], activated in place; g3 (3H): h_{t-1} Wh; bi, br (3H) input and
// recurrent bias; hpn (H) h_{t-1}; h (H) out.

// reset_before, part 1: z, r, and rh = r * h_{t-1} (the input of the Whn GEMM)
template <typename T>
PYRNN_SIMD_CLONES void gru_rb_forward_zr(idx H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT g3,
                                         const T* PYRNN_RESTRICT bi, const T* PYRNN_RESTRICT hpn,
                                         T* PYRNN_RESTRICT rh) {
  for (idx j = 0; j < H; ++j) {
    const T z = sigmoid(a[j] + g3[j] + bi[j]);
    const T r = sigmoid(a[H + j] + g3[H + j] + bi[H + j]);
    a[j] = z;  // in inference `a` is scratch, so storing is harmless
    a[H + j] = r;
    rh[j] = r * hpn[j];
  }
}

// reset_before, part 2: n from (r * h) Whn (in g3's n block), and h
template <typename T>
PYRNN_SIMD_CLONES void gru_rb_forward_n(idx H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT g3,
                                        const T* PYRNN_RESTRICT bi, const T* PYRNN_RESTRICT hpn,
                                        T* PYRNN_RESTRICT h) {
  for (idx j = 0; j < H; ++j) {
    const T z = a[j];
    const T nn = tanh_(a[2 * H + j] + g3[2 * H + j] + bi[2 * H + j]);
    a[2 * H + j] = nn;
    h[j] = (T(1) - z) * hpn[j] + z * nn;
  }
}

// reset_after: everything in one pass; hnr (H) = h_{t-1} Whn + b1n, saved for the backward
template <typename T>
PYRNN_SIMD_CLONES void gru_ra_forward_row(idx H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT g3,
                                          const T* PYRNN_RESTRICT bi, const T* PYRNN_RESTRICT br,
                                          const T* PYRNN_RESTRICT hpn, T* PYRNN_RESTRICT hnr, T* PYRNN_RESTRICT h) {
  for (idx j = 0; j < H; ++j) {
    const T z = sigmoid(a[j] + g3[j] + (bi[j] + br[j]));
    const T r = sigmoid(a[H + j] + g3[H + j] + (bi[H + j] + br[H + j]));
    const T hn = g3[2 * H + j] + br[2 * H + j];
    const T nn = tanh_(a[2 * H + j] + bi[2 * H + j] + r * hn);
    a[j] = z, a[H + j] = r, a[2 * H + j] = nn;
    hnr[j] = hn;
    h[j] = (T(1) - z) * hpn[j] + z * nn;
  }
}

// backward rows. a (3H) activated [z,r,n]; hpn (H) h_{t-1}; dhs_r (H) gradient from the output;
// dhn (H) gradient from step t+1, updated; d (3H) gradient of the pre-activations.
template <typename T>
PYRNN_SIMD_CLONES void gru_rb_backward_zn(idx H, const T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT hpn,
                                          const T* PYRNN_RESTRICT dhs_r, T* PYRNN_RESTRICT d,
                                          T* PYRNN_RESTRICT dhn) {
  for (idx j = 0; j < H; ++j) {
    const T z = a[j], nn = a[2 * H + j];
    const T dht = dhn[j] + dhs_r[j];
    d[j] = dht * (nn - hpn[j]) * z * (T(1) - z);
    d[2 * H + j] = dht * z * (T(1) - nn * nn);
    dhn[j] = dht;  // keep the total for the second pass
  }
}

template <typename T>
PYRNN_SIMD_CLONES void gru_rb_backward_r(idx H, const T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT hpn,
                                         const T* PYRNN_RESTRICT dr, T* PYRNN_RESTRICT d, T* PYRNN_RESTRICT dhn) {
  for (idx j = 0; j < H; ++j) {
    const T z = a[j], rr = a[H + j];
    d[H + j] = dr[j] * hpn[j] * rr * (T(1) - rr);
    dhn[j] = dhn[j] * (T(1) - z) + dr[j] * rr;
  }
}

// reset_after: hn (H) saved h_{t-1} Whn + b1n; dx (3H) gradient of x Wx + b0, dr (3H) of h Wh + b1
template <typename T>
PYRNN_SIMD_CLONES void gru_ra_backward_row(idx H, const T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT hn,
                                           const T* PYRNN_RESTRICT hpn, const T* PYRNN_RESTRICT dhs_r,
                                           T* PYRNN_RESTRICT dx, T* PYRNN_RESTRICT dr, T* PYRNN_RESTRICT dhn) {
  for (idx j = 0; j < H; ++j) {
    const T z = a[j], rr = a[H + j], nn = a[2 * H + j];
    const T dht = dhn[j] + dhs_r[j];
    const T daz = dht * (nn - hpn[j]) * z * (T(1) - z);
    const T dan = dht * z * (T(1) - nn * nn);
    const T dar = dan * hn[j] * rr * (T(1) - rr);
    dx[j] = daz, dx[H + j] = dar, dx[2 * H + j] = dan;
    dr[j] = daz, dr[H + j] = dar, dr[2 * H + j] = dan * rr;  // n sees h only through r
    dhn[j] = dht * (T(1) - z);
  }
}

// xs (N,T,D), Wx (D,3H), Wh (H,3H), b (3H) or (2,3H) with reset_after | null, h0 (N,H)|null -> hs (N,T,H), hT (N,H);
// training (both non-null, else inference): gates (N,T,3H) activated [z,r,n],
// extra (N,T,H) = r * h_{t-1} (reset_before: the input of Whn) or h_{t-1} Whn + b1n (reset_after)
template <typename T>
void gru_forward(idx N, idx Tn, idx D, idx H, bool reset_after, const T* xs, const T* Wx, const T* Wh, const T* b,
                 const T* h0, T* hs, T* hT, T* gates, T* extra) {
  const idx G = 3 * H;
  const bool train = gates && extra;
  const T* b_in = b;
  const T* b_rec = (b && reset_after) ? b + G : nullptr;
  // Input projections of all steps in one GEMM; in training they land in `gates`, activated in place per step.
  Buffer<T> ax_scratch(train ? 0 : static_cast<size_t>(N * Tn * G));
  T* ax = train ? gates : ax_scratch.data();
  {
    ProfTimer pt(kFwdInputGemm);
    pgemm<T>(false, false, N * Tn, G, D, T(1), xs, D, Wx, G, T(0), ax, G);
  }
  std::vector<T> gh(static_cast<size_t>(N * G));
  const std::vector<T> zeros(static_cast<size_t>(G), T(0));  // stands in for a missing bias or state
  const T* bi = b_in ? b_in : zeros.data();
  const T* br = b_rec ? b_rec : zeros.data();
  std::vector<T> ex_scratch(train ? 0 : static_cast<size_t>(N * H));
  const StepWeights<T> wh(Wh, H, G, N, StepWeights<T>::kForward);
  const double row_cost = pointwise_cost() * H;  // rows split across threads when N*H is large enough
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;  // null: h_{t-1} = 0
    const idx ldp = t ? Tn * H : H;
    auto ex_row = [&](idx n) { return train ? extra + (n * Tn + t) * H : ex_scratch.data() + n * H; };
    auto hprev_row = [&](idx n) { return hp ? hp + n * ldp : zeros.data(); };
    if (!reset_after) {
      // z and r first (they need only h); then r * h meets Whn, a second GEMM that must wait for r.
      {
        ProfTimer pt(kFwdStepGemm);
        if (hp)
          wh.forward(N, hp, ldp, 0, 2 * H, gh.data(), G);
        else
          std::fill(gh.begin(), gh.end(), T(0));
      }
      {
        ProfTimer pt(kFwdPointwise);
        parallel_for(N, row_cost, [&](idx n0, idx n1) {
          for (idx n = n0; n < n1; ++n)
            gru_rb_forward_zr<T>(H, ax + (n * Tn + t) * G, gh.data() + n * G, bi, hprev_row(n), ex_row(n));
        });
      }
      if (hp) {  // hn (N,H) = (r * h) Whn, into the third block of gh
        ProfTimer pt(kFwdStepGemm);
        const T* rh0 = train ? extra + t * H : ex_scratch.data();
        wh.forward(N, rh0, train ? Tn * H : H, 2 * H, G, gh.data() + 2 * H, G);
      }
      ProfTimer pt(kFwdPointwise);
      parallel_for(N, row_cost, [&](idx n0, idx n1) {
        for (idx n = n0; n < n1; ++n)
          gru_rb_forward_n<T>(H, ax + (n * Tn + t) * G, gh.data() + n * G, bi, hprev_row(n), hs + (n * Tn + t) * H);
      });
    } else {
      // one recurrent GEMM for all three gates; r scales its n part afterwards
      {
        ProfTimer pt(kFwdStepGemm);
        if (hp)
          wh.forward(N, hp, ldp, 0, G, gh.data(), G);
        else
          std::fill(gh.begin(), gh.end(), T(0));
      }
      ProfTimer pt(kFwdPointwise);
      parallel_for(N, row_cost, [&](idx n0, idx n1) {
        for (idx n = n0; n < n1; ++n)
          gru_ra_forward_row<T>(H, ax + (n * Tn + t) * G, gh.data() + n * G, bi, br, hprev_row(n), ex_row(n),
                                hs + (n * Tn + t) * H);
      });
    }
  }
  if (Tn > 0)
    copy_rows_or_zero(hT, hs + (Tn - 1) * H, N, H, Tn * H);
  else
    copy_rows_or_zero(hT, h0, N, H, H);
}

// saved: xs (N,T,D), Wx (D,3H), Wh (H,3H), h0 (N,H)|null, hs (N,T,H), gates (N,T,3H), extra (N,T,H);
// grads in: dhs (N,T,H), dhT (N,H)|null
// -> dxs (N,T,D), dWx (D,3H), dWh (H,3H), db (3H) or (2,3H) with reset_after | null, dh0 (N,H)
template <typename T>
void gru_backward(idx N, idx Tn, idx D, idx H, bool reset_after, const T* xs, const T* Wx, const T* Wh,
                  const T* h0, const T* hs, const T* gates, const T* extra, const T* dhs, const T* dhT, T* dxs,
                  T* dWx, T* dWh, T* db, T* dh0) {
  const idx G = 3 * H;
  Buffer<T> dAx(static_cast<size_t>(N * Tn * G));  // gradient of x_t Wx + b_in, every step
  // reset_after: gradient of h_{t-1} Wh + b_rec (differs from dAx in the n block: r scales it)
  Buffer<T> dAh(reset_after ? static_cast<size_t>(N * Tn * G) : 0);
  std::vector<T> dh(static_cast<size_t>(N * H));  // gradient reaching h_t from step t+1
  std::vector<T> drh(reset_after ? 0 : static_cast<size_t>(N * H));
  copy_rows_or_zero(dh.data(), dhT, N, H, H);
  const std::vector<T> zeros(static_cast<size_t>(H), T(0));  // h_{-1} when h0 is null
  const double row_cost = pointwise_cost() * H;
  const StepWeights<T> whb(Wh, H, G, N, StepWeights<T>::kBackward);
  for (idx t = Tn - 1; t >= 0; --t) {
    const T* hp = t ? hs + (t - 1) * H : h0;
    const idx ldp = t ? Tn * H : H;
    auto hprev_row = [&](idx n) { return hp ? hp + n * ldp : zeros.data(); };
    if (!reset_after) {
      {
        ProfTimer pt(kBwdPointwise);
        parallel_for(N, row_cost, [&](idx n0, idx n1) {
          for (idx n = n0; n < n1; ++n) {
            const idx r = n * Tn + t;
            gru_rb_backward_zn<T>(H, gates + r * G, hprev_row(n), dhs + r * H, dAx.data() + r * G,
                                  dh.data() + n * H);
          }
        });
      }
      {  // gradient of r * h_{t-1}: drh = dan Whn^T
        ProfTimer pt(kBwdStepGemm);
        whb.backward(N, dAx.data() + t * G + 2 * H, Tn * G, 2 * H, G, T(0), drh.data(), H);
      }
      {
        ProfTimer pt(kBwdPointwise);
        parallel_for(N, row_cost, [&](idx n0, idx n1) {
          for (idx n = n0; n < n1; ++n) {
            const idx r = n * Tn + t;
            gru_rb_backward_r<T>(H, gates + r * G, hprev_row(n), drh.data() + n * H, dAx.data() + r * G,
                                 dh.data() + n * H);
          }
        });
      }
      // on to h_{t-1}: + [daz, dar] Wh[:, :2H]^T
      ProfTimer pt(kBwdStepGemm);
      whb.backward(N, dAx.data() + t * G, Tn * G, 0, 2 * H, T(1), dh.data(), H);
    } else {
      {
        ProfTimer pt(kBwdPointwise);
        parallel_for(N, row_cost, [&](idx n0, idx n1) {
          for (idx n = n0; n < n1; ++n) {
            const idx r = n * Tn + t;
            gru_ra_backward_row<T>(H, gates + r * G, extra + r * H, hprev_row(n), dhs + r * H, dAx.data() + r * G,
                                   dAh.data() + r * G, dh.data() + n * H);
          }
        });
      }
      // on to h_{t-1}: + dAh_t Wh^T
      ProfTimer pt(kBwdStepGemm);
      whb.backward(N, dAh.data() + t * G, Tn * G, 0, G, T(1), dh.data(), H);
    }
  }
  std::copy(dh.begin(), dh.end(), dh0);
  {
    ProfTimer pt(kBwdInputGemm);
    pgemm<T>(false, true, N * Tn, D, G, T(1), dAx.data(), G, Wx, G, T(0), dxs, D);
  }
  {
    ProfTimer pt(kBwdWeightGemm);
    pgemm<T>(true, false, D, G, N * Tn, T(1), xs, D, dAx.data(), G, T(0), dWx, G);
  }
  {
    ProfTimer pt_b(kBwdOther);
    if (db) {
      column_sums(N * Tn, G, dAx.data(), G, db);
      if (reset_after) column_sums(N * Tn, G, dAh.data(), G, db + G);
    }
  }
  ProfTimer pt_w(kBwdWeightGemm);
  if (reset_after) {
    grad_from_previous_states<T>(N, Tn, H, G, h0, hs, dAh.data(), G, dWh, G);
  } else {
    // n multiplies r * h_{t-1} (saved as `extra`) by Whn; z and r multiply h_{t-1} by Wh (this one last:
    // it clears dAx's t = 0 rows in columns [0, 2H))
    pgemm<T>(true, false, H, H, N * Tn, T(1), extra, H, dAx.data() + 2 * H, G, T(0), dWh + 2 * H, G);
    grad_from_previous_states<T>(N, Tn, H, 2 * H, h0, hs, dAx.data(), G, dWh, G);
  }
}

}  // namespace pyrnn
