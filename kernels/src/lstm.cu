// LSTM forward and backward (see lstm.cuh). Per step: one cuBLAS GEMM and one fused kernel.
#include "pyrnn_cuda/activations.cuh"
#include "pyrnn_cuda/check.cuh"
#include "pyrnn_cuda/launch.cuh"
#include "pyrnn_cuda/lstm.cuh"

namespace pyrnn_cuda {

namespace {

template <typename T>
__device__ __forceinline__ T bias(const T* b, idx j) {
  return b ? b[j] : T(0);
}

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
    const T f = sigmoid(an[j] + bias(b, j));
    const T g = tanh_(an[H + j] + bias(b, H + j));
    const T i = sigmoid(an[2 * H + j] + bias(b, 2 * H + j));
    const T o = sigmoid(an[3 * H + j] + bias(b, 3 * H + j));
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

}  // namespace

template <typename T>
void lstm_forward(const Session& s, idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* b,
                  const T* h0, const T* c0, T* hs, T* hT, T* cT, T* gates, T* cs) {
  const idx G = 4 * H;
  const bool train = cs != nullptr;
  if (N == 0) return;
  if (Tn == 0) {  // no step: the state passes through
    copy_rows_or_zero(s, hT, h0, N, H, H);
    return copy_rows_or_zero(s, cT, c0, N, H, H);
  }
  // Input projections of all steps in one GEMM into `gates`; step t adds h_{t-1} Wh into its slice
  // (beta 1) and the fused kernel activates it (in place in training).
  gemm<T>(s, false, false, N * Tn, G, D, T(1), xs, D, Wx, G, T(0), gates, G);
  if (!train) copy_rows_or_zero(s, cT, c0, N, H, H);  // inference keeps only the running c, in cT
  const idx ldg = Tn * G, ld = Tn * H;
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;  // null: h_{-1} = 0, nothing to add
    if (hp) gemm<T>(s, false, false, N, G, H, T(1), hp, t ? ld : H, Wh, G, T(1), gates + t * G, ldg);
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
  }
}

template <typename T>
void lstm_backward(const Session& s, idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh,
                   const T* h0, const T* c0, const T* hs, const T* cs, const T* gates, const T* dhs, const T* dhT,
                   const T* dcT, T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dc0, T* dA, T* hprev) {
  const idx G = 4 * H;
  // dh0 and dc0 double as the running gradients on h_t and c_t: dhT, dcT (or 0) in
  copy_rows_or_zero(s, dh0, dhT, N, H, H);
  copy_rows_or_zero(s, dc0, dcT, N, H, H);
  const idx ldg = Tn * G, ld = Tn * H;
  for (idx t = Tn - 1; N > 0 && t >= 0; --t) {
    const T* cp = t ? cs + (t - 1) * H : c0;
    lstm_backward_step<T><<<grid_for(N * H), kBlock, 0, s.stream()>>>(
        N, H, gates + t * G, ldg, cs + t * H, dhs + t * H, ld, cp, t ? ld : H, dh0, dc0, dA + t * G);
    PYRNN_CUDA_CHECK_LAUNCH("lstm_backward_step");
    // on to h_{t-1}: dh = dA_t Wh^T
    gemm<T>(s, false, true, N, H, G, T(1), dA + t * G, ldg, Wh, G, T(0), dh0, H);
  }
  // Weight and input gradients: one large GEMM each over all N*T rows (K = 0 gives zeros).
  gemm<T>(s, false, true, N * Tn, D, G, T(1), dA, G, Wx, G, T(0), dxs, D);
  gemm<T>(s, true, false, D, G, N * Tn, T(1), xs, D, dA, G, T(0), dWx, G);
  states_before_each_step(s, N, Tn, H, h0, hs, hprev);
  gemm<T>(s, true, false, H, G, N * Tn, T(1), hprev, H, dA, G, T(0), dWh, G);
  if (db) column_sums(s, N * Tn, G, dA, G, db);
}

#define PYRNN_INSTANTIATE(T)                                                                                    \
  template void lstm_forward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, const T*, const T*,       \
                                const T*, const T*, T*, T*, T*, T*, T*);                                          \
  template void lstm_backward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, const T*, const T*,      \
                                 const T*, const T*, const T*, const T*, const T*, const T*, const T*, T*, T*, T*, \
                                 T*, T*, T*, T*, T*);
PYRNN_INSTANTIATE(float)
PYRNN_INSTANTIATE(double)
#undef PYRNN_INSTANTIATE

}  // namespace pyrnn_cuda
