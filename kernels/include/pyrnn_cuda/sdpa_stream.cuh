// Scaled dot-product attention, streaming (memory-efficient) version: the math of sdpa.cuh without
// any (Tq, Tk) buffer. The forward runs an online softmax over the keys (a running max m and sum l
// per query row, the partial output rescaled by exp(m_old - m_new) as the max grows) and keeps only
// the output and each row's logsumexp lse = m + log(l); the backward recomputes the weights from it:
//   S_ij = scale q_i.k_j, P_ij = exp(S_ij - lse_i), D_i = dout_i.out_i, dS_ij = P_ij (dout_i.v_j - D_i) scale,
//   dq_i = sum_j dS_ij k_j (query-major kernel), dk_j = sum_i dS_ij q_i and dv_j = sum_i P_ij dout_i
//   (key-major kernel). Every sum runs in a fixed order (no atomics): bitwise the same on every run.
// A row with every key masked gets lse = +inf, zero output and zero gradients.
//
// Simple, not fast: one thread block per query (or key) row re-reads K and V (or Q and dout) from
// global memory; extra memory is O(N*Hh*Tq) instead of O(N*Hh*Tq*Tk). Layouts and masks as sdpa.cuh.
#pragma once
#include "pyrnn_cuda/sdpa.cuh"

namespace pyrnn_cuda {

// q (N,Hh,Tq,Dk), k (N,Hh,Tk,Dk), v (N,Hh,Tk,Dv), keep (N,Tk)|null -> out (N,Hh,Tq,Dv), lse (N,Hh,Tq)
template <typename T>
void sdpa_stream_forward(const Session& s, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, const T* q,
                         const T* k, const T* v, const bool* keep, T* out, T* lse);

// saved: q, k, v, keep, out, lse; grad in: dout (N,Hh,Tq,Dv) -> dq (N,Hh,Tq,Dk), dk (N,Hh,Tk,Dk),
// dv (N,Hh,Tk,Dv); workspace D (N,Hh,Tq): rowsum(dout * out)
template <typename T>
void sdpa_stream_backward(const Session& s, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, const T* q,
                          const T* k, const T* v, const bool* keep, const T* out, const T* lse, const T* dout, T* dq,
                          T* dk, T* dv, T* D);

}  // namespace pyrnn_cuda
