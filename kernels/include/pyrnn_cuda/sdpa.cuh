// Scaled dot-product (multi-head) attention, forward and backward; the math of
// pyrnn/reference/attention.py (sdpa_forward/backward):
//   S = q k^T * scale (scale = 1/sqrt(dk)), P = masked softmax over the keys, out = P v;
//   backward dv = P^T dout, dP = dout v^T, dS = P * (dP - rowsum(dP * P)) * scale, dq = dS k, dk = dS^T q.
//
// This version MATERIALISES the (Tq, Tk) score/probability matrix of every head
// (a (N*Hh, Tq, Tk) buffer, kept from forward to backward), computed by cuBLAS strided-batched GEMMs
// and the softmax row kernels of softmax_rows.cuh. Memory grows as Tq * Tk: fast (cuBLAS) for
// small problems; sdpa_stream.cuh is the streaming version for long sequences.
//
// q (N, Hh, Tq, dk), k (N, Hh, Tk, dk), v (N, Hh, Tk, dv), keep (N, Tk) bool | null (True = attend:
// key padding, the same for every head and query), causal: query i sees keys j <= i (Tq == Tk).
// Device pointers, C-contiguous; outputs and workspaces allocated by the caller.
#pragma once
#include <math.h>

#include "pyrnn_cuda/blas.cuh"

namespace pyrnn_cuda {

// the reference's 1 / sqrt(dk) in double, then rounded to T (as NumPy scales a float32 array by a
// Python float); dk = 0 cannot reach here (pyrnn.ops rejects it), 1 keeps it harmless
template <typename T>
inline T score_scale(idx Dk) {
  return Dk ? static_cast<T>(1.0 / sqrt(static_cast<double>(Dk))) : T(1);
}

// q (N,Hh,Tq,Dk), k (N,Hh,Tk,Dk), v (N,Hh,Tk,Dv), keep (N,Tk)|null -> P (N,Hh,Tq,Tk) the attention
// weights (kept for the backward), out (N,Hh,Tq,Dv)
template <typename T>
void sdpa_forward(const Session& s, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, const T* q,
                  const T* k, const T* v, const bool* keep, T* P, T* out);

// saved: q, k, v, P; grad in: dout (N,Hh,Tq,Dv) -> dq (N,Hh,Tq,Dk), dk (N,Hh,Tk,Dk), dv (N,Hh,Tk,Dv);
// workspace dS (N,Hh,Tq,Tk): dout v^T, then the score gradient in place
template <typename T>
void sdpa_backward(const Session& s, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, const T* q, const T* k,
                   const T* v, const T* P, const T* dout, T* dq, T* dk, T* dv, T* dS);

}  // namespace pyrnn_cuda
