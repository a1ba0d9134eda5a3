// Seq2seq attention forward and backward (see attention.cuh): strided-batched GEMMs, one per
// product over all N batch rows, and the softmax row kernels.
#include "pyrnn_cuda/attention.cuh"
#include "pyrnn_cuda/softmax_rows.cuh"

namespace pyrnn_cuda {

template <typename T>
void attention_weights_forward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq,
                               const bool* keep, T* a) {
  // scores[n] (Td, Te) = hq[n] (Td, H) hs[n]^T, into a; then the softmax over Te in place
  gemm_strided_batched<T>(s, false, true, Td, Te, H, T(1), hq, H, Td * H, hs, H, Te * H, T(0), a, Te, Td * Te, N);
  masked_softmax_rows<T>(s, N * Td, Te, a, keep, Td, 0);  // row n*Td + t uses mask row n
}

template <typename T>
void attention_weights_backward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq,
                                const T* a, const T* da, T* dhs, T* dhq, T* ds) {
  softmax_rows_backward<T>(s, N * Td, Te, a, da, ds, T(1));
  // dhs[n] (Te, H) = ds[n]^T hq[n];  dhq[n] (Td, H) = ds[n] hs[n]
  gemm_strided_batched<T>(s, true, false, Te, H, Td, T(1), ds, Te, Td * Te, hq, H, Td * H, T(0), dhs, H, Te * H, N);
  gemm_strided_batched<T>(s, false, false, Td, H, Te, T(1), ds, Te, Td * Te, hs, H, Te * H, T(0), dhq, H, Td * H, N);
}

template <typename T>
void weighted_sum_forward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* a, T* c) {
  // c[n] (Td, H) = a[n] (Td, Te) hs[n] (Te, H)
  gemm_strided_batched<T>(s, false, false, Td, H, Te, T(1), a, Te, Td * Te, hs, H, Te * H, T(0), c, H, Td * H, N);
}

template <typename T>
void weighted_sum_backward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* a, const T* dc,
                           T* dhs, T* da) {
  // dhs[n] (Te, H) = a[n]^T dc[n];  da[n] (Td, Te) = dc[n] hs[n]^T
  gemm_strided_batched<T>(s, true, false, Te, H, Td, T(1), a, Te, Td * Te, dc, H, Td * H, T(0), dhs, H, Te * H, N);
  gemm_strided_batched<T>(s, false, true, Td, Te, H, T(1), dc, H, Td * H, hs, H, Te * H, T(0), da, Te, Td * Te, N);
}

template <typename T>
void attention_forward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq, const bool* keep,
                       T* a, T* c) {
  attention_weights_forward<T>(s, N, Te, Td, H, hs, hq, keep, a);
  weighted_sum_forward<T>(s, N, Te, Td, H, hs, a, c);
}

template <typename T>
void attention_backward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq, const T* a,
                        const T* dc, T* dhs, T* dhq, T* ds) {
  // da = dc hs^T into ds, then ds = a * (da - rowsum(a * da)) in place
  gemm_strided_batched<T>(s, false, true, Td, Te, H, T(1), dc, H, Td * H, hs, H, Te * H, T(0), ds, Te, Td * Te, N);
  softmax_rows_backward<T>(s, N * Td, Te, a, ds, ds, T(1));
  // hs feeds both the weighted sum and the scores: dhs = a^T dc + ds^T hq (the second GEMM adds, beta 1)
  gemm_strided_batched<T>(s, true, false, Te, H, Td, T(1), a, Te, Td * Te, dc, H, Td * H, T(0), dhs, H, Te * H, N);
  gemm_strided_batched<T>(s, true, false, Te, H, Td, T(1), ds, Te, Td * Te, hq, H, Td * H, T(1), dhs, H, Te * H, N);
  gemm_strided_batched<T>(s, false, false, Td, H, Te, T(1), ds, Te, Td * Te, hs, H, Te * H, T(0), dhq, H, Td * H, N);
}

#define PYRNN_INSTANTIATE(T)                                                                                        \
  template void attention_weights_forward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, const bool*,   \
                                             T*);                                                                 \
  template void attention_weights_backward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, const T*,     \
                                              const T*, T*, T*, T*);                                              \
  template void weighted_sum_forward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, T*);                \
  template void weighted_sum_backward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, const T*, T*, T*); \
  template void attention_forward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, const bool*, T*, T*);  \
  template void attention_backward<T>(const Session&, idx, idx, idx, idx, const T*, const T*, const T*, const T*,   \
                                      T*, T*, T*);
PYRNN_INSTANTIATE(float)
PYRNN_INSTANTIATE(double)
#undef PYRNN_INSTANTIATE

}  // namespace pyrnn_cuda
