// The attention ops on the GPU, forward and backward; the math of pyrnn/reference/attention.py and
// cpp/include/pyrnn/attention.hpp. Device pointers, C-contiguous; outputs and workspaces allocated by
// the caller; an absent mask is null. Each op's arguments: core/op.cuh.
//
// Seq2seq (the book's) dot-product attention for all decoder steps at once:
//   scores = hq hs^T, a = masked softmax over the encoder steps, c = a hs.
// Per batch row the products are GEMMs, run as one cuBLAS strided-batched call each; the softmax
// rows are core/softmax_rows.cuh's kernels. No atomics: every result is bitwise reproducible.
// hs (N, Te, H) encoder states, hq (N, Td, H) queries, mask (N, Te) bool | null (True = attend),
// a (N, Td, Te), c (N, Td, H).
//
// Scaled dot-product (multi-head) attention (sdpa):
//   S = q k^T * scale (scale = 1/sqrt(dk)), P = masked softmax over the keys, out = P v;
//   backward dv = P^T dout, dP = dout v^T, dS = P * (dP - rowsum(dP * P)) * scale, dq = dS k, dk = dS^T q.
// q (N, Hh, Tq, dk), k (N, Hh, Tk, dk), v (N, Hh, Tk, dv), mask (N, Tk) bool | null (True = attend:
// key padding, the same for every head and query), causal: query i sees keys j <= i (Tq == Tk).
// Two versions:
// - sdpa_forward/backward MATERIALISE the (Tq, Tk) score/probability matrix of every head (a
//   (N*Hh, Tq, Tk) buffer, kept from forward to backward), computed by cuBLAS strided-batched GEMMs
//   and the softmax row kernels. Memory grows as Tq * Tk: fast (cuBLAS) for small problems.
// - sdpa_stream_forward/backward keep no (Tq, Tk) buffer. The forward runs an online softmax over the
//   keys (a running max m and sum l per query row, the partial output rescaled by exp(m_old - m_new)
//   as the max grows) and keeps only the output and each row's logsumexp lse = m + log(l); the
//   backward recomputes the weights from it:
//     S_ij = scale q_i.k_j, P_ij = exp(S_ij - lse_i), D_i = dout_i.out_i, dS_ij = P_ij (dout_i.v_j - D_i) scale,
//     dq_i = sum_j dS_ij k_j (query-major kernel), dk_j = sum_i dS_ij q_i and dv_j = sum_i P_ij dout_i
//     (key-major kernel). Every sum runs in a fixed order (no atomics): bitwise the same on every run.
//   A row with every key masked gets lse = +inf, zero output and zero gradients. Simple, not fast: one
//   thread block per query (or key) row re-reads K and V (or Q and dout) from global memory; extra
//   memory is O(N*Hh*Tq) instead of O(N*Hh*Tq*Tk).
#pragma once
#include "pyrnn_cuda/core/op.cuh"

namespace pyrnn_cuda {

// ---- seq2seq attention ----

// hs (N,Te,H), hq (N,Td,H), mask (N,Te)|null -> a (N,Td,Te)
#define PYRNN_CUDA_ATTENTION_WEIGHTS_FORWARD_ARGS(X) \
  X(size, N) X(size, Te) X(size, Td) X(size, H)      \
  X(in, hs) X(in, hq) X(in_mask, mask)               \
  X(out, a)
PYRNN_CUDA_DECLARE_OP(attention_weights_forward, AttentionWeightsForwardArgs,
                      PYRNN_CUDA_ATTENTION_WEIGHTS_FORWARD_ARGS);

// saved: hs (N,Te,H), hq (N,Td,H), a (N,Td,Te); grad in: da (N,Td,Te)
// -> dhs (N,Te,H), dhq (N,Td,H); workspace ds (N,Td,Te), the score gradient
#define PYRNN_CUDA_ATTENTION_WEIGHTS_BACKWARD_ARGS(X) \
  X(size, N) X(size, Te) X(size, Td) X(size, H)       \
  X(in, hs) X(in, hq) X(in, a) X(in, da)              \
  X(out, dhs) X(out, dhq) X(out, ds)
PYRNN_CUDA_DECLARE_OP(attention_weights_backward, AttentionWeightsBackwardArgs,
                      PYRNN_CUDA_ATTENTION_WEIGHTS_BACKWARD_ARGS);

// hs (N,Te,H), a (N,Td,Te) -> c (N,Td,H)
#define PYRNN_CUDA_WEIGHTED_SUM_FORWARD_ARGS(X) \
  X(size, N) X(size, Te) X(size, Td) X(size, H) \
  X(in, hs) X(in, a)                            \
  X(out, c)
PYRNN_CUDA_DECLARE_OP(weighted_sum_forward, WeightedSumForwardArgs, PYRNN_CUDA_WEIGHTED_SUM_FORWARD_ARGS);

// saved: hs (N,Te,H), a (N,Td,Te); grad in: dc (N,Td,H) -> dhs (N,Te,H), da (N,Td,Te)
#define PYRNN_CUDA_WEIGHTED_SUM_BACKWARD_ARGS(X) \
  X(size, N) X(size, Te) X(size, Td) X(size, H)  \
  X(in, hs) X(in, a) X(in, dc)                   \
  X(out, dhs) X(out, da)
PYRNN_CUDA_DECLARE_OP(weighted_sum_backward, WeightedSumBackwardArgs, PYRNN_CUDA_WEIGHTED_SUM_BACKWARD_ARGS);

// hs (N,Te,H), hq (N,Td,H), mask (N,Te)|null -> a (N,Td,Te), c (N,Td,H)
#define PYRNN_CUDA_ATTENTION_FORWARD_ARGS(X)    \
  X(size, N) X(size, Te) X(size, Td) X(size, H) \
  X(in, hs) X(in, hq) X(in_mask, mask)          \
  X(out, a) X(out, c)
PYRNN_CUDA_DECLARE_OP(attention_forward, AttentionForwardArgs, PYRNN_CUDA_ATTENTION_FORWARD_ARGS);

// saved: hs (N,Te,H), hq (N,Td,H), a (N,Td,Te); grad in: dc (N,Td,H)
// -> dhs (N,Te,H), dhq (N,Td,H); workspace ds (N,Td,Te): da = dc hs^T, then the score gradient in place
#define PYRNN_CUDA_ATTENTION_BACKWARD_ARGS(X)   \
  X(size, N) X(size, Te) X(size, Td) X(size, H) \
  X(in, hs) X(in, hq) X(in, a) X(in, dc)        \
  X(out, dhs) X(out, dhq) X(out, ds)
PYRNN_CUDA_DECLARE_OP(attention_backward, AttentionBackwardArgs, PYRNN_CUDA_ATTENTION_BACKWARD_ARGS);

// the sizes every scaled dot-product attention op takes: batch N, heads Hh, query and key steps Tq, Tk,
// key and value widths Dk, Dv
#define PYRNN_CUDA_SDPA_SIZES(X) X(size, N) X(size, Hh) X(size, Tq) X(size, Tk) X(size, Dk) X(size, Dv)

// ---- scaled dot-product attention, materialised ----

// q (N,Hh,Tq,Dk), k (N,Hh,Tk,Dk), v (N,Hh,Tk,Dv), mask (N,Tk)|null -> P (N,Hh,Tq,Tk) the attention
// weights (kept for the backward), out (N,Hh,Tq,Dv)
#define PYRNN_CUDA_SDPA_FORWARD_ARGS(X)       \
  PYRNN_CUDA_SDPA_SIZES(X) X(flag, causal)    \
  X(in, q) X(in, k) X(in, v) X(in_mask, mask) \
  X(out, P) X(out, out)
PYRNN_CUDA_DECLARE_OP(sdpa_forward, SdpaForwardArgs, PYRNN_CUDA_SDPA_FORWARD_ARGS);

// saved: q, k, v, P; grad in: dout (N,Hh,Tq,Dv) -> dq (N,Hh,Tq,Dk), dk (N,Hh,Tk,Dk), dv (N,Hh,Tk,Dv);
// workspace dS (N,Hh,Tq,Tk): dout v^T, then the score gradient in place
#define PYRNN_CUDA_SDPA_BACKWARD_ARGS(X)          \
  PYRNN_CUDA_SDPA_SIZES(X)                        \
  X(in, q) X(in, k) X(in, v) X(in, P) X(in, dout) \
  X(out, dq) X(out, dk) X(out, dv) X(out, dS)
PYRNN_CUDA_DECLARE_OP(sdpa_backward, SdpaBackwardArgs, PYRNN_CUDA_SDPA_BACKWARD_ARGS);

// ---- scaled dot-product attention, streaming ----

// q (N,Hh,Tq,Dk), k (N,Hh,Tk,Dk), v (N,Hh,Tk,Dv), mask (N,Tk)|null -> out (N,Hh,Tq,Dv), lse (N,Hh,Tq)
#define PYRNN_CUDA_SDPA_STREAM_FORWARD_ARGS(X) \
  PYRNN_CUDA_SDPA_SIZES(X) X(flag, causal)     \
  X(in, q) X(in, k) X(in, v) X(in_mask, mask)  \
  X(out, out) X(out, lse)
PYRNN_CUDA_DECLARE_OP(sdpa_stream_forward, SdpaStreamForwardArgs, PYRNN_CUDA_SDPA_STREAM_FORWARD_ARGS);

// saved: q, k, v, mask, out, lse; grad in: dout (N,Hh,Tq,Dv) -> dq (N,Hh,Tq,Dk), dk (N,Hh,Tk,Dk),
// dv (N,Hh,Tk,Dv); workspace D (N,Hh,Tq): rowsum(dout * out)
#define PYRNN_CUDA_SDPA_STREAM_BACKWARD_ARGS(X)                                 \
  PYRNN_CUDA_SDPA_SIZES(X) X(flag, causal)                                      \
  X(in, q) X(in, k) X(in, v) X(in_mask, mask) X(in, out) X(in, lse) X(in, dout) \
  X(out, dq) X(out, dk) X(out, dv) X(out, D)
PYRNN_CUDA_DECLARE_OP(sdpa_stream_backward, SdpaStreamBackwardArgs, PYRNN_CUDA_SDPA_STREAM_BACKWARD_ARGS);

}  // namespace pyrnn_cuda
