// Scaled dot-product (multi-head) attention, forward and backward; the math of
// pyrnn/reference/attention.py (sdpa_forward/backward):
//   S = q k^T * scale (scale = 1/sqrt(dk)), P = masked softmax over the keys, out = P v;
//   backward dv = P^T dout, dP = dout v^T, dS = P * (dP - rowsum(dP * P)) * scale, dq = dS k, dk = dS^T q.
//
// A simple, correct version: it MATERIALISES the (Tq, Tk) score/probability matrix of every head
// (a (N*Hh, Tq, Tk) buffer, kept from forward to backward), computed by cuBLAS strided-batched GEMMs
// and the softmax row kernels of softmax_rows.cuh. Memory grows as Tq * Tk; a streaming
// (flash-style) kernel that keeps only the row logsumexp is left for a session with a GPU to measure.
//
// q (N, Hh, Tq, dk), k (N, Hh, Tk, dk), v (N, Hh, Tk, dv), keep (N, Tk) bool | null (True = attend:
// key padding, the same for every head and query), causal: query i sees keys j <= i (Tq == Tk).
// Device pointers, C-contiguous; outputs and workspaces allocated by the caller.
#pragma once
#include "pyrnn_cuda/blas.cuh"

namespace pyrnn_cuda {

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
