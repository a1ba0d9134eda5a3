// Streaming scaled dot-product attention forward and backward (see sdpa_stream.cuh).
#include <math.h>

#include <algorithm>

#include "pyrnn_cuda/activations.cuh"
#include "pyrnn_cuda/block_reduce.cuh"
#include "pyrnn_cuda/check.cuh"
#include "pyrnn_cuda/sdpa_stream.cuh"

namespace pyrnn_cuda {

namespace {

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
      for (idx d = threadIdx.x; d < Dv; d += kStreamBlock) {
        T acc = T(0);
        for (idx t = 0; t < n; ++t) acc += p[t] * vb[(j0 + t) * Dv + d];
        o[d] = o[d] * alpha + acc;
      }
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
      for (idx d = threadIdx.x; d < Dk; d += kStreamBlock) {
        T acc = T(0);
        for (idx t = 0; t < n; ++t) acc += ds[t] * kb[(j0 + t) * Dk + d];
        g[d] += acc;
      }
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
      for (idx d = threadIdx.x; d < Dk; d += kStreamBlock) {
        T acc = T(0);
        for (idx t = 0; t < n; ++t) acc += dss[t] * qb[(i0 + t) * Dk + d];
        gk[d] += acc;
      }
      for (idx d = threadIdx.x; d < Dv; d += kStreamBlock) {
        T acc = T(0);
        for (idx t = 0; t < n; ++t) acc += ps[t] * gb[(i0 + t) * Dv + d];
        gv[d] += acc;
      }
      __syncthreads();  // every thread has read ps, dss before the next tile writes them
    }
  }
}

unsigned row_grid(idx rows) {  // one block per row, at most 2^20 (the kernels stride past that)
  return static_cast<unsigned>(std::min<idx>(rows, idx(1) << 20));
}

}  // namespace

template <typename T>
void sdpa_stream_forward(const Session& s, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, const T* q,
                         const T* k, const T* v, const bool* keep, T* out, T* lse) {
  const idx BH = N * Hh;
  if (BH * Tq == 0) return;
  sdpa_stream_forward_kernel<T><<<row_grid(BH * Tq), kStreamBlock, 0, s.stream()>>>(
      BH, Hh, Tq, Tk, Dk, Dv, causal, score_scale<T>(Dk), q, k, v, keep, out, lse);
  PYRNN_CUDA_CHECK_LAUNCH("sdpa_stream_forward_kernel");
}

template <typename T>
void sdpa_stream_backward(const Session& s, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, const T* q,
                          const T* k, const T* v, const bool* keep, const T* out, const T* lse, const T* dout, T* dq,
                          T* dk, T* dv, T* D) {
  const idx BH = N * Hh;
  const T scale = score_scale<T>(Dk);
  if (BH * Tq > 0) {  // dq and D (the key-major kernel reads D: queued first on the same stream)
    sdpa_stream_dq_kernel<T><<<row_grid(BH * Tq), kStreamBlock, 0, s.stream()>>>(
        BH, Hh, Tq, Tk, Dk, Dv, causal, scale, q, k, v, keep, out, lse, dout, dq, D);
    PYRNN_CUDA_CHECK_LAUNCH("sdpa_stream_dq_kernel");
  }
  if (BH * Tk > 0) {
    sdpa_stream_dkv_kernel<T><<<row_grid(BH * Tk), kStreamBlock, 0, s.stream()>>>(
        BH, Hh, Tq, Tk, Dk, Dv, causal, scale, q, k, v, keep, lse, dout, D, dk, dv);
    PYRNN_CUDA_CHECK_LAUNCH("sdpa_stream_dkv_kernel");
  }
}

#define PYRNN_INSTANTIATE(T)                                                                                   \
  template void sdpa_stream_forward<T>(const Session&, idx, idx, idx, idx, idx, idx, bool, const T*, const T*, \
                                       const T*, const bool*, T*, T*);                                         \
  template void sdpa_stream_backward<T>(const Session&, idx, idx, idx, idx, idx, idx, bool, const T*,         \
                                        const T*, const T*, const bool*, const T*, const T*, const T*, T*, T*, \
                                        T*, T*);
PYRNN_INSTANTIATE(float)
PYRNN_INSTANTIATE(double)
#undef PYRNN_INSTANTIATE

}  // namespace pyrnn_cuda
