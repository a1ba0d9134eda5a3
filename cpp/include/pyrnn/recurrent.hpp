// Recurrent layers over whole sequences, forward and backward (BPTT): tanh RNN, LSTM and GRU.
// Two layouts of the sequences (Steps, below), one kernel for both:
//   whole sequences, batch-major like the book: xs (N, T, D), hs (N, T, H);
//   packed sequences of different lengths (PyTorch's PackedSequence, cuDNN's packed input): sorted
//   longest first, steps stacked time-major, xs (P, D), hs (P, H); step t has only the rows of the
//   sequences still running, so padded steps cost nothing.
// A forward is one GEMM for the input projections of all steps, then per step one product with Wh
// (StepWeights, core/step_gemm.hpp) over that step's rows and one fused pass over the gates; a
// backward runs the steps in reverse, then one GEMM each for dxs, dWx and dWh over all rows. The
// per-step products read h_{t-1} straight out of hs (row stride T*H when batch-major), so nothing is
// transposed or copied.
//   tanh RNN: h_t = tanh(x_t Wx + h_{t-1} Wh + b).
//   LSTM, gates in the book's order [f, g, i, o]: c_t = f * c_{t-1} + g * i, h_t = o * tanh(c_t).
//   GRU, gates [z, r, n]: h_t = (1 - z) h_{t-1} + z n, with n in one of two variants:
//     reset_after = false (the book, Cho et al.): n = tanh(x Wxn + bn + (r * h) Whn);  b (3H) all input bias.
//     reset_after = true (cuDNN, PyTorch, Keras): n = tanh(x Wxn + b0n + r * (h Whn + b1n));
//                                                 b (2, 3H): b[0] input bias, b[1] recurrent bias.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "pyrnn/core/activations.hpp"
#include "pyrnn/core/blas.hpp"
#include "pyrnn/core/buffer.hpp"
#include "pyrnn/core/env.hpp"
#include "pyrnn/core/index.hpp"
#include "pyrnn/core/profile.hpp"
#include "pyrnn/core/simd.hpp"
#include "pyrnn/core/step_gemm.hpp"
#include "pyrnn/core/threads.hpp"

namespace pyrnn {

// Where each step's rows lie in a recurrent op's (rows, width) arrays (xs, hs, gates, ...):
//   whole sequences (offset null): N sequences of T steps, batch-major, row n*T + t;
//   packed (offset: T+1 row offsets, offset[0] = 0): step t is rows [offset[t], offset[t+1]), which
//   belong to its first rows(t) sequences (rows(t) non-increasing, >= 1); N = rows(0), or the
//   initial state's rows when T = 0.
struct Steps {
  index_t N, T;
  const index_t* offset = nullptr;
  index_t rows(index_t t) const { return offset ? offset[t + 1] - offset[t] : N; }
  // the rows of step t+1 (0 after the last step): sequences [rows_after(t), rows(t)) end at step t
  index_t rows_after(index_t t) const { return t + 1 < T ? rows(t + 1) : 0; }
  index_t row(index_t n, index_t t) const { return offset ? offset[t] + n : n * T + t; }
  index_t stride() const { return offset ? 1 : T; }  // rows from sequence n to n+1 within one step
  index_t total() const { return offset ? offset[T] : N * T; }
};

namespace detail {

// ---- shared by the three layers -------------------------------------------------------------------

// Cost per element of a recurrent pointwise pass, in parallel_for's units: 40 splits the rows of
// an (N=32, H=128) step across 2 threads (measured 4-6% faster than 4, which did not). PYRNN_POINTWISE_COST.
inline double pointwise_cost() {
  static const double v = env_number("PYRNN_POINTWISE_COST", 40.0);
  return v;
}

// dst (rows, cols) <- src (rows, cols) with src row stride lds, or zeros when src is null.
template <typename T>
inline void copy_rows_or_zero(T* dst, const T* src, index_t rows, index_t cols, index_t lds) {
  for (index_t r = 0; r < rows; ++r) {
    if (src)
      std::memcpy(dst + r * cols, src + r * lds, sizeof(T) * cols);
    else
      std::memset(dst + r * cols, 0, sizeof(T) * cols);
  }
}

// The state a step starts from: each sequence's row of the step before in states (rows, H), or at
// t = 0 the initial state (N, H), null for a zero state.
template <typename T>
struct PreviousState {
  const T* rows;  // null: zeros
  index_t ld;
  // sequence n's row, or `zeros` (H) for a zero state
  const T* row(index_t n, const T* zeros) const { return rows ? rows + n * ld : zeros; }
};
template <typename T>
PreviousState<T> previous_state(const T* states, const T* initial, index_t t, const Steps& s, index_t H) {
  if (t) return {states + s.row(0, t - 1) * H, s.stride() * H};
  return {initial, H};
}

// out (N, H) <- each sequence's state after its last step (its row of states (rows, H) at that step),
// or the initial state (null: zeros) when there is no step
template <typename T>
void final_states(T* out, const T* states, const T* initial, const Steps& s, index_t H) {
  if (s.T == 0) {
    copy_rows_or_zero(out, initial, s.N, H, H);
    return;
  }
  for (index_t t = 0; t < s.T; ++t) {
    const index_t n0 = s.rows_after(t), n1 = s.rows(t);
    if (n1 > n0) copy_rows_or_zero(out + n0 * H, states + s.row(n0, t) * H, n1 - n0, H, s.stride() * H);
  }
}

// ax (R, G) = xs (R, D) @ Wx (D, G): the input projections of all R rows (every step) in one GEMM
template <typename T>
void input_projections(index_t R, index_t D, index_t G, const T* xs, const T* Wx, T* ax) {
  ProfTimer pt(kFwdInputGemm);
  pgemm<T>(false, false, R, G, D, T(1), xs, D, Wx, G, T(0), ax, G);
}

// db (G,) = sum over rows of dA (R, G), rows in order, accumulated in double: fixed order means
// bitwise-reproducible, double means the sum over N*T rows loses nothing visible in float32. Threads
// take whole column blocks, so each column's order of additions never changes.
template <typename T>
inline void column_sums(index_t R, index_t G, const T* dA, index_t lda, T* db) {
  constexpr index_t kBlock = 256;  // columns per pass: accumulators stay in L1
  const index_t blocks = (G + kBlock - 1) / kBlock;
  parallel_for(blocks, static_cast<double>(R) * kBlock, [&](index_t b0, index_t b1) {
    double acc[kBlock];
    for (index_t j0 = b0 * kBlock; j0 < std::min(G, b1 * kBlock); j0 += kBlock) {
      const index_t w = (G - j0 < kBlock) ? G - j0 : kBlock;
      for (index_t j = 0; j < w; ++j) acc[j] = 0.0;
      for (index_t r = 0; r < R; ++r) {
        const T* row = dA + r * lda + j0;
        for (index_t j = 0; j < w; ++j) acc[j] += static_cast<double>(row[j]);
      }
      for (index_t j = 0; j < w; ++j) db[j0 + j] = static_cast<T>(acc[j]);
    }
  });
}

// The input side of every backward, from dA (R, G), the gradient of x_t Wx + b at every row:
// dxs (R, D) = dA Wx^T, dWx (D, G) = xs^T dA, db (G) = column sums of dA (db null: no bias).
template <typename T>
void input_grads(index_t R, index_t D, index_t G, const T* xs, const T* Wx, const T* dA, T* dxs, T* dWx, T* db) {
  {
    ProfTimer pt(kBwdInputGemm);
    pgemm<T>(false, true, R, D, G, T(1), dA, G, Wx, G, T(0), dxs, D);
  }
  {
    ProfTimer pt(kBwdWeightGemm);
    pgemm<T>(true, false, D, G, R, T(1), xs, D, dA, G, T(0), dWx, G);
  }
  ProfTimer pt(kBwdOther);
  if (db) column_sums(R, G, dA, G, db);
}

// dW (H, C) = hprev^T dA, hprev (rows, H) the state each row's step starts from (h0's row, or zeros,
// at t = 0; else the same sequence's row of the step before). hs (rows, H); dA (rows, C columns,
// leading dim ldd). CLOBBERS dA's t = 0 rows for whole sequences: call it after every other use of dA.
//   Whole sequences: hprev is not built. One GEMM pairs every hs row r-1 with dA row r; the pairs that
//   cross into the next sequence (r = n*T) become exact zeros because dA's t = 0 rows are cleared
//   first, and h0^T dA_0 is added by a K = N GEMM. Saves copying hs into an (N*T, H) buffer.
//   Packed: a row's previous row is rows(t-1) rows back, which changes with t, so no single shift
//   pairs them: hprev is gathered (a copy of rows*H, small next to the GEMM's rows*H*C).
template <typename T>
inline void grad_from_previous_states(const Steps& s, index_t H, index_t C, const T* h0, const T* hs, T* dA,
                                      index_t ldd, T* dW, index_t ldw) {
  ProfTimer pt(kBwdWeightGemm);
  const index_t R = s.total(), N = s.N, Tn = s.T;
  if (R == 0) {  // no step: zero gradient (gemm with K = 0 and beta 0 writes zeros)
    gemm<T>(true, false, H, C, 0, T(1), hs, H, dA, ldd, T(0), dW, ldw);
    return;
  }
  if (s.offset) {
    Buffer<T> hprev(static_cast<size_t>(R * H));
    for (index_t t = 0; t < Tn; ++t)
      copy_rows_or_zero(hprev.data() + s.row(0, t) * H, t ? hs + s.row(0, t - 1) * H : h0, s.rows(t), H, H);
    pgemm<T>(true, false, H, C, R, T(1), hprev.data(), H, dA, ldd, T(0), dW, ldw);
    return;
  }
  std::vector<T> dA0(h0 ? static_cast<size_t>(N * C) : 0);
  for (index_t n = 0; n < N; ++n) {
    T* row = dA + n * Tn * ldd;
    if (h0) std::copy(row, row + C, dA0.data() + n * C);
    std::fill(row, row + C, T(0));
  }
  pgemm<T>(true, false, H, C, R - 1, T(1), hs, H, dA + ldd, ldd, T(0), dW, ldw);
  if (h0) pgemm<T>(true, false, H, C, N, T(1), h0, H, dA0.data(), C, T(1), dW, ldw);
}

// The end of the RNN's and the LSTM's backward, after the time loop (all G columns of dA (rows,G) meet
// h_{t-1} through Wh (H,G)): dh0 <- dh, the gradient that reached the initial state; dxs, dWx, db from
// dA and the inputs; then dWh from dA and the states before each step (which clears dA's t = 0 rows).
template <typename T>
inline void grads_after_loop(const Steps& s, index_t D, index_t H, index_t G, const T* xs, const T* Wx,
                             const T* h0, const T* hs, const std::vector<T>& dh, T* dA, T* dxs, T* dWx, T* db,
                             T* dWh, T* dh0) {
  std::copy(dh.begin(), dh.end(), dh0);
  input_grads(s.total(), D, G, xs, Wx, dA, dxs, dWx, db);
  grad_from_previous_states<T>(s, H, G, h0, hs, dA, G, dWh, G);
}

// ---- one batch row of one step, compiled for AVX-512 / AVX2 / baseline (PYRNN_SIMD_CLONES) ----------

// tanh RNN: a (H) = tanh(a + g + b)
template <typename T>
PYRNN_SIMD_CLONES void rnn_forward_row(index_t H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT g,
                                       const T* PYRNN_RESTRICT b) {
  for (index_t j = 0; j < H; ++j) a[j] = tanh_(a[j] + g[j] + b[j]);
}

// tanh RNN: da (H) = (dh + dy) * (1 - h^2), tanh' = 1 - tanh^2
template <typename T>
PYRNN_SIMD_CLONES void rnn_backward_row(index_t H, const T* PYRNN_RESTRICT dh, const T* PYRNN_RESTRICT dy,
                                        const T* PYRNN_RESTRICT h, T* PYRNN_RESTRICT da) {
  for (index_t j = 0; j < H; ++j) da[j] = (dh[j] + dy[j]) * (T(1) - h[j] * h[j]);
}

// LSTM. a (4H) input projection, activated in place when Store; gh (4H) h_{t-1} Wh; b (4H);
// c_prev, c (H); h (H)
template <typename T, bool Store>
PYRNN_SIMD_CLONES void lstm_forward_row(index_t H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT gh,
                                        const T* PYRNN_RESTRICT b, const T* PYRNN_RESTRICT c_prev,
                                        T* PYRNN_RESTRICT c, T* PYRNN_RESTRICT h) {
  for (index_t j = 0; j < H; ++j) {
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

// LSTM, one reverse step. gates (4H) activated [f,g,i,o]; c, c_prev (H); dhs (H) gradient from the
// output; dh (H) from step t+1; dc (H) from step t+1, updated to the gradient on c_{t-1}; da (4H) out
template <typename T>
PYRNN_SIMD_CLONES void lstm_backward_row(index_t H, const T* PYRNN_RESTRICT gates, const T* PYRNN_RESTRICT c,
                                         const T* PYRNN_RESTRICT c_prev, const T* PYRNN_RESTRICT dhs,
                                         const T* PYRNN_RESTRICT dh, T* PYRNN_RESTRICT dc, T* PYRNN_RESTRICT da) {
  for (index_t j = 0; j < H; ++j) {
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

// GRU forward rows. a (3H): input projection [z,r,n], activated in place; g3 (3H): h_{t-1} Wh; bi, br
// (3H) input and recurrent bias; hpn (H) h_{t-1}; h (H) out.

// reset_before, part 1: z, r, and r_hprev = r * h_{t-1} (the input of the Whn product)
template <typename T>
PYRNN_SIMD_CLONES void gru_rb_forward_zr(index_t H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT g3,
                                         const T* PYRNN_RESTRICT bi, const T* PYRNN_RESTRICT hpn,
                                         T* PYRNN_RESTRICT r_hprev) {
  for (index_t j = 0; j < H; ++j) {
    const T z = sigmoid(a[j] + g3[j] + bi[j]);
    const T r = sigmoid(a[H + j] + g3[H + j] + bi[H + j]);
    a[j] = z;  // in inference `a` is scratch, so storing is harmless
    a[H + j] = r;
    r_hprev[j] = r * hpn[j];
  }
}

// reset_before, part 2: n from (r * h) Whn (in g3's n block), and h
template <typename T>
PYRNN_SIMD_CLONES void gru_rb_forward_n(index_t H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT g3,
                                        const T* PYRNN_RESTRICT bi, const T* PYRNN_RESTRICT hpn,
                                        T* PYRNN_RESTRICT h) {
  for (index_t j = 0; j < H; ++j) {
    const T z = a[j];
    const T nn = tanh_(a[2 * H + j] + g3[2 * H + j] + bi[2 * H + j]);
    a[2 * H + j] = nn;
    h[j] = (T(1) - z) * hpn[j] + z * nn;
  }
}

// reset_after: everything in one pass; hprev_Whn (H) = h_{t-1} Whn + b1n, saved for the backward
template <typename T>
PYRNN_SIMD_CLONES void gru_ra_forward_row(index_t H, T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT g3,
                                          const T* PYRNN_RESTRICT bi, const T* PYRNN_RESTRICT br,
                                          const T* PYRNN_RESTRICT hpn, T* PYRNN_RESTRICT hprev_Whn,
                                          T* PYRNN_RESTRICT h) {
  for (index_t j = 0; j < H; ++j) {
    const T z = sigmoid(a[j] + g3[j] + (bi[j] + br[j]));
    const T r = sigmoid(a[H + j] + g3[H + j] + (bi[H + j] + br[H + j]));
    const T hn = g3[2 * H + j] + br[2 * H + j];
    const T nn = tanh_(a[2 * H + j] + bi[2 * H + j] + r * hn);
    a[j] = z, a[H + j] = r, a[2 * H + j] = nn;
    hprev_Whn[j] = hn;
    h[j] = (T(1) - z) * hpn[j] + z * nn;
  }
}

// GRU backward rows. a (3H) activated [z,r,n]; hpn (H) h_{t-1}; dhs_r (H) gradient from the output;
// dhn (H) gradient from step t+1, updated; d (3H) gradient of the pre-activations.
template <typename T>
PYRNN_SIMD_CLONES void gru_rb_backward_zn(index_t H, const T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT hpn,
                                          const T* PYRNN_RESTRICT dhs_r, T* PYRNN_RESTRICT d,
                                          T* PYRNN_RESTRICT dhn) {
  for (index_t j = 0; j < H; ++j) {
    const T z = a[j], nn = a[2 * H + j];
    const T dht = dhn[j] + dhs_r[j];
    d[j] = dht * (nn - hpn[j]) * z * (T(1) - z);
    d[2 * H + j] = dht * z * (T(1) - nn * nn);
    dhn[j] = dht;  // keep the total for the second pass
  }
}

// reset_before, second pass: dr (H) is the gradient of r * h_{t-1}
template <typename T>
PYRNN_SIMD_CLONES void gru_rb_backward_r(index_t H, const T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT hpn,
                                         const T* PYRNN_RESTRICT dr, T* PYRNN_RESTRICT d, T* PYRNN_RESTRICT dhn) {
  for (index_t j = 0; j < H; ++j) {
    const T z = a[j], rr = a[H + j];
    d[H + j] = dr[j] * hpn[j] * rr * (T(1) - rr);
    dhn[j] = dhn[j] * (T(1) - z) + dr[j] * rr;
  }
}

// reset_after: hprev_Whn (H) saved h_{t-1} Whn + b1n; dx (3H) gradient of x Wx + b0, dr (3H) of h Wh + b1
template <typename T>
PYRNN_SIMD_CLONES void gru_ra_backward_row(index_t H, const T* PYRNN_RESTRICT a, const T* PYRNN_RESTRICT hprev_Whn,
                                           const T* PYRNN_RESTRICT hpn, const T* PYRNN_RESTRICT dhs_r,
                                           T* PYRNN_RESTRICT dx, T* PYRNN_RESTRICT dr, T* PYRNN_RESTRICT dhn) {
  for (index_t j = 0; j < H; ++j) {
    const T z = a[j], rr = a[H + j], nn = a[2 * H + j];
    const T dht = dhn[j] + dhs_r[j];
    const T daz = dht * (nn - hpn[j]) * z * (T(1) - z);
    const T dan = dht * z * (T(1) - nn * nn);
    const T dar = dan * hprev_Whn[j] * rr * (T(1) - rr);
    dx[j] = daz, dx[H + j] = dar, dx[2 * H + j] = dan;
    dr[j] = daz, dr[H + j] = dar, dr[2 * H + j] = dan * rr;  // n sees h only through r
    dhn[j] = dht * (T(1) - z);
  }
}

}  // namespace detail

// ---- tanh RNN ---------------------------------------------------------------------------------------

// xs (rows, D), Wx (D,H), Wh (H,H), b (H)|null, h0 (N,H)|null -> hs (rows, H), hT (N,H); rows by Steps
template <typename T>
void rnn_forward(const Steps& s, index_t D, index_t H, const T* xs, const T* Wx, const T* Wh, const T* b,
                 const T* h0, T* hs, T* hT) {
  // The input projections are written into hs itself: step t overwrites its rows in place after the
  // step product has read the finished rows of step t-1.
  detail::input_projections(s.total(), D, H, xs, Wx, hs);
  std::vector<T> gh(static_cast<size_t>(s.N * H));
  const std::vector<T> zeros(static_cast<size_t>(H), T(0));
  const T* bb = b ? b : zeros.data();  // no bias = a zero bias: no branch in the loop
  const StepWeights<T> wh(Wh, H, H, s.N, s.T, StepWeights<T>::kForward);
  for (index_t t = 0; t < s.T; ++t) {
    const index_t M = s.rows(t);
    const detail::PreviousState<T> hprev = detail::previous_state(hs, h0, t, s, H);
    {
      ProfTimer pt(kFwdStepGemm);
      wh.forward(M, hprev.rows, hprev.ld, 0, H, gh.data(), H);
    }
    ProfTimer pt(kFwdPointwise);
    for (index_t n = 0; n < M; ++n)  // one fused pass: bias + recurrent part + tanh
      detail::rnn_forward_row<T>(H, hs + s.row(n, t) * H, gh.data() + n * H, bb);
  }
  detail::final_states(hT, hs, h0, s, H);
}

// saved: xs (rows,D), Wx (D,H), Wh (H,H), h0 (N,H)|null, hs (rows,H); grads in: dhs (rows,H), dhT (N,H)|null
// -> dxs (rows,D), dWx (D,H), dWh (H,H), db (H)|null, dh0 (N,H)
template <typename T>
void rnn_backward(const Steps& s, index_t D, index_t H, const T* xs, const T* Wx, const T* Wh, const T* h0,
                  const T* hs, const T* dhs, const T* dhT, T* dxs, T* dWx, T* dWh, T* db, T* dh0) {
  Buffer<T> dA(static_cast<size_t>(s.total() * H));  // gradient of every step's pre-activation
  // row n: the gradient reaching sequence n's latest h from the step after (dhT before its last step)
  std::vector<T> dh(static_cast<size_t>(s.N * H));
  detail::copy_rows_or_zero(dh.data(), dhT, s.N, H, H);
  const StepWeights<T> whb(Wh, H, H, s.N, s.T, StepWeights<T>::kBackward);
  for (index_t t = s.T - 1; t >= 0; --t) {
    const index_t M = s.rows(t);
    {
      ProfTimer pt(kBwdPointwise);
      for (index_t n = 0; n < M; ++n) {
        const index_t r = s.row(n, t) * H;
        detail::rnn_backward_row<T>(H, dh.data() + n * H, dhs + r, hs + r, dA.data() + r);
      }
    }
    // on to h_{t-1}: dh = dA_t Wh^T
    ProfTimer pt(kBwdStepGemm);
    whb.backward(M, dA.data() + s.row(0, t) * H, s.stride() * H, 0, H, T(0), dh.data(), H);
  }
  detail::grads_after_loop<T>(s, D, H, H, xs, Wx, h0, hs, dh, dA.data(), dxs, dWx, db, dWh, dh0);
}

// ---- LSTM -------------------------------------------------------------------------------------------

// xs (rows,D), Wx (D,4H), Wh (H,4H), b (4H)|null, h0,c0 (N,H)|null -> hs (rows,H), hT,cT (N,H);
// training (both non-null, else inference): cs (rows,H) cell states, gates (rows,4H) activated [f,g,i,o]
template <typename T>
void lstm_forward(const Steps& s, index_t D, index_t H, const T* xs, const T* Wx, const T* Wh, const T* b,
                  const T* h0, const T* c0, T* hs, T* hT, T* cT, T* cs, T* gates) {
  const index_t G = 4 * H, N = s.N;
  const bool train = cs && gates;
  // In training the input projections land in `gates` and each step activates its slice in place, so
  // the pre-activations never need a buffer of their own.
  Buffer<T> ax_scratch(train ? 0 : static_cast<size_t>(s.total() * G));
  T* ax = train ? gates : ax_scratch.data();
  detail::input_projections(s.total(), D, G, xs, Wx, ax);
  std::vector<T> gh(static_cast<size_t>(N * G));
  const std::vector<T> zeros(static_cast<size_t>(G), T(0));  // stands in for a missing bias or state
  const T* bb = b ? b : zeros.data();
  // inference keeps only the running c, in two buffers swapped per step (no in-place aliasing); a
  // sequence's c goes to cT at its last step
  std::vector<T> c_inf(train ? 0 : static_cast<size_t>(2 * N * H));
  if (!train) detail::copy_rows_or_zero(c_inf.data(), c0, N, H, H);
  const StepWeights<T> wh(Wh, H, G, N, s.T, StepWeights<T>::kForward);
  for (index_t t = 0; t < s.T; ++t) {
    const index_t M = s.rows(t), ending = s.rows_after(t);
    const detail::PreviousState<T> hprev = detail::previous_state(hs, h0, t, s, H);
    const detail::PreviousState<T> cprev =  // training only: inference keeps c in c_inf
        train ? detail::previous_state(cs, c0, t, s, H) : detail::PreviousState<T>{nullptr, 0};
    {
      ProfTimer pt(kFwdStepGemm);
      wh.forward(M, hprev.rows, hprev.ld, 0, G, gh.data(), G);
    }
    ProfTimer pt(kFwdPointwise);
    // one fused pass: bias, activations, cell and hidden update; rows are split across threads
    // when M*H is large enough to pay for a fork/join (about a microsecond): measured 4-6% faster
    // at (32,35,128,128)
    parallel_for(M, detail::pointwise_cost() * H, [&](index_t n0, index_t n1) {
      for (index_t n = n0; n < n1; ++n) {
        const index_t r = s.row(n, t);
        T* a = ax + r * G;
        T* h = hs + r * H;
        if (train) {
          detail::lstm_forward_row<T, true>(H, a, gh.data() + n * G, bb, cprev.row(n, zeros.data()), cs + r * H, h);
        } else {
          T* cn = c_inf.data() + ((t + 1) % 2) * N * H + n * H;
          detail::lstm_forward_row<T, false>(H, a, gh.data() + n * G, bb, c_inf.data() + (t % 2) * N * H + n * H, cn,
                                             h);
          if (n >= ending) std::memcpy(cT + n * H, cn, sizeof(T) * H);
        }
      }
    });
  }
  detail::final_states(hT, hs, h0, s, H);
  if (train || s.T == 0) detail::final_states(cT, cs, c0, s, H);
}

// saved: xs (rows,D), Wx (D,4H), Wh (H,4H), h0,c0 (N,H)|null, hs,cs (rows,H), gates (rows,4H);
// grads in: dhs (rows,H), dhT,dcT (N,H)|null
// -> dxs (rows,D), dWx (D,4H), dWh (H,4H), db (4H)|null, dh0,dc0 (N,H)
template <typename T>
void lstm_backward(const Steps& s, index_t D, index_t H, const T* xs, const T* Wx, const T* Wh, const T* h0,
                   const T* c0, const T* hs, const T* cs, const T* gates, const T* dhs, const T* dhT, const T* dcT,
                   T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dc0) {
  const index_t G = 4 * H;
  Buffer<T> dA(static_cast<size_t>(s.total() * G));  // gradient of every step's pre-activations [f,g,i,o]
  std::vector<T> dh(static_cast<size_t>(s.N * H));   // row n: gradient reaching sequence n's latest h
  detail::copy_rows_or_zero(dh.data(), dhT, s.N, H, H);
  detail::copy_rows_or_zero(dc0, dcT, s.N, H, H);  // dc0 doubles as the running gradient on c
  const std::vector<T> zeros(static_cast<size_t>(H), T(0));  // c_{-1} when c0 is null
  const StepWeights<T> whb(Wh, H, G, s.N, s.T, StepWeights<T>::kBackward);
  for (index_t t = s.T - 1; t >= 0; --t) {
    const index_t M = s.rows(t);
    const detail::PreviousState<T> cprev = detail::previous_state(cs, c0, t, s, H);
    {
      ProfTimer pt(kBwdPointwise);
      parallel_for(M, detail::pointwise_cost() * H, [&](index_t n0, index_t n1) {  // one fused pass, step t
        for (index_t n = n0; n < n1; ++n) {
          const index_t r = s.row(n, t);
          detail::lstm_backward_row<T>(H, gates + r * G, cs + r * H, cprev.row(n, zeros.data()), dhs + r * H,
                                       dh.data() + n * H, dc0 + n * H, dA.data() + r * G);
        }
      });
    }
    // on to h_{t-1}: dh = dA_t Wh^T
    ProfTimer pt(kBwdStepGemm);
    whb.backward(M, dA.data() + s.row(0, t) * G, s.stride() * G, 0, G, T(0), dh.data(), H);
  }
  detail::grads_after_loop<T>(s, D, H, G, xs, Wx, h0, hs, dh, dA.data(), dxs, dWx, db, dWh, dh0);
}

// ---- GRU --------------------------------------------------------------------------------------------

// xs (rows,D), Wx (D,3H), Wh (H,3H), b (3H) or (2,3H) with reset_after | null, h0 (N,H)|null
// -> hs (rows,H), hT (N,H); training (gates and the variant's array non-null, else inference): gates
// (rows,3H) activated [z,r,n], and what the backward needs of n's recurrent part, (rows,H):
// r_hprev = r * h_{t-1} (reset_before: the input of Whn) or hprev_Whn = h_{t-1} Whn + b1n (reset_after);
// the other variant's pointer is ignored.
template <typename T>
void gru_forward(const Steps& s, index_t D, index_t H, bool reset_after, const T* xs, const T* Wx, const T* Wh,
                 const T* b, const T* h0, T* hs, T* hT, T* gates, T* r_hprev, T* hprev_Whn) {
  const index_t G = 3 * H;
  T* n_saved = reset_after ? hprev_Whn : r_hprev;  // the variant's (rows,H) array
  const bool train = gates && n_saved;
  const T* b_in = b;
  const T* b_rec = (b && reset_after) ? b + G : nullptr;
  // In training the input projections land in `gates`, activated in place per step.
  Buffer<T> ax_scratch(train ? 0 : static_cast<size_t>(s.total() * G));
  T* ax = train ? gates : ax_scratch.data();
  detail::input_projections(s.total(), D, G, xs, Wx, ax);
  std::vector<T> gh(static_cast<size_t>(s.N * G));
  const std::vector<T> zeros(static_cast<size_t>(G), T(0));  // stands in for a missing bias or state
  const T* bi = b_in ? b_in : zeros.data();
  const T* br = b_rec ? b_rec : zeros.data();
  std::vector<T> n_scratch(train ? 0 : static_cast<size_t>(s.N * H));  // inference: this step's only
  const StepWeights<T> wh(Wh, H, G, s.N, s.T, StepWeights<T>::kForward);
  const double row_cost = detail::pointwise_cost() * H;  // rows split across threads when M*H is large enough
  for (index_t t = 0; t < s.T; ++t) {
    const index_t M = s.rows(t);
    const detail::PreviousState<T> hprev = detail::previous_state(hs, h0, t, s, H);
    // this step's rows of n_saved: (M, H) with row stride ld_n
    T* n_step = train ? n_saved + s.row(0, t) * H : n_scratch.data();
    const index_t ld_n = train ? s.stride() * H : H;
    if (!reset_after) {
      // z and r first (they need only h); then r * h meets Whn, a second product that must wait for r.
      {
        ProfTimer pt(kFwdStepGemm);
        wh.forward(M, hprev.rows, hprev.ld, 0, 2 * H, gh.data(), G);
      }
      {
        ProfTimer pt(kFwdPointwise);
        parallel_for(M, row_cost, [&](index_t n0, index_t n1) {
          for (index_t n = n0; n < n1; ++n)
            detail::gru_rb_forward_zr<T>(H, ax + s.row(n, t) * G, gh.data() + n * G, bi, hprev.row(n, zeros.data()),
                                         n_step + n * ld_n);
        });
      }
      {  // (r * h) Whn (M,H), into the third block of gh; zeros when h_{t-1} is
        ProfTimer pt(kFwdStepGemm);
        wh.forward(M, hprev.rows ? n_step : nullptr, ld_n, 2 * H, G, gh.data() + 2 * H, G);
      }
      ProfTimer pt(kFwdPointwise);
      parallel_for(M, row_cost, [&](index_t n0, index_t n1) {
        for (index_t n = n0; n < n1; ++n)
          detail::gru_rb_forward_n<T>(H, ax + s.row(n, t) * G, gh.data() + n * G, bi, hprev.row(n, zeros.data()),
                                      hs + s.row(n, t) * H);
      });
    } else {
      // one recurrent product for all three gates; r scales its n part afterwards
      {
        ProfTimer pt(kFwdStepGemm);
        wh.forward(M, hprev.rows, hprev.ld, 0, G, gh.data(), G);
      }
      ProfTimer pt(kFwdPointwise);
      parallel_for(M, row_cost, [&](index_t n0, index_t n1) {
        for (index_t n = n0; n < n1; ++n)
          detail::gru_ra_forward_row<T>(H, ax + s.row(n, t) * G, gh.data() + n * G, bi, br,
                                        hprev.row(n, zeros.data()), n_step + n * ld_n, hs + s.row(n, t) * H);
      });
    }
  }
  detail::final_states(hT, hs, h0, s, H);
}

// saved: xs (rows,D), Wx (D,3H), Wh (H,3H), h0 (N,H)|null, hs (rows,H), gates (rows,3H), and the variant's
// r_hprev or hprev_Whn (rows,H) (see gru_forward); grads in: dhs (rows,H), dhT (N,H)|null
// -> dxs (rows,D), dWx (D,3H), dWh (H,3H), db (3H) or (2,3H) with reset_after | null, dh0 (N,H)
template <typename T>
void gru_backward(const Steps& s, index_t D, index_t H, bool reset_after, const T* xs, const T* Wx, const T* Wh,
                  const T* h0, const T* hs, const T* gates, const T* r_hprev, const T* hprev_Whn, const T* dhs,
                  const T* dhT, T* dxs, T* dWx, T* dWh, T* db, T* dh0) {
  const index_t G = 3 * H, R = s.total(), N = s.N;
  Buffer<T> dAx(static_cast<size_t>(R * G));  // gradient of x_t Wx + b_in, every step
  // reset_after: gradient of h_{t-1} Wh + b_rec (differs from dAx in the n block: r scales it)
  Buffer<T> dAh(reset_after ? static_cast<size_t>(R * G) : 0);
  std::vector<T> dh(static_cast<size_t>(N * H));  // row n: gradient reaching sequence n's latest h
  std::vector<T> d_r_hprev(reset_after ? 0 : static_cast<size_t>(N * H));  // gradient of r * h_{t-1}
  detail::copy_rows_or_zero(dh.data(), dhT, N, H, H);
  const std::vector<T> zeros(static_cast<size_t>(H), T(0));  // h_{-1} when h0 is null
  const double row_cost = detail::pointwise_cost() * H;
  const StepWeights<T> whb(Wh, H, G, N, s.T, StepWeights<T>::kBackward);
  for (index_t t = s.T - 1; t >= 0; --t) {
    const index_t M = s.rows(t), r0 = s.row(0, t), ld = s.stride() * G;  // step t's rows of dAx, dAh
    const detail::PreviousState<T> hprev = detail::previous_state(hs, h0, t, s, H);
    if (!reset_after) {
      {
        ProfTimer pt(kBwdPointwise);
        parallel_for(M, row_cost, [&](index_t n0, index_t n1) {
          for (index_t n = n0; n < n1; ++n) {
            const index_t r = s.row(n, t);
            detail::gru_rb_backward_zn<T>(H, gates + r * G, hprev.row(n, zeros.data()), dhs + r * H,
                                          dAx.data() + r * G, dh.data() + n * H);
          }
        });
      }
      {  // gradient of r * h_{t-1}: dan Whn^T
        ProfTimer pt(kBwdStepGemm);
        whb.backward(M, dAx.data() + r0 * G + 2 * H, ld, 2 * H, G, T(0), d_r_hprev.data(), H);
      }
      {
        ProfTimer pt(kBwdPointwise);
        parallel_for(M, row_cost, [&](index_t n0, index_t n1) {
          for (index_t n = n0; n < n1; ++n) {
            const index_t r = s.row(n, t);
            detail::gru_rb_backward_r<T>(H, gates + r * G, hprev.row(n, zeros.data()), d_r_hprev.data() + n * H,
                                         dAx.data() + r * G, dh.data() + n * H);
          }
        });
      }
      // on to h_{t-1}: + [daz, dar] Wh[:, :2H]^T
      ProfTimer pt(kBwdStepGemm);
      whb.backward(M, dAx.data() + r0 * G, ld, 0, 2 * H, T(1), dh.data(), H);
    } else {
      {
        ProfTimer pt(kBwdPointwise);
        parallel_for(M, row_cost, [&](index_t n0, index_t n1) {
          for (index_t n = n0; n < n1; ++n) {
            const index_t r = s.row(n, t);
            detail::gru_ra_backward_row<T>(H, gates + r * G, hprev_Whn + r * H, hprev.row(n, zeros.data()),
                                           dhs + r * H, dAx.data() + r * G, dAh.data() + r * G, dh.data() + n * H);
          }
        });
      }
      // on to h_{t-1}: + dAh_t Wh^T
      ProfTimer pt(kBwdStepGemm);
      whb.backward(M, dAh.data() + r0 * G, ld, 0, G, T(1), dh.data(), H);
    }
  }
  std::copy(dh.begin(), dh.end(), dh0);
  detail::input_grads(R, D, G, xs, Wx, dAx.data(), dxs, dWx, db);
  if (reset_after) {
    {
      ProfTimer pt(kBwdOther);
      if (db) detail::column_sums(R, G, dAh.data(), G, db + G);
    }
    detail::grad_from_previous_states<T>(s, H, G, h0, hs, dAh.data(), G, dWh, G);
  } else {
    // n multiplies r * h_{t-1} by Whn; z and r multiply h_{t-1} by Wh (this one last: it clears dAx's
    // t = 0 rows in columns [0, 2H))
    {
      ProfTimer pt(kBwdWeightGemm);
      pgemm<T>(true, false, H, H, R, T(1), r_hprev, H, dAx.data() + 2 * H, G, T(0), dWh + 2 * H, G);
    }
    detail::grad_from_previous_states<T>(s, H, 2 * H, h0, hs, dAx.data(), G, dWh, G);
  }
}

}  // namespace pyrnn
