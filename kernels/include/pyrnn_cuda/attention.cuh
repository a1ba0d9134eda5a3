// Seq2seq (the book's) dot-product attention for all decoder steps at once, forward and backward;
// the math of pyrnn/reference/attention.py and cpp/include/pyrnn/attention.hpp:
//   scores = hq hs^T, a = masked softmax over the encoder steps, c = a hs.
// Per batch row the products are GEMMs, run as one cuBLAS strided-batched call each; the softmax
// rows are softmax_rows.cuh's kernels. No atomics: every result is bitwise reproducible.
// hs (N, Te, H) encoder states, hq (N, Td, H) queries, keep (N, Te) bool mask | null (True = attend),
// a (N, Td, Te), c (N, Td, H). Device pointers, C-contiguous; outputs and workspaces allocated by
// the caller.
#pragma once
#include "pyrnn_cuda/blas.cuh"

namespace pyrnn_cuda {

// hs (N,Te,H), hq (N,Td,H), keep (N,Te)|null -> a (N,Td,Te)
template <typename T>
void attention_weights_forward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq,
                               const bool* keep, T* a);

// saved: hs (N,Te,H), hq (N,Td,H), a (N,Td,Te); grad in: da (N,Td,Te)
// -> dhs (N,Te,H), dhq (N,Td,H); workspace ds (N,Td,Te), the score gradient
template <typename T>
void attention_weights_backward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq,
                                const T* a, const T* da, T* dhs, T* dhq, T* ds);

// hs (N,Te,H), a (N,Td,Te) -> c (N,Td,H)
template <typename T>
void weighted_sum_forward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* a, T* c);

// saved: hs (N,Te,H), a (N,Td,Te); grad in: dc (N,Td,H) -> dhs (N,Te,H), da (N,Td,Te)
template <typename T>
void weighted_sum_backward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* a, const T* dc,
                           T* dhs, T* da);

// hs (N,Te,H), hq (N,Td,H), keep (N,Te)|null -> a (N,Td,Te), c (N,Td,H)
template <typename T>
void attention_forward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq, const bool* keep,
                       T* a, T* c);

// saved: hs (N,Te,H), hq (N,Td,H), a (N,Td,Te); grad in: dc (N,Td,H)
// -> dhs (N,Te,H), dhq (N,Td,H); workspace ds (N,Td,Te): da = dc hs^T, then the score gradient in place
template <typename T>
void attention_backward(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq, const T* a,
                        const T* dc, T* dhs, T* dhq, T* ds);

}  // namespace pyrnn_cuda
