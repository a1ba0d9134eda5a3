// The attention ops (see attention.cuh). Seq2seq attention and the materialised SDPA: strided-batched
// GEMMs, one per product over all batch rows (heads), and the softmax row kernels; the streaming SDPA:
// one thread block per query (key) row, over tiles of keys (queries).
#include <math.h>

#include "pyrnn_cuda/attention.cuh"
#include "pyrnn_cuda/core/activations.cuh"
#include "pyrnn_cuda/core/blas.cuh"
#include "pyrnn_cuda/core/block_reduce.cuh"
#include "pyrnn_cuda/core/check.cuh"
#include "pyrnn_cuda/core/launch.cuh"
#include "pyrnn_cuda/core/softmax_rows.cuh"

namespace pyrnn_cuda {

namespace {

// the reference's 1 / sqrt(dk) in double, then rounded to T (as NumPy scales a float32 array by a
// Python float); dk = 0 cannot reach here (pyrnn.ops rejects it), 1 keeps it harmless
template <typename T>
inline T score_scale(idx Dk) {
  return Dk ? static_cast<T>(1.0 / sqrt(static_cast<double>(Dk))) : T(1);
}

// ---- the streaming SDPA's kernels

// threads per row block, a power of two (the reduction tree halves it); also the key (query) tile:
// two warps keep short rows from idling most of the block
constexpr int kStreamBlock = 64;

__device__ __forceinline__ idx min_(idx a, idx b) { return a < b ? a : b; }  // std::min is host-only

template <typename T>
__device__ T dot_(const T* a, const T* b, idx n) {  // a (n), b (n): in order, as one thread
  T acc = T(0);
  for (idx c = 0; c < n; ++c) acc += a[c] * b[c];
  return acc;
}

// w (n) times column d of rows (n, width), in order, as one thread: its element of a tile's product
template <typename T>
__device__ __forceinline__ T weighted_column(const T* w, const T* rows, idx n, idx width, idx d) {
  T acc = T(0);
  for (idx t = 0; t < n; ++t) acc += w[t] * rows[t * width + d];
  return acc;
}

// q (BH,Tq,Dk), k (BH,Tk,Dk), v (BH,Tk,Dv), keep (BH/Hh,Tk)|null -> out (BH,Tq,Dv), lse (BH,Tq)
template <typename T>
__global__ void sdpa_stream_forward_kernel(idx BH, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, T scale,
                                           const T* q, const T* k, const T* v, const bool* keep, T* out, T* lse) {
  __shared__ T red[kStreamBlock];
  __shared__ T p[kStreamBlock];  // this tile's exp(S - m)
  const T inf = T(INFINITY);
  for (idx r = blockIdx.x; r < BH * Tq; r += gridDim.x) {
    const idx b = r / Tq, i = r % Tq;
    const T *qi = q + r * Dk, *kb = k + b * Tk * Dk, *vb = v + b * Tk * Dv;
    const bool* kp = keep ? keep + (b / Hh) * Tk : nullptr;
    T* o = out + r * Dv;  // the running (unnormalised) output; o[d] belongs to thread d % kStreamBlock
    const idx keys = causal ? min_(i + 1, Tk) : Tk;  // causal: keys after the query are masked
    for (idx d = threadIdx.x; d < Dv; d += kStreamBlock) o[d] = T(0);
    T m = -inf, l = T(0);
    for (idx j0 = 0; j0 < keys; j0 += kStreamBlock) {
      const idx j = j0 + threadIdx.x;
      const T sj = j < keys && (!kp || kp[j]) ? dot_(qi, kb + j * Dk, Dk) * scale : -inf;
      const T tile_max = block_reduce<kStreamBlock, true>(sj, red);
      const T m_new = tile_max > m ? tile_max : m;
      if (m_new == -inf) continue;  // every key so far masked (the same for the whole block)
      const T e = exp_(sj - m_new);   // a masked key: exp(-inf) = 0
      const T alpha = exp_(m - m_new);  // m = -inf before the first kept key: 0 (o and l are 0 then)
      l = l * alpha + block_reduce<kStreamBlock, false>(e, red);
      p[threadIdx.x] = e;  // the reductions' barriers ordered the last tile's reads of p before this
      __syncthreads();
      const idx n = min_(kStreamBlock, keys - j0);
      for (idx d = threadIdx.x; d < Dv; d += kStreamBlock)
        o[d] = o[d] * alpha + weighted_column(p, vb + j0 * Dv, n, Dv, d);
      m = m_new;
    }
    const bool dead = !(l > T(0));  // every key masked: zero output, lse = +inf (zero weights after)
    for (idx d = threadIdx.x; d < Dv; d += kStreamBlock) o[d] = dead ? T(0) : o[d] / l;
    if (threadIdx.x == 0) lse[r] = dead ? inf : m + log_(l);
  }
}

// q, dq (BH,Tq,Dk), k (BH,Tk,Dk), v (BH,Tk,Dv), keep (BH/Hh,Tk)|null, out, dout (BH,Tq,Dv), lse, D (BH,Tq)
template <typename T>
__global__ void sdpa_stream_dq_kernel(idx BH, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, T scale,
                                      const T* q, const T* k, const T* v, const bool* keep, const T* out,
                                      const T* lse, const T* dout, T* dq, T* D) {
  __shared__ T red[kStreamBlock];
  __shared__ T ds[kStreamBlock];  // this tile's dS_ij
  const T inf = T(INFINITY);
  for (idx r = blockIdx.x; r < BH * Tq; r += gridDim.x) {
    const idx b = r / Tq, i = r % Tq;
    const T *qi = q + r * Dk, *kb = k + b * Tk * Dk, *vb = v + b * Tk * Dv, *gi = dout + r * Dv;
    const bool* kp = keep ? keep + (b / Hh) * Tk : nullptr;
    T part = T(0);
    for (idx d = threadIdx.x; d < Dv; d += kStreamBlock) part += gi[d] * out[r * Dv + d];
    const T Di = block_reduce<kStreamBlock, false>(part, red);
    if (threadIdx.x == 0) D[r] = Di;
    T* g = dq + r * Dk;  // g[d] belongs to thread d % kStreamBlock
    for (idx d = threadIdx.x; d < Dk; d += kStreamBlock) g[d] = T(0);
    const T L = lse[r];
    if (L == inf) continue;  // every key masked: zero gradient (the same for the whole block)
    const idx keys = causal ? min_(i + 1, Tk) : Tk;
    for (idx j0 = 0; j0 < keys; j0 += kStreamBlock) {
      const idx j = j0 + threadIdx.x;
      T dsj = T(0);
      if (j < keys && (!kp || kp[j])) {
        const T P = exp_(dot_(qi, kb + j * Dk, Dk) * scale - L);
        dsj = P * (dot_(gi, vb + j * Dv, Dv) - Di) * scale;
      }
      ds[threadIdx.x] = dsj;
      __syncthreads();
      const idx n = min_(kStreamBlock, keys - j0);
      for (idx d = threadIdx.x; d < Dk; d += kStreamBlock) g[d] += weighted_column(ds, kb + j0 * Dk, n, Dk, d);
      __syncthreads();  // every thread has read ds before the next tile writes it
    }
  }
}

// q (BH,Tq,Dk), k, dk (BH,Tk,Dk), v, dv (BH,Tk,Dv), keep (BH/Hh,Tk)|null, dout (BH,Tq,Dv), lse, D (BH,Tq)
template <typename T>
__global__ void sdpa_stream_dkv_kernel(idx BH, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, T scale,
                                       const T* q, const T* k, const T* v, const bool* keep, const T* lse,
                                       const T* dout, const T* D, T* dk, T* dv) {
  __shared__ T ps[kStreamBlock];   // this tile's P_ij
  __shared__ T dss[kStreamBlock];  // and dS_ij
  const T inf = T(INFINITY);
  for (idx r = blockIdx.x; r < BH * Tk; r += gridDim.x) {
    const idx b = r / Tk, j = r % Tk;
    const T *kj = k + r * Dk, *vj = v + r * Dv, *qb = q + b * Tq * Dk, *gb = dout + b * Tq * Dv;
    T *gk = dk + r * Dk, *gv = dv + r * Dv;  // gk[d], gv[d] belong to thread d % kStreamBlock
    for (idx d = threadIdx.x; d < Dk; d += kStreamBlock) gk[d] = T(0);
    for (idx d = threadIdx.x; d < Dv; d += kStreamBlock) gv[d] = T(0);
    if (keep && !keep[(b / Hh) * Tk + j]) continue;  // a padded key: no query sees it
    for (idx i0 = causal ? j : 0; i0 < Tq; i0 += kStreamBlock) {  // causal: queries i >= j see key j
      const idx i = i0 + threadIdx.x;
      T pi = T(0), dsi = T(0);
      if (i < Tq && lse[b * Tq + i] != inf) {  // lse = inf: query i sees no key
        pi = exp_(dot_(qb + i * Dk, kj, Dk) * scale - lse[b * Tq + i]);
        dsi = pi * (dot_(gb + i * Dv, vj, Dv) - D[b * Tq + i]) * scale;
      }
      ps[threadIdx.x] = pi;
      dss[threadIdx.x] = dsi;
      __syncthreads();
      const idx n = min_(kStreamBlock, Tq - i0);
      for (idx d = threadIdx.x; d < Dk; d += kStreamBlock) gk[d] += weighted_column(dss, qb + i0 * Dk, n, Dk, d);
      for (idx d = threadIdx.x; d < Dv; d += kStreamBlock) gv[d] += weighted_column(ps, gb + i0 * Dv, n, Dv, d);
      __syncthreads();  // every thread has read ps, dss before the next tile writes them
    }
  }
}

}  // namespace

// ---- seq2seq attention
// Per batch row n: hs[n] (Te, H), hq[n] (Td, H), a[n] (Td, Te), c[n] (Td, H); each product is one
// strided-batched GEMM over the N rows.

namespace {

// a = the masked softmax over Te of the scores hq hs^T
template <typename T>
void attention_weights(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq, const bool* keep,
                       T* a) {
  // scores[n] (Td, Te) = hq[n] (Td, H) hs[n]^T, into a; then the softmax over Te in place
  gemm_strided_batched<T>(s, false, true, Td, Te, H, T(1), hq, H, Td * H, hs, H, Te * H, T(0), a, Te, Td * Te, N);
  masked_softmax_rows<T>(s, N * Td, Te, a, keep, Td, 0);  // row n*Td + t uses mask row n
}

// c = a hs
template <typename T>
void weighted_sum(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* a, T* c) {
  // c[n] (Td, H) = a[n] (Td, Te) hs[n] (Te, H)
  gemm_strided_batched<T>(s, false, false, Td, H, Te, T(1), a, Te, Td * Te, hs, H, Te * H, T(0), c, H, Td * H, N);
}

// the weighted sum's backward: dhs = a^T dc, da = dc hs^T
template <typename T>
void weighted_sum_grads(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* a, const T* dc, T* dhs,
                        T* da) {
  // dhs[n] (Te, H) = a[n]^T dc[n];  da[n] (Td, Te) = dc[n] hs[n]^T
  gemm_strided_batched<T>(s, true, false, Te, H, Td, T(1), a, Te, Td * Te, dc, H, Td * H, T(0), dhs, H, Te * H, N);
  gemm_strided_batched<T>(s, false, true, Td, Te, H, T(1), dc, H, Td * H, hs, H, Te * H, T(0), da, Te, Td * Te, N);
}

// the scores' backward, from ds (N, Td, Te) the score gradient: dhs = beta dhs + ds^T hq, dhq = ds hs
template <typename T>
void score_grads(const Session& s, idx N, idx Te, idx Td, idx H, const T* hs, const T* hq, const T* ds, T beta,
                 T* dhs, T* dhq) {
  // dhs[n] (Te, H) = ds[n]^T hq[n];  dhq[n] (Td, H) = ds[n] hs[n]
  gemm_strided_batched<T>(s, true, false, Te, H, Td, T(1), ds, Te, Td * Te, hq, H, Td * H, beta, dhs, H, Te * H, N);
  gemm_strided_batched<T>(s, false, false, Td, H, Te, T(1), ds, Te, Td * Te, hs, H, Te * H, T(0), dhq, H, Td * H, N);
}

}  // namespace

template <typename T>
void attention_weights_forward(const Session& s, const AttentionWeightsForwardArgs<T>& args) {
  attention_weights(s, args.N, args.Te, args.Td, args.H, args.hs, args.hq, args.mask, args.a);
}

template <typename T>
void attention_weights_backward(const Session& s, const AttentionWeightsBackwardArgs<T>& args) {
  softmax_rows_backward<T>(s, args.N * args.Td, args.Te, args.a, args.da, args.ds, T(1));
  score_grads(s, args.N, args.Te, args.Td, args.H, args.hs, args.hq, args.ds, T(0), args.dhs, args.dhq);
}

template <typename T>
void weighted_sum_forward(const Session& s, const WeightedSumForwardArgs<T>& args) {
  weighted_sum(s, args.N, args.Te, args.Td, args.H, args.hs, args.a, args.c);
}

template <typename T>
void weighted_sum_backward(const Session& s, const WeightedSumBackwardArgs<T>& args) {
  weighted_sum_grads(s, args.N, args.Te, args.Td, args.H, args.hs, args.a, args.dc, args.dhs, args.da);
}

template <typename T>
void attention_forward(const Session& s, const AttentionForwardArgs<T>& args) {
  attention_weights(s, args.N, args.Te, args.Td, args.H, args.hs, args.hq, args.mask, args.a);
  weighted_sum(s, args.N, args.Te, args.Td, args.H, args.hs, args.a, args.c);
}

template <typename T>
void attention_backward(const Session& s, const AttentionBackwardArgs<T>& args) {
  const idx N = args.N, Te = args.Te, Td = args.Td, H = args.H;
  // dhs = a^T dc and da = dc hs^T, into ds; then ds = a * (da - rowsum(a * da)) in place; hs feeds both
  // the weighted sum and the scores, so the scores' part adds to dhs (beta 1)
  weighted_sum_grads(s, N, Te, Td, H, args.hs, args.a, args.dc, args.dhs, args.ds);
  softmax_rows_backward<T>(s, N * Td, Te, args.a, args.ds, args.ds, T(1));
  score_grads(s, N, Te, Td, H, args.hs, args.hq, args.ds, T(1), args.dhs, args.dhq);
}

// ---- scaled dot-product attention, materialised
// Per head b = n*Hh + h: q[b] (Tq, Dk), k[b] (Tk, Dk), v[b] (Tk, Dv), P[b] (Tq, Tk), out[b] (Tq, Dv); each
// product is one strided-batched GEMM over the N*Hh heads.

template <typename T>
void sdpa_forward(const Session& s, const SdpaForwardArgs<T>& args) {
  const idx BH = args.N * args.Hh, Tq = args.Tq, Tk = args.Tk, Dk = args.Dk, Dv = args.Dv;
  // S[b] (Tq, Tk) = scale * q[b] k[b]^T, into P; then the masked softmax over the keys in place
  gemm_strided_batched<T>(s, false, true, Tq, Tk, Dk, score_scale<T>(Dk), args.q, Dk, Tq * Dk, args.k, Dk, Tk * Dk,
                          T(0), args.P, Tk, Tq * Tk, BH);
  // row b*Tq + i is head b = n*Hh + h, query i: key-mask row n = row / (Hh*Tq)
  masked_softmax_rows<T>(s, BH * Tq, Tk, args.P, args.mask, args.Hh * Tq, args.causal ? Tq : 0);
  // out[b] (Tq, Dv) = P[b] v[b]
  gemm_strided_batched<T>(s, false, false, Tq, Dv, Tk, T(1), args.P, Tk, Tq * Tk, args.v, Dv, Tk * Dv, T(0), args.out,
                          Dv, Tq * Dv, BH);
}

template <typename T>
void sdpa_backward(const Session& s, const SdpaBackwardArgs<T>& args) {
  const idx BH = args.N * args.Hh, Tq = args.Tq, Tk = args.Tk, Dk = args.Dk, Dv = args.Dv;
  const T *q = args.q, *k = args.k, *P = args.P;
  T* dS = args.dS;
  // dv[b] (Tk, Dv) = P[b]^T dout[b];  dP[b] (Tq, Tk) = dout[b] v[b]^T, into dS
  gemm_strided_batched<T>(s, true, false, Tk, Dv, Tq, T(1), P, Tk, Tq * Tk, args.dout, Dv, Tq * Dv, T(0), args.dv, Dv,
                          Tk * Dv, BH);
  gemm_strided_batched<T>(s, false, true, Tq, Tk, Dv, T(1), args.dout, Dv, Tq * Dv, args.v, Dv, Tk * Dv, T(0), dS, Tk,
                          Tq * Tk, BH);
  // dS = P * (dP - rowsum(dP * P)) * scale, in place (masked entries have P = 0: dS = 0)
  softmax_rows_backward<T>(s, BH * Tq, Tk, P, dS, dS, score_scale<T>(Dk));
  // dq[b] (Tq, Dk) = dS[b] k[b];  dk[b] (Tk, Dk) = dS[b]^T q[b]
  gemm_strided_batched<T>(s, false, false, Tq, Dk, Tk, T(1), dS, Tk, Tq * Tk, k, Dk, Tk * Dk, T(0), args.dq, Dk,
                          Tq * Dk, BH);
  gemm_strided_batched<T>(s, true, false, Tk, Dk, Tq, T(1), dS, Tk, Tq * Tk, q, Dk, Tq * Dk, T(0), args.dk, Dk,
                          Tk * Dk, BH);
}

// ---- scaled dot-product attention, streaming

template <typename T>
void sdpa_stream_forward(const Session& s, const SdpaStreamForwardArgs<T>& args) {
  const idx BH = args.N * args.Hh, Tq = args.Tq;
  if (BH * Tq == 0) return;
  sdpa_stream_forward_kernel<T><<<row_grid(BH * Tq), kStreamBlock, 0, s.stream()>>>(
      BH, args.Hh, Tq, args.Tk, args.Dk, args.Dv, args.causal, score_scale<T>(args.Dk), args.q, args.k, args.v,
      args.mask, args.out, args.lse);
  PYRNN_CUDA_CHECK_LAUNCH("sdpa_stream_forward_kernel");
}

template <typename T>
void sdpa_stream_backward(const Session& s, const SdpaStreamBackwardArgs<T>& args) {
  const idx BH = args.N * args.Hh, Hh = args.Hh, Tq = args.Tq, Tk = args.Tk, Dk = args.Dk, Dv = args.Dv;
  const T scale = score_scale<T>(Dk);
  if (BH * Tq > 0) {  // dq and D (the key-major kernel reads D: queued first on the same stream)
    sdpa_stream_dq_kernel<T><<<row_grid(BH * Tq), kStreamBlock, 0, s.stream()>>>(
        BH, Hh, Tq, Tk, Dk, Dv, args.causal, scale, args.q, args.k, args.v, args.mask, args.out, args.lse, args.dout,
        args.dq, args.D);
    PYRNN_CUDA_CHECK_LAUNCH("sdpa_stream_dq_kernel");
  }
  if (BH * Tk > 0) {
    sdpa_stream_dkv_kernel<T><<<row_grid(BH * Tk), kStreamBlock, 0, s.stream()>>>(
        BH, Hh, Tq, Tk, Dk, Dv, args.causal, scale, args.q, args.k, args.v, args.mask, args.lse, args.dout, args.D,
        args.dk, args.dv);
    PYRNN_CUDA_CHECK_LAUNCH("sdpa_stream_dkv_kernel");
  }
}

PYRNN_CUDA_INSTANTIATE(attention_weights_forward, AttentionWeightsForwardArgs)
PYRNN_CUDA_INSTANTIATE(attention_weights_backward, AttentionWeightsBackwardArgs)
PYRNN_CUDA_INSTANTIATE(weighted_sum_forward, WeightedSumForwardArgs)
PYRNN_CUDA_INSTANTIATE(weighted_sum_backward, WeightedSumBackwardArgs)
PYRNN_CUDA_INSTANTIATE(attention_forward, AttentionForwardArgs)
PYRNN_CUDA_INSTANTIATE(attention_backward, AttentionBackwardArgs)
PYRNN_CUDA_INSTANTIATE(sdpa_forward, SdpaForwardArgs)
PYRNN_CUDA_INSTANTIATE(sdpa_backward, SdpaBackwardArgs)
PYRNN_CUDA_INSTANTIATE(sdpa_stream_forward, SdpaStreamForwardArgs)
PYRNN_CUDA_INSTANTIATE(sdpa_stream_backward, SdpaStreamBackwardArgs)

}  // namespace pyrnn_cuda
