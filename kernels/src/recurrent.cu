// The recurrent ops (see recurrent.cuh). Per step, RNN and LSTM: one cuBLAS GEMM and one fused kernel;
// GRU reset_before: two GEMMs (z and r first, then (r * h) Whn, which must wait for r) and two fused
// kernels; GRU reset_after: one GEMM for all three gates and one fused kernel.
#include "pyrnn_cuda/core/activations.cuh"
#include "pyrnn_cuda/core/blas.cuh"
#include "pyrnn_cuda/core/check.cuh"
#include "pyrnn_cuda/core/launch.cuh"
#include "pyrnn_cuda/recurrent.cuh"

namespace pyrnn_cuda {

namespace {

template <typename T>
__device__ __forceinline__ T at(const T* p, idx i) {  // p[i], or 0 for a missing bias or state
  return p ? p[i] : T(0);
}

// ---- tanh RNN kernels

// h (N rows, row stride ldh) holds x_t Wx + h_{t-1} Wh; h = tanh(h + b) in place, also into hT (N, H)
// when given (the last step)
template <typename T>
__global__ void rnn_forward_step(idx N, idx H, T* h, idx ldh, const T* b, T* hT) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const T v = tanh_(h[n * ldh + j] + at(b, j));
    h[n * ldh + j] = v;
    if (hT) hT[k] = v;
  }
}

// da_t = (dh + dhs_t) * (1 - h_t^2), tanh' = 1 - tanh^2. h, dhs, da: (N rows, row stride ld);
// dh (N, H): the gradient reaching h_t from step t+1
template <typename T>
__global__ void rnn_backward_step(idx N, idx H, const T* h, const T* dhs, idx ld, const T* dh, T* da) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const idx r = n * ld + j;
    da[r] = (dh[k] + dhs[r]) * (T(1) - h[r] * h[r]);
  }
}

// ---- LSTM kernels

// One step, one thread per (n, j). a (N rows, row stride lda, 4H wide) = x_t Wx + h_{t-1} Wh, the
// pre-activations [f,g,i,o] without bias, replaced by the activated gates when Store; b (4H)|null;
// c_prev (N rows, stride ldcp)|null (zeros); c (N rows, stride ldc) the new cell state, which may be
// c_prev itself (inference: each thread reads its element before writing it); h (N rows, stride ldh);
// hT, cT (N,H)|null: also written there (the last step)
template <typename T, bool Store>
__global__ void lstm_forward_step(idx N, idx H, T* a, idx lda, const T* b, const T* c_prev, idx ldcp, T* c, idx ldc,
                                  T* h, idx ldh, T* hT, T* cT) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    T* an = a + n * lda;
    const T f = sigmoid(an[j] + at(b, j));
    const T g = tanh_(an[H + j] + at(b, H + j));
    const T i = sigmoid(an[2 * H + j] + at(b, 2 * H + j));
    const T o = sigmoid(an[3 * H + j] + at(b, 3 * H + j));
    const T cp = c_prev ? c_prev[n * ldcp + j] : T(0);
    const T cj = f * cp + g * i;  // forget part of the old memory, write the new
    const T hj = o * tanh_(cj);
    c[n * ldc + j] = cj;
    h[n * ldh + j] = hj;
    if (hT) hT[k] = hj;
    if (cT) cT[k] = cj;
    if (Store) an[j] = f, an[H + j] = g, an[2 * H + j] = i, an[3 * H + j] = o;
  }
}

// One reverse step, one thread per (n, j). gates (N rows, stride ldg) activated [f,g,i,o]; c, dhs
// (N rows, stride ldc) c_t and the output gradient of step t; c_prev (N rows, stride ldcp)|null
// (zeros); dh (N,H) gradient reaching h_t from step t+1; dc (N,H) gradient reaching c_t from step t+1,
// replaced by the gradient on c_{t-1}; da (N rows, stride ldg) gradient of the pre-activations
template <typename T>
__global__ void lstm_backward_step(idx N, idx H, const T* gates, idx ldg, const T* c, const T* dhs, idx ldc,
                                   const T* c_prev, idx ldcp, const T* dh, T* dc, T* da) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const T* gn = gates + n * ldg;
    const T f = gn[j], g = gn[H + j], i = gn[2 * H + j], o = gn[3 * H + j];
    const T tc = tanh_(c[n * ldc + j]);  // recomputed: cheaper than saving another (N,T,H) array
    const T dhj = dh[k] + dhs[n * ldc + j];
    const T dcj = dc[k] + dhj * o * (T(1) - tc * tc);
    const T cp = c_prev ? c_prev[n * ldcp + j] : T(0);
    T* dn = da + n * ldg;
    dn[j] = dcj * cp * f * (T(1) - f);  // sigmoid' = s (1 - s), tanh' = 1 - tanh^2
    dn[H + j] = dcj * i * (T(1) - g * g);
    dn[2 * H + j] = dcj * g * i * (T(1) - i);
    dn[3 * H + j] = dhj * tc * o * (T(1) - o);
    dc[k] = dcj * f;  // on to c_{t-1}
  }
}

// ---- GRU kernels

// Every kernel: one step, one thread per (n, j). a (N rows, row stride lda, 3H wide) this step's
// gate pre-activations [z,r,n] (x_t Wx plus what the GEMMs added), replaced by the activated gates;
// bi, br (3H)|null input and recurrent bias; hp (N rows, stride ldp)|null h_{t-1} (null: zeros).

// reset_before, part 1: a[z,r] holds x Wx + h_{t-1} Wh[:, :2H]: z, r, and rh = r * h_{t-1} (N rows,
// stride ldrh), the input of the Whn GEMM
template <typename T>
__global__ void gru_rb_forward_zr(idx N, idx H, T* a, idx lda, const T* bi, const T* hp, idx ldp, T* rh, idx ldrh) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    T* an = a + n * lda;
    const T z = sigmoid(an[j] + at(bi, j));
    const T r = sigmoid(an[H + j] + at(bi, H + j));
    an[j] = z;
    an[H + j] = r;
    rh[n * ldrh + j] = r * at(hp, n * ldp + j);
  }
}

// reset_before, part 2: a[n] holds x Wxn + (r * h_{t-1}) Whn: n, and h (N rows, stride ldh), also
// into hT (N,H) when given (the last step)
template <typename T>
__global__ void gru_rb_forward_n(idx N, idx H, T* a, idx lda, const T* bi, const T* hp, idx ldp, T* h, idx ldh,
                                 T* hT) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    T* an = a + n * lda;
    const T z = an[j];
    const T nn = tanh_(an[2 * H + j] + at(bi, 2 * H + j));
    an[2 * H + j] = nn;
    const T hj = (T(1) - z) * at(hp, n * ldp + j) + z * nn;
    h[n * ldh + j] = hj;
    if (hT) hT[k] = hj;
  }
}

// reset_after, everything in one pass. a holds x Wx; gh (N,3H)|null h_{t-1} Wh (null when h_{t-1}
// = 0); hn (N rows, stride ldhn)|null receives h_{t-1} Whn + b1n for the backward (training);
// h (N rows, stride ldh), hT (N,H)|null as above
template <typename T>
__global__ void gru_ra_forward(idx N, idx H, T* a, idx lda, const T* gh, const T* bi, const T* br, const T* hp,
                               idx ldp, T* hn, idx ldhn, T* h, idx ldh, T* hT) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    T* an = a + n * lda;
    const idx g = n * 3 * H;  // gh's row
    const T z = sigmoid(an[j] + at(gh, g + j) + (at(bi, j) + at(br, j)));
    const T r = sigmoid(an[H + j] + at(gh, g + H + j) + (at(bi, H + j) + at(br, H + j)));
    const T hnj = at(gh, g + 2 * H + j) + at(br, 2 * H + j);
    const T nn = tanh_(an[2 * H + j] + at(bi, 2 * H + j) + r * hnj);  // r scales the recurrent part
    an[j] = z, an[H + j] = r, an[2 * H + j] = nn;
    if (hn) hn[n * ldhn + j] = hnj;
    const T hj = (T(1) - z) * at(hp, n * ldp + j) + z * nn;
    h[n * ldh + j] = hj;
    if (hT) hT[k] = hj;
  }
}

// Backward kernels. a (N rows, stride lda) activated [z,r,n]; hp as above; dhs (N rows, stride ldd)
// the output gradient of step t; dh (N,H) the gradient reaching h_t from step t+1, updated;
// d, dx, dr (N rows, stride lda) gradients of the pre-activations.

// reset_before, part 1: dz, dn, and dh := the total gradient on h_t (kept for part 2)
template <typename T>
__global__ void gru_rb_backward_zn(idx N, idx H, const T* a, idx lda, const T* hp, idx ldp, const T* dhs, idx ldd,
                                   T* d, T* dh) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const T* an = a + n * lda;
    T* dn = d + n * lda;
    const T z = an[j], nn = an[2 * H + j];
    const T dht = dh[k] + dhs[n * ldd + j];
    dn[j] = dht * (nn - at(hp, n * ldp + j)) * z * (T(1) - z);
    dn[2 * H + j] = dht * z * (T(1) - nn * nn);
    dh[k] = dht;
  }
}

// reset_before, part 2: drh (N,H) = dn Whn^T, the gradient of r * h_{t-1}: dr, and dh := the part of
// the gradient on h_{t-1} that does not pass through Wh[:, :2H] (the GEMM after adds that)
template <typename T>
__global__ void gru_rb_backward_r(idx N, idx H, const T* a, idx lda, const T* hp, idx ldp, const T* drh, T* d, T* dh) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const T* an = a + n * lda;
    const T z = an[j], rr = an[H + j];
    d[n * lda + H + j] = drh[k] * at(hp, n * ldp + j) * rr * (T(1) - rr);
    dh[k] = dh[k] * (T(1) - z) + drh[k] * rr;
  }
}

// reset_after: hn (N rows, stride ldhn) the saved h_{t-1} Whn + b1n; dx gradient of x Wx + b0, dr of
// h Wh + b1 (they differ in the n block: r scales it); dh := dht (1 - z) (the GEMM after adds dr Wh^T)
template <typename T>
__global__ void gru_ra_backward(idx N, idx H, const T* a, idx lda, const T* hn, idx ldhn, const T* hp, idx ldp,
                                const T* dhs, idx ldd, T* dx, T* dr, T* dh) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const T* an = a + n * lda;
    const T z = an[j], rr = an[H + j], nn = an[2 * H + j];
    const T dht = dh[k] + dhs[n * ldd + j];
    const T daz = dht * (nn - at(hp, n * ldp + j)) * z * (T(1) - z);
    const T dan = dht * z * (T(1) - nn * nn);
    const T dar = dan * hn[n * ldhn + j] * rr * (T(1) - rr);
    T* xn = dx + n * lda;
    T* rn = dr + n * lda;
    xn[j] = daz, xn[H + j] = dar, xn[2 * H + j] = dan;
    rn[j] = daz, rn[H + j] = dar, rn[2 * H + j] = dan * rr;  // n sees h only through r
    dh[k] = dht * (T(1) - z);
  }
}

// ---- the time loops of the RNN and the LSTM, and the gradients after every backward's loop

// Forward: the input projections of all steps in one GEMM, a (N, T, G) = xs Wx; then per step the
// recurrent GEMM adds h_{t-1} Wh into a's step-t slice (beta 1; none at t = 0 without h0: h_{-1} = 0)
// and step(t) activates it with one fused kernel, which writes hs[:, t], the next step's h_{t-1}.
template <typename T, typename Step>
void forward_steps(const Session& s, idx N, idx Tn, idx D, idx H, idx G, const T* xs, const T* Wx, const T* Wh,
                   const T* h0, const T* hs, T* a, Step step) {
  gemm<T>(s, false, false, N * Tn, G, D, T(1), xs, D, Wx, G, T(0), a, G);
  const idx lda = Tn * G, ld = Tn * H;
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;  // null: h_{-1} = 0, nothing to add
    if (hp) gemm<T>(s, false, false, N, G, H, T(1), hp, t ? ld : H, Wh, G, T(1), a + t * G, lda);
    step(t);
  }
}

// Backward, from the last step to the first: step(t) writes dA (N, T, G)'s step-t slice, the gradient
// of the step's pre-activations, from dh (N, H), the gradient reaching h_t from step t+1; then
// dh = dA_t Wh^T, on to h_{t-1}.
template <typename T, typename Step>
void backward_steps(const Session& s, idx N, idx Tn, idx H, idx G, const T* Wh, const T* dA, T* dh, Step step) {
  for (idx t = Tn - 1; N > 0 && t >= 0; --t) {
    step(t);
    gemm<T>(s, false, true, N, H, G, T(1), dA + t * G, Tn * G, Wh, G, T(0), dh, H);
  }
}

// dA (rows, G), the gradients of every step's x_t Wx + b -> dxs (rows, D) = dA Wx^T, dWx (D, G) =
// xs^T dA: one GEMM each over all N*T rows (K = 0 gives zeros)
template <typename T>
void input_grads(const Session& s, idx rows, idx D, idx G, const T* xs, const T* Wx, const T* dA, T* dxs, T* dWx) {
  gemm<T>(s, false, true, rows, D, G, T(1), dA, G, Wx, G, T(0), dxs, D);
  gemm<T>(s, true, false, D, G, rows, T(1), xs, D, dA, G, T(0), dWx, G);
}

// RNN and LSTM, where dA (N, T, G) is also the gradient of h_{t-1} Wh: input_grads, dWh (H, G) =
// hprev^T dA (hprev (N, T, H) the state each step started from, a workspace) and db (G)|null = the
// column sums of dA
template <typename T>
void input_and_weight_grads(const Session& s, idx N, idx Tn, idx D, idx H, idx G, const T* xs, const T* Wx,
                            const T* h0, const T* hs, const T* dA, T* dxs, T* dWx, T* dWh, T* db, T* hprev) {
  input_grads(s, N * Tn, D, G, xs, Wx, dA, dxs, dWx);
  states_before_each_step(s, N, Tn, H, h0, hs, hprev);
  gemm<T>(s, true, false, H, G, N * Tn, T(1), hprev, H, dA, G, T(0), dWh, G);
  if (db) column_sums(s, N * Tn, G, dA, G, db);
}

}  // namespace

// ---- tanh RNN

template <typename T>
void rnn_forward(const Session& s, const RnnForwardArgs<T>& args) {
  const idx N = args.N, Tn = args.T, H = args.H;
  T* hs = args.hs;
  if (N == 0) return;
  if (Tn == 0) return copy_rows_or_zero(s, args.hT, args.h0, N, H, H);
  // The pre-activations go into hs itself: step t adds h_{t-1} Wh into hs[:, t] after hs[:, t-1] is final.
  const idx ld = Tn * H;
  forward_steps(s, N, Tn, args.D, H, H, args.xs, args.Wx, args.Wh, args.h0, hs, hs, [&](idx t) {
    rnn_forward_step<T><<<grid_for(N * H), kBlock, 0, s.stream()>>>(N, H, hs + t * H, ld, args.b,
                                                                    t == Tn - 1 ? args.hT : nullptr);
    PYRNN_CUDA_CHECK_LAUNCH("rnn_forward_step");
  });
}

template <typename T>
void rnn_backward(const Session& s, const RnnBackwardArgs<T>& args) {
  const idx N = args.N, Tn = args.T, H = args.H;
  T *dh0 = args.dh0, *dA = args.dA;
  // dh0 doubles as the running gradient on h_t: dhT (or 0) in, overwritten by each step's GEMM
  copy_rows_or_zero(s, dh0, args.dhT, N, H, H);
  const idx ld = Tn * H;
  backward_steps(s, N, Tn, H, H, args.Wh, dA, dh0, [&](idx t) {
    rnn_backward_step<T><<<grid_for(N * H), kBlock, 0, s.stream()>>>(N, H, args.hs + t * H, args.dhs + t * H, ld,
                                                                     dh0, dA + t * H);
    PYRNN_CUDA_CHECK_LAUNCH("rnn_backward_step");
  });
  input_and_weight_grads(s, N, Tn, args.D, H, H, args.xs, args.Wx, args.h0, args.hs, dA, args.dxs, args.dWx,
                         args.dWh, args.db, args.hprev);
}

// ---- LSTM

template <typename T>
void lstm_forward(const Session& s, const LstmForwardArgs<T>& args) {
  const idx N = args.N, Tn = args.T, H = args.H;
  const idx G = 4 * H;
  const T *b = args.b, *c0 = args.c0;
  T *hs = args.hs, *hT = args.hT, *cT = args.cT, *gates = args.gates, *cs = args.cs;
  const bool train = cs != nullptr;
  if (N == 0) return;
  if (Tn == 0) {  // no step: the state passes through
    copy_rows_or_zero(s, hT, args.h0, N, H, H);
    return copy_rows_or_zero(s, cT, c0, N, H, H);
  }
  if (!train) copy_rows_or_zero(s, cT, c0, N, H, H);  // inference keeps only the running c, in cT
  // The pre-activations go into `gates`, which the fused kernel activates in place in training.
  const idx ldg = Tn * G, ld = Tn * H;
  forward_steps(s, N, Tn, args.D, H, G, args.xs, args.Wx, args.Wh, args.h0, hs, gates, [&](idx t) {
    const bool last = t == Tn - 1;
    if (train) {
      const T* cp = t ? cs + (t - 1) * H : c0;
      lstm_forward_step<T, true><<<grid_for(N * H), kBlock, 0, s.stream()>>>(
          N, H, gates + t * G, ldg, b, cp, t ? ld : H, cs + t * H, ld, hs + t * H, ld, last ? hT : nullptr,
          last ? cT : nullptr);
    } else {
      lstm_forward_step<T, false><<<grid_for(N * H), kBlock, 0, s.stream()>>>(
          N, H, gates + t * G, ldg, b, cT, H, cT, H, hs + t * H, ld, last ? hT : nullptr, nullptr);
    }
    PYRNN_CUDA_CHECK_LAUNCH("lstm_forward_step");
  });
}

template <typename T>
void lstm_backward(const Session& s, const LstmBackwardArgs<T>& args) {
  const idx N = args.N, Tn = args.T, H = args.H;
  const idx G = 4 * H;
  const T *cs = args.cs, *c0 = args.c0;
  T *dh0 = args.dh0, *dc0 = args.dc0, *dA = args.dA;
  // dh0 and dc0 double as the running gradients on h_t and c_t: dhT, dcT (or 0) in
  copy_rows_or_zero(s, dh0, args.dhT, N, H, H);
  copy_rows_or_zero(s, dc0, args.dcT, N, H, H);
  const idx ldg = Tn * G, ld = Tn * H;
  backward_steps(s, N, Tn, H, G, args.Wh, dA, dh0, [&](idx t) {
    const T* cp = t ? cs + (t - 1) * H : c0;
    lstm_backward_step<T><<<grid_for(N * H), kBlock, 0, s.stream()>>>(
        N, H, args.gates + t * G, ldg, cs + t * H, args.dhs + t * H, ld, cp, t ? ld : H, dh0, dc0, dA + t * G);
    PYRNN_CUDA_CHECK_LAUNCH("lstm_backward_step");
  });
  input_and_weight_grads(s, N, Tn, args.D, H, G, args.xs, args.Wx, args.h0, args.hs, dA, args.dxs, args.dWx,
                         args.dWh, args.db, args.hprev);
}

// ---- GRU

template <typename T>
void gru_forward(const Session& s, const GruForwardArgs<T>& args) {
  const idx N = args.N, Tn = args.T, D = args.D, H = args.H;
  const idx G = 3 * H;
  const bool reset_after = args.reset_after;
  const T *Wh = args.Wh, *b = args.b, *h0 = args.h0;
  T *hs = args.hs, *gates = args.gates, *extra = args.extra, *scratch = args.scratch;
  const bool train = extra != nullptr;
  if (N == 0) return;
  if (Tn == 0) return copy_rows_or_zero(s, args.hT, h0, N, H, H);  // no step: the state passes through
  const T* bi = b;
  const T* br = (b && reset_after) ? b + G : nullptr;
  // Input projections of all steps in one GEMM into `gates`, activated in place per step.
  gemm<T>(s, false, false, N * Tn, G, D, T(1), args.xs, D, args.Wx, G, T(0), gates, G);
  const idx ldg = Tn * G, ld = Tn * H;
  const unsigned grid = grid_for(N * H);
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;  // null: h_{-1} = 0, nothing to add
    const idx ldp = t ? ld : H;
    T* a = gates + t * G;
    T* hT_ = t == Tn - 1 ? args.hT : nullptr;
    if (!reset_after) {
      // z and r first (they need only h); then r * h meets Whn, a second GEMM that must wait for r
      if (hp) gemm<T>(s, false, false, N, 2 * H, H, T(1), hp, ldp, Wh, G, T(1), a, ldg);
      T* rh = train ? extra + t * H : scratch;
      const idx ldrh = train ? ld : H;
      gru_rb_forward_zr<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, bi, hp, ldp, rh, ldrh);
      PYRNN_CUDA_CHECK_LAUNCH("gru_rb_forward_zr");
      if (hp) gemm<T>(s, false, false, N, H, H, T(1), rh, ldrh, Wh + 2 * H, G, T(1), a + 2 * H, ldg);
      gru_rb_forward_n<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, bi, hp, ldp, hs + t * H, ld, hT_);
      PYRNN_CUDA_CHECK_LAUNCH("gru_rb_forward_n");
    } else {
      // one recurrent GEMM for all three gates, into scratch: r scales its n part afterwards
      if (hp) gemm<T>(s, false, false, N, G, H, T(1), hp, ldp, Wh, G, T(0), scratch, G);
      gru_ra_forward<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, hp ? scratch : nullptr, bi, br, hp, ldp,
                                                         train ? extra + t * H : nullptr, ld, hs + t * H, ld, hT_);
      PYRNN_CUDA_CHECK_LAUNCH("gru_ra_forward");
    }
  }
}

template <typename T>
void gru_backward(const Session& s, const GruBackwardArgs<T>& args) {
  const idx N = args.N, Tn = args.T, D = args.D, H = args.H;
  const idx G = 3 * H;
  const bool reset_after = args.reset_after;
  const T *Wh = args.Wh, *h0 = args.h0, *hs = args.hs, *extra = args.extra, *dhs = args.dhs;
  T *dWh = args.dWh, *db = args.db, *dh0 = args.dh0, *dAx = args.dAx, *dAh = args.dAh, *drh = args.drh,
    *hprev = args.hprev;
  copy_rows_or_zero(s, dh0, args.dhT, N, H, H);  // dh0 doubles as the running gradient on h_t
  const idx ldg = Tn * G, ld = Tn * H;
  const unsigned grid = grid_for(N * H);
  for (idx t = Tn - 1; N > 0 && t >= 0; --t) {
    const T* hp = t ? hs + (t - 1) * H : h0;
    const idx ldp = t ? ld : H;
    const T* a = args.gates + t * G;
    if (!reset_after) {
      gru_rb_backward_zn<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, hp, ldp, dhs + t * H, ld, dAx + t * G,
                                                             dh0);
      PYRNN_CUDA_CHECK_LAUNCH("gru_rb_backward_zn");
      // gradient of r * h_{t-1}: drh = dn Whn^T
      gemm<T>(s, false, true, N, H, H, T(1), dAx + t * G + 2 * H, ldg, Wh + 2 * H, G, T(0), drh, H);
      gru_rb_backward_r<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, hp, ldp, drh, dAx + t * G, dh0);
      PYRNN_CUDA_CHECK_LAUNCH("gru_rb_backward_r");
      // on to h_{t-1}: + [dz, dr] Wh[:, :2H]^T
      gemm<T>(s, false, true, N, H, 2 * H, T(1), dAx + t * G, ldg, Wh, G, T(1), dh0, H);
    } else {
      gru_ra_backward<T><<<grid, kBlock, 0, s.stream()>>>(N, H, a, ldg, extra + t * H, ld, hp, ldp, dhs + t * H, ld,
                                                          dAx + t * G, dAh + t * G, dh0);
      PYRNN_CUDA_CHECK_LAUNCH("gru_ra_backward");
      // on to h_{t-1}: + dAh_t Wh^T
      gemm<T>(s, false, true, N, H, G, T(1), dAh + t * G, ldg, Wh, G, T(1), dh0, H);
    }
  }
  input_grads(s, N * Tn, D, G, args.xs, args.Wx, dAx, args.dxs, args.dWx);
  states_before_each_step(s, N, Tn, H, h0, hs, hprev);
  if (reset_after) {
    gemm<T>(s, true, false, H, G, N * Tn, T(1), hprev, H, dAh, G, T(0), dWh, G);
  } else {
    // z and r multiply h_{t-1} by Wh; n multiplies r * h_{t-1} (saved as `extra`) by Whn
    gemm<T>(s, true, false, H, 2 * H, N * Tn, T(1), hprev, H, dAx, G, T(0), dWh, G);
    gemm<T>(s, true, false, H, H, N * Tn, T(1), extra, H, dAx + 2 * H, G, T(0), dWh + 2 * H, G);
  }
  if (db) {
    column_sums(s, N * Tn, G, dAx, G, db);
    if (reset_after) column_sums(s, N * Tn, G, dAh, G, db + G);
  }
}

PYRNN_CUDA_INSTANTIATE(rnn_forward, RnnForwardArgs)
PYRNN_CUDA_INSTANTIATE(rnn_backward, RnnBackwardArgs)
PYRNN_CUDA_INSTANTIATE(lstm_forward, LstmForwardArgs)
PYRNN_CUDA_INSTANTIATE(lstm_backward, LstmBackwardArgs)
PYRNN_CUDA_INSTANTIATE(gru_forward, GruForwardArgs)
PYRNN_CUDA_INSTANTIATE(gru_backward, GruBackwardArgs)

}  // namespace pyrnn_cuda
