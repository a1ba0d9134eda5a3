// tanh RNN forward and backward (see rnn.cuh). Per step: one cuBLAS GEMM and one fused kernel.
#include "pyrnn_cuda/activations.cuh"
#include "pyrnn_cuda/check.cuh"
#include "pyrnn_cuda/launch.cuh"
#include "pyrnn_cuda/rnn.cuh"

namespace pyrnn_cuda {

namespace {

// h (N rows, row stride ldh) holds x_t Wx + h_{t-1} Wh; h = tanh(h + b) in place, also into hT (N, H)
// when given (the last step)
template <typename T>
__global__ void rnn_forward_step(idx N, idx H, T* h, idx ldh, const T* b, T* hT) {
  PYRNN_GRID_STRIDE_LOOP(k, N * H) {
    const idx n = k / H, j = k - n * H;
    const T v = tanh_(h[n * ldh + j] + (b ? b[j] : T(0)));
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

}  // namespace

template <typename T>
void rnn_forward(const Session& s, idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* b,
                 const T* h0, T* hs, T* hT) {
  if (N == 0) return;
  if (Tn == 0) return copy_rows_or_zero(s, hT, h0, N, H, H);
  // All input projections at once, written into hs itself: step t adds h_{t-1} Wh into hs[:, t]
  // (beta 1) after hs[:, t-1] is final.
  gemm<T>(s, false, false, N * Tn, H, D, T(1), xs, D, Wx, H, T(0), hs, H);
  const idx ld = Tn * H;
  for (idx t = 0; t < Tn; ++t) {
    const T* hp = t ? hs + (t - 1) * H : h0;  // null: h_{-1} = 0, nothing to add
    if (hp) gemm<T>(s, false, false, N, H, H, T(1), hp, t ? ld : H, Wh, H, T(1), hs + t * H, ld);
    rnn_forward_step<T><<<grid_for(N * H), kBlock, 0, s.stream()>>>(N, H, hs + t * H, ld, b,
                                                                    t == Tn - 1 ? hT : nullptr);
    PYRNN_CUDA_CHECK_LAUNCH("rnn_forward_step");
  }
}

template <typename T>
void rnn_backward(const Session& s, idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* h0,
                  const T* hs, const T* dhs, const T* dhT, T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dA, T* hprev) {
  // dh0 doubles as the running gradient on h_t: dhT (or 0) in, overwritten by each step's GEMM
  copy_rows_or_zero(s, dh0, dhT, N, H, H);
  const idx ld = Tn * H;
  for (idx t = Tn - 1; N > 0 && t >= 0; --t) {
    rnn_backward_step<T><<<grid_for(N * H), kBlock, 0, s.stream()>>>(N, H, hs + t * H, dhs + t * H, ld, dh0,
                                                                     dA + t * H);
    PYRNN_CUDA_CHECK_LAUNCH("rnn_backward_step");
    // on to h_{t-1}: dh = dA_t Wh^T
    gemm<T>(s, false, true, N, H, H, T(1), dA + t * H, ld, Wh, H, T(0), dh0, H);
  }
  // Weight and input gradients: one large GEMM each over all N*T rows (K = 0 gives zeros).
  gemm<T>(s, false, true, N * Tn, D, H, T(1), dA, H, Wx, H, T(0), dxs, D);
  gemm<T>(s, true, false, D, H, N * Tn, T(1), xs, D, dA, H, T(0), dWx, H);
  states_before_each_step(s, N, Tn, H, h0, hs, hprev);
  gemm<T>(s, true, false, H, H, N * Tn, T(1), hprev, H, dA, H, T(0), dWh, H);
  if (db) column_sums(s, N * Tn, H, dA, H, db);
}

#define PYRNN_INSTANTIATE(T)                                                                                   \
  template void rnn_forward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, const T*, const T*, const T*, \
                               T*, T*);                                                                          \
  template void rnn_backward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, const T*, const T*,      \
                                const T*, const T*, const T*, T*, T*, T*, T*, T*, T*, T*);
PYRNN_INSTANTIATE(float)
PYRNN_INSTANTIATE(double)
#undef PYRNN_INSTANTIATE

}  // namespace pyrnn_cuda
