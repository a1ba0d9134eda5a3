// Scaled dot-product attention forward and backward (see sdpa.cuh): strided-batched GEMMs over the
// N*Hh heads and the softmax row kernels, with the (Tq, Tk) weights materialised.
#include <math.h>

#include "pyrnn_cuda/sdpa.cuh"
#include "pyrnn_cuda/softmax_rows.cuh"

namespace pyrnn_cuda {

template <typename T>
void sdpa_forward(const Session& s, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, const T* q,
                  const T* k, const T* v, const bool* keep, T* P, T* out) {
  const idx BH = N * Hh;
  // S[b] (Tq, Tk) = scale * q[b] k[b]^T, into P; then the masked softmax over the keys in place
  gemm_strided_batched<T>(s, false, true, Tq, Tk, Dk, score_scale<T>(Dk), q, Dk, Tq * Dk, k, Dk, Tk * Dk, T(0), P,
                          Tk, Tq * Tk, BH);
  // row b*Tq + i is head b = n*Hh + h, query i: key-mask row n = row / (Hh*Tq)
  masked_softmax_rows<T>(s, BH * Tq, Tk, P, keep, Hh * Tq, causal ? Tq : 0);
  // out[b] (Tq, Dv) = P[b] v[b]
  gemm_strided_batched<T>(s, false, false, Tq, Dv, Tk, T(1), P, Tk, Tq * Tk, v, Dv, Tk * Dv, T(0), out, Dv,
                          Tq * Dv, BH);
}

template <typename T>
void sdpa_backward(const Session& s, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, const T* q, const T* k,
                   const T* v, const T* P, const T* dout, T* dq, T* dk, T* dv, T* dS) {
  const idx BH = N * Hh;
  // dv[b] (Tk, Dv) = P[b]^T dout[b];  dP[b] (Tq, Tk) = dout[b] v[b]^T, into dS
  gemm_strided_batched<T>(s, true, false, Tk, Dv, Tq, T(1), P, Tk, Tq * Tk, dout, Dv, Tq * Dv, T(0), dv, Dv,
                          Tk * Dv, BH);
  gemm_strided_batched<T>(s, false, true, Tq, Tk, Dv, T(1), dout, Dv, Tq * Dv, v, Dv, Tk * Dv, T(0), dS, Tk,
                          Tq * Tk, BH);
  // dS = P * (dP - rowsum(dP * P)) * scale, in place (masked entries have P = 0: dS = 0)
  softmax_rows_backward<T>(s, BH * Tq, Tk, P, dS, dS, score_scale<T>(Dk));
  // dq[b] (Tq, Dk) = dS[b] k[b];  dk[b] (Tk, Dk) = dS[b]^T q[b]
  gemm_strided_batched<T>(s, false, false, Tq, Dk, Tk, T(1), dS, Tk, Tq * Tk, k, Dk, Tk * Dk, T(0), dq, Dk,
                          Tq * Dk, BH);
  gemm_strided_batched<T>(s, true, false, Tk, Dk, Tq, T(1), dS, Tk, Tq * Tk, q, Dk, Tq * Dk, T(0), dk, Dk,
                          Tk * Dk, BH);
}

#define PYRNN_INSTANTIATE(T)                                                                                       \
  template void sdpa_forward<T>(const Session&, idx, idx, idx, idx, idx, idx, bool, const T*, const T*, const T*, \
                                const bool*, T*, T*);                                                            \
  template void sdpa_backward<T>(const Session&, idx, idx, idx, idx, idx, idx, const T*, const T*, const T*,      \
                                 const T*, const T*, T*, T*, T*, T*);
PYRNN_INSTANTIATE(float)
PYRNN_INSTANTIATE(double)
#undef PYRNN_INSTANTIATE

}  // namespace pyrnn_cuda
