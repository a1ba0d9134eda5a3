// Attention kernels, forward and backward, float32 and float64, no Python types.
//
// 1. The book's seq2seq attention for all decoder steps at once (AttentionWeight + WeightSum):
//      a[n] (Td, Te) = masked softmax over Te of hq[n] (Td, H) @ hs[n]^T,   c[n] (Td, H) = a[n] @ hs[n]
//    Per batch row n: two GEMMs and one in-place softmax pass over a[n]; the backward is the same GEMM
//    structure (no (N, Td, Te, H) products, no Python per step). Batch rows run on pyrnn's threads.
//
// 2. Scaled dot-product attention per head (flash-attention style on the CPU):
//      out (Tq, dv) = softmax(scale q (Tq, dk) @ k^T (dk, Tk), masked) @ v (Tk, dv)
//    The forward streams over blocks of keys with an online softmax (running row max m and sum l,
//    earlier partial outputs rescaled by exp(m_old - m_new)), so only a (Bq, Bk) score block exists at
//    a time; it keeps lse = m + log(l) per query row. The backward recomputes each probability block
//    from lse (P = exp(S - lse)) and uses D = rowsum(dout * out) for the softmax Jacobian:
//      dv += P^T dout,  dS = P * (dout v^T - D) * scale,  dq += dS k,  dk += dS^T q.
//    Forward tasks are (head, query block) pairs; backward tasks are heads (each owns its dq, dk, dv),
//    or, with fewer heads than threads, (head, key block) for dk, dv then (head, query block) for dq:
//    every task writes only its own outputs and runs its loops in a fixed order, so the results are
//    bitwise reproducible whatever thread runs what, and the same under either schedule.
//
// Masks are uint8 (1 = attend). A query that sees no key gets zero weights, a zero output and zero
// gradients (lse = +inf marks it), never the 0/0 a plain softmax would give.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "pyrnn/core/activations.hpp"
#include "pyrnn/core/blas.hpp"
#include "pyrnn/core/index.hpp"
#include "pyrnn/core/simd.hpp"
#include "pyrnn/core/threads.hpp"

// The row loops (exp, max, sums) are compiled for AVX-512, AVX2+FMA and baseline x86-64 and the loader
// picks the best the CPU has (PYRNN_SIMD_CLONES, core/simd.hpp).

namespace pyrnn {
namespace detail {

// ---- row helpers ------------------------------------------------------------------------------------

// e^x for the softmax rows: core/activations.hpp's exp_fast (Cephes expf, ~2 ulp, vectorizes), except that
// x below -87.3 (e^x < 1.2e-38) gives exactly 0, so exp(-inf) = 0 as the masked softmax needs. The
// factor (x >= -87.3) is 0 for tiny, -inf and NaN inputs; 0 * NaN keeps a NaN a NaN.
__attribute__((always_inline)) inline float softmax_exp(float x) {
  return exp_fast(x) * static_cast<float>(x >= -87.3f);
}
inline double softmax_exp(double x) { return std::exp(x); }  // float64 is for gradient checks: libm

constexpr int kLanes = 16;  // independent partial sums/maxima: a fixed order the compiler can vectorize

// max over j < n of x[j] where keep[j] (keep null: all); -inf when none
template <typename T>
PYRNN_SIMD_CLONES T masked_row_max(const T* PYRNN_RESTRICT x, index_t n,
                                    const uint8_t* PYRNN_RESTRICT keep) {
  const T ninf = -std::numeric_limits<T>::infinity();
  T acc[kLanes];
  for (int u = 0; u < kLanes; ++u) acc[u] = ninf;
  index_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    T v[kLanes];
    if (keep)
      for (int u = 0; u < kLanes; ++u) v[u] = keep[j + u] ? x[j + u] : ninf;
    else
      for (int u = 0; u < kLanes; ++u) v[u] = x[j + u];
    for (int u = 0; u < kLanes; ++u) acc[u] = std::max(acc[u], v[u]);
  }
  T m = ninf;
  for (int u = 0; u < kLanes; ++u) m = std::max(m, acc[u]);
  for (; j < n; ++j)
    if (!keep || keep[j]) m = std::max(m, x[j]);
  return m;
}

template <typename T>
PYRNN_SIMD_CLONES T row_sum(const T* PYRNN_RESTRICT x, index_t n) {
  T acc[kLanes] = {};
  index_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int u = 0; u < kLanes; ++u) acc[u] += x[j + u];
  T s = 0;
  for (int u = 0; u < kLanes; ++u) s += acc[u];
  for (; j < n; ++j) s += x[j];
  return s;
}

template <typename T>
PYRNN_SIMD_CLONES T row_dot(const T* PYRNN_RESTRICT x, const T* PYRNN_RESTRICT y, index_t n) {
  T acc[kLanes] = {};
  index_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int u = 0; u < kLanes; ++u) acc[u] += x[j + u] * y[j + u];
  T s = 0;
  for (int u = 0; u < kLanes; ++u) s += acc[u];
  for (; j < n; ++j) s += x[j] * y[j];
  return s;
}

// s[j] <- exp(s[j] - m) for j < jlim where keep[j], else 0 (for every j < n)
template <typename T>
PYRNN_SIMD_CLONES void exp_masked(T* PYRNN_RESTRICT s, index_t n, index_t jlim, T m,
                                   const uint8_t* PYRNN_RESTRICT keep) {
  jlim = std::max<index_t>(0, std::min(jlim, n));
  for (index_t j = 0; j < jlim; ++j) s[j] = softmax_exp(s[j] - m);
  for (index_t j = jlim; j < n; ++j) s[j] = T(0);
  if (keep)
    for (index_t j = 0; j < jlim; ++j) s[j] = keep[j] ? s[j] : T(0);
}

template <typename T>
PYRNN_SIMD_CLONES void scale_row(T* PYRNN_RESTRICT x, index_t n, T f) {
  for (index_t j = 0; j < n; ++j) x[j] *= f;
}

// ds[j] <- p[j] * (ds[j] - d) * f   (softmax backward, in place on dp)
template <typename T>
PYRNN_SIMD_CLONES void softmax_grad_row(const T* PYRNN_RESTRICT p, T* PYRNN_RESTRICT ds, index_t n, T d, T f) {
  for (index_t j = 0; j < n; ++j) ds[j] = p[j] * (ds[j] - d) * f;
}

// One past the last key kept by mask row km (Tk keys); Tk when there is no mask.
inline index_t key_end(const uint8_t* km, index_t Tk) {
  if (!km) return Tk;
  index_t e = Tk;
  while (e > 0 && !km[e - 1]) --e;
  return e;
}

// a (R, C) rows, ld lda <- masked softmax over each row's C entries (keep (C) or null); a row with no
// kept entry becomes all zeros
template <typename T>
void softmax_rows(index_t R, index_t C, T* a, index_t lda, const uint8_t* keep) {
  for (index_t r = 0; r < R; ++r) {
    T* row = a + r * lda;
    const T m = masked_row_max(row, C, keep);
    if (m == -std::numeric_limits<T>::infinity()) {
      std::fill(row, row + C, T(0));
      continue;
    }
    exp_masked(row, C, C, m, keep);
    const T z = row_sum(row, C);  // >= 1: the max term is exp(0)
    for (index_t j = 0; j < C; ++j) row[j] /= z;
  }
}

// ds (R, C) <- a * (ds - rowsum(a * ds))  (the softmax Jacobian applied to ds, in place)
template <typename T>
void softmax_backward_rows(index_t R, index_t C, const T* a, index_t lda, T* ds, index_t ldd) {
  for (index_t r = 0; r < R; ++r) {
    const T* ar = a + r * lda;
    T* dr = ds + r * ldd;
    softmax_grad_row(ar, dr, C, row_dot(ar, dr, C), T(1));
  }
}

template <typename T>
std::vector<T>& thread_scratch(int slot, size_t n) {
  static thread_local std::vector<T> buf[3];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot];
}

// fn(n0, n1) over [0, N) batch rows in up to 4 chunks per thread, taken first-come (so a thread that
// another process has descheduled does not hold the others up); inline when the work (N * cost, in
// multiply-adds) is too small to pay for waking a worker. Each row is computed the same way whatever
// chunk holds it: results do not depend on the split.
template <typename F>
void for_batches(index_t N, double cost, F&& fn) {
  auto& pool = ThreadPool::instance();
  const double work = static_cast<double>(N) * cost;
  const index_t parts =
      static_cast<index_t>(std::min<double>({static_cast<double>(N), 4.0 * pool.threads(), work / 65536.0}));
  if (parts <= 1 || pool.threads() <= 1) {
    fn(index_t(0), N);
    return;
  }
  const index_t chunk = (N + parts - 1) / parts;
  pool.run(static_cast<int>(parts), [&](int c) {
    const index_t b = std::min(N, c * chunk), e = std::min(N, (c + 1) * chunk);
    if (b < e) fn(b, e);
  });
}

}  // namespace detail

// ---- 1. seq2seq attention, all decoder steps at once ---------------------------------------------------
// Shapes: hs (N, Te, H) encoder states, hq (N, Td, H) queries, mask (N, Te) or null, a (N, Td, Te),
// c (N, Td, H). Only the keys before the last kept one enter the GEMMs (the rest have weight 0).

// a = masked softmax(hq hs^T); c = a hs (c null: weights only)
template <typename T>
void attention_forward(index_t N, index_t Te, index_t Td, index_t H, const T* hs, const T* hq, const uint8_t* mask,
                       T* a, T* c) {
  detail::for_batches(N, 2.0 * Td * Te * (H + 8), [&](index_t n0, index_t n1) {
    for (index_t n = n0; n < n1; ++n) {
      const T* hs_n = hs + n * Te * H;
      const uint8_t* km = mask ? mask + n * Te : nullptr;
      const index_t ke = detail::key_end(km, Te);
      T* a_n = a + n * Td * Te;
      gemm<T>(false, true, Td, ke, H, T(1), hq + n * Td * H, H, hs_n, H, T(0), a_n, Te);
      detail::softmax_rows(Td, ke, a_n, Te, km);
      for (index_t t = 0; ke < Te && t < Td; ++t) std::fill(a_n + t * Te + ke, a_n + (t + 1) * Te, T(0));
      if (c) gemm<T>(false, false, Td, H, ke, T(1), a_n, Te, hs_n, H, T(0), c + n * Td * H, H);
    }
  });
}

// dc (N, Td, H) -> dhs (N, Te, H), dhq (N, Td, H), given the forward's a
template <typename T>
void attention_backward(index_t N, index_t Te, index_t Td, index_t H, const T* hs, const T* hq, const T* a,
                        const T* dc, T* dhs, T* dhq) {
  detail::for_batches(N, 5.0 * Td * Te * (H + 4), [&](index_t n0, index_t n1) {
    for (index_t n = n0; n < n1; ++n) {
      const T *hs_n = hs + n * Te * H, *hq_n = hq + n * Td * H, *a_n = a + n * Td * Te, *dc_n = dc + n * Td * H;
      T *dhs_n = dhs + n * Te * H, *dhq_n = dhq + n * Td * H;
      // keys past the last nonzero weight column got weight 0 (masked): no gradient reaches them
      index_t ke = Te;
      while (ke > 0) {
        bool any = false;
        for (index_t t = 0; t < Td && !any; ++t) any = a_n[t * Te + ke - 1] != T(0);
        if (any) break;
        --ke;
      }
      std::vector<T>& ds = detail::thread_scratch<T>(0, static_cast<size_t>(Td * ke));
      gemm<T>(true, false, ke, H, Td, T(1), a_n, Te, dc_n, H, T(0), dhs_n, H);          // WeightSum: a^T dc
      std::fill(dhs_n + ke * H, dhs_n + Te * H, T(0));
      gemm<T>(false, true, Td, ke, H, T(1), dc_n, H, hs_n, H, T(0), ds.data(), ke);     // da = dc hs^T
      detail::softmax_backward_rows(Td, ke, a_n, Te, ds.data(), ke);                             // ds
      gemm<T>(true, false, ke, H, Td, T(1), ds.data(), ke, hq_n, H, T(1), dhs_n, H);    // += ds^T hq
      gemm<T>(false, false, Td, H, ke, T(1), ds.data(), ke, hs_n, H, T(0), dhq_n, H);   // dhq = ds hs
    }
  });
}

// AttentionWeight backward: da (N, Td, Te) -> dhs, dhq
template <typename T>
void attention_weights_backward(index_t N, index_t Te, index_t Td, index_t H, const T* hs, const T* hq, const T* a,
                                const T* da, T* dhs, T* dhq) {
  detail::for_batches(N, 2.0 * Td * Te * (H + 4), [&](index_t n0, index_t n1) {
    for (index_t n = n0; n < n1; ++n) {
      std::vector<T>& ds = detail::thread_scratch<T>(0, static_cast<size_t>(Td * Te));
      std::memcpy(ds.data(), da + n * Td * Te, sizeof(T) * Td * Te);
      detail::softmax_backward_rows(Td, Te, a + n * Td * Te, Te, ds.data(), Te);
      gemm<T>(true, false, Te, H, Td, T(1), ds.data(), Te, hq + n * Td * H, H, T(0), dhs + n * Te * H, H);
      gemm<T>(false, false, Td, H, Te, T(1), ds.data(), Te, hs + n * Te * H, H, T(0), dhq + n * Td * H, H);
    }
  });
}

// WeightSum: c (N, Td, H) = a (N, Td, Te) @ hs (N, Te, H)
template <typename T>
void weighted_sum_forward(index_t N, index_t Te, index_t Td, index_t H, const T* hs, const T* a, T* c) {
  detail::for_batches(N, 1.0 * Td * Te * H, [&](index_t n0, index_t n1) {
    for (index_t n = n0; n < n1; ++n)
      gemm<T>(false, false, Td, H, Te, T(1), a + n * Td * Te, Te, hs + n * Te * H, H, T(0), c + n * Td * H, H);
  });
}

// WeightSum backward: dc (N, Td, H) -> dhs = a^T dc (N, Te, H), da = dc hs^T (N, Td, Te)
template <typename T>
void weighted_sum_backward(index_t N, index_t Te, index_t Td, index_t H, const T* hs, const T* a, const T* dc,
                           T* dhs, T* da) {
  detail::for_batches(N, 2.0 * Td * Te * H, [&](index_t n0, index_t n1) {
    for (index_t n = n0; n < n1; ++n) {
      gemm<T>(true, false, Te, H, Td, T(1), a + n * Td * Te, Te, dc + n * Td * H, H, T(0), dhs + n * Te * H, H);
      gemm<T>(false, true, Td, Te, H, T(1), dc + n * Td * H, H, hs + n * Te * H, H, T(0), da + n * Td * Te, Te);
    }
  });
}

// ---- 2. scaled dot-product attention, streaming softmax ------------------------------------------------
// Shapes: q (BH, Tq, dk), k (BH, Tk, dk), v (BH, Tk, dv) with BH = batch * Hh heads, head bh of batch
// row bh / Hh; mask (batch, Tk) key padding or null; causal hides key j > query i (Tq == Tk);
// out (BH, Tq, dv), lse (BH, Tq).

namespace detail {

// Block sizes (query rows, keys): PYRNN_SDPA_BQ / PYRNN_SDPA_BK override them (for measuring).
inline index_t env_block_size(const char* name, index_t dflt) {
  const char* s = std::getenv(name);
  const long v = s ? std::atol(s) : 0;
  return v >= 1 ? static_cast<index_t>(v) : dflt;
}
inline index_t sdpa_block_q() {
  static const index_t b = env_block_size("PYRNN_SDPA_BQ", 128);
  return b;
}
inline index_t sdpa_block_k() {
  static const index_t b = env_block_size("PYRNN_SDPA_BK", 256);
  return b;
}

// One (query block i0, key block j0) step of the SDPA backward for one head: recomputes
// P = exp(S - lse) and dS = P * (dP - D) * scale, then adds P^T dout to dv_j and dS^T q to dk_j (dkv)
// and/or dS k to dq_i (dq). Both schedules below call it with the same arguments per block pair, so
// their results are bitwise the same.
template <typename T>
struct SdpaBwdHead {
  index_t Tq, dk, dv;
  T scale;
  bool causal;
  const uint8_t* km;  // key mask row of this head's batch row, or null
  const T *q, *k, *v, *dout, *lse, *D;
  T *dq, *dkk, *dvv;

  // p, ds: (Bq, Bk) scratch
  void block(index_t i0, index_t bq, index_t j0, index_t bk, T* p, T* ds, bool dkv, bool dqb) const {
    const uint8_t* kp = km ? km + j0 : nullptr;
    const T *qi = q + i0 * dk, *doi = dout + i0 * dv, *kj = k + j0 * dk, *vj = v + j0 * dv;
    gemm<T>(false, true, bq, bk, dk, scale, qi, dk, kj, dk, T(0), p, bk);  // S
    for (index_t r = 0; r < bq; ++r) {
      const index_t jlim = causal ? std::max<index_t>(0, std::min(bk, i0 + r - j0 + 1)) : bk;
      exp_masked(p + r * bk, bk, jlim, lse[i0 + r], kp);  // P = exp(S - lse)
    }
    if (dkv) gemm<T>(true, false, bk, dv, bq, T(1), p, bk, doi, dv, T(1), dvv + j0 * dv, dv);  // dv += P^T dout
    gemm<T>(false, true, bq, bk, dv, T(1), doi, dv, vj, dv, T(0), ds, bk);                      // dP = dout v^T
    for (index_t r = 0; r < bq; ++r) softmax_grad_row(p + r * bk, ds + r * bk, bk, D[i0 + r], scale);
    if (dqb) gemm<T>(false, false, bq, dk, bk, T(1), ds, bk, kj, dk, T(1), dq + i0 * dk, dk);  // dq += dS k
    if (dkv) gemm<T>(true, false, bk, dk, bq, T(1), ds, bk, qi, dk, T(1), dkk + j0 * dk, dk);  // dk += dS^T q
  }
};

// The first query block a key block meets: causal skips blocks wholly above the diagonal.
inline index_t first_query_block(bool causal, index_t j0, index_t Bq) { return causal ? (j0 / Bq) * Bq : 0; }

}  // namespace detail

// q (BH,Tq,dk), k (BH,Tk,dk), v (BH,Tk,dv), mask (batch,Tk)|null -> out (BH,Tq,dv), lse (BH,Tq)|null
template <typename T>
void sdpa_forward(index_t BH, index_t Hh, index_t Tq, index_t Tk, index_t dk, index_t dv, T scale, const T* q,
                  const T* k, const T* v, const uint8_t* mask, bool causal, T* out, T* lse) {
  const index_t Bq = detail::sdpa_block_q(), Bk = detail::sdpa_block_k();
  const index_t nqb = (Tq + Bq - 1) / Bq;
  const double work = static_cast<double>(BH) * Tq * Tk * (dk + dv + 8);
  // tasks are taken first-come, heaviest (last causal query blocks) first
  run_tasks(BH * nqb, work, [&](index_t task) {
    const index_t bh = task / nqb, qb = nqb - 1 - task % nqb;
    const index_t i0 = qb * Bq, bq = std::min(Bq, Tq - i0);
    const uint8_t* km = mask ? mask + (bh / Hh) * Tk : nullptr;
    index_t ke = detail::key_end(km, Tk);
    if (causal) ke = std::min(ke, i0 + bq);  // keys after the block's last query are never seen
    const T* qi = q + (bh * Tq + i0) * dk;
    T* o = out + (bh * Tq + i0) * dv;
    std::vector<T>& sbuf =
        detail::thread_scratch<T>(0, static_cast<size_t>(bq * std::min(Bk, std::max<index_t>(ke, 1))));
    std::vector<T>& ml = detail::thread_scratch<T>(1, static_cast<size_t>(2 * bq));
    T* s = sbuf.data();
    T *m = ml.data(), *l = ml.data() + bq;
    const T ninf = -std::numeric_limits<T>::infinity();
    std::fill(m, m + bq, ninf);
    std::fill(l, l + bq, T(0));
    std::fill(o, o + bq * dv, T(0));
    for (index_t j0 = 0; j0 < ke; j0 += Bk) {
      const index_t bk = std::min(Bk, ke - j0);
      const uint8_t* kp = km ? km + j0 : nullptr;
      gemm<T>(false, true, bq, bk, dk, scale, qi, dk, k + (bh * Tk + j0) * dk, dk, T(0), s, bk);
      for (index_t r = 0; r < bq; ++r) {
        T* sr = s + r * bk;
        const index_t jlim = causal ? std::max<index_t>(0, std::min(bk, i0 + r - j0 + 1)) : bk;
        const T mb = detail::masked_row_max(sr, jlim, kp);
        const T mn = mb > m[r] ? mb : m[r];
        if (mn == ninf) {  // nothing kept in this row so far
          std::fill(sr, sr + bk, T(0));
          continue;
        }
        detail::exp_masked(sr, bk, jlim, mn, kp);
        if (m[r] != mn) {
          const T corr = m[r] == ninf ? T(0) : detail::softmax_exp(m[r] - mn);
          l[r] *= corr;
          detail::scale_row(o + r * dv, dv, corr);
          m[r] = mn;
        }
        l[r] += detail::row_sum(sr, bk);
      }
      gemm<T>(false, false, bq, dv, bk, T(1), s, bk, v + (bh * Tk + j0) * dv, dv, T(1), o, dv);
    }
    for (index_t r = 0; r < bq; ++r) {
      if (l[r] > T(0)) {
        detail::scale_row(o + r * dv, dv, T(1) / l[r]);
        if (lse) lse[bh * Tq + i0 + r] = m[r] + std::log(l[r]);
      } else {
        std::fill(o + r * dv, o + (r + 1) * dv, T(0));
        if (lse) lse[bh * Tq + i0 + r] = std::numeric_limits<T>::infinity();  // P = exp(S - inf) = 0
      }
    }
  });
}

// saved: q, k, v, mask, out, lse (as sdpa_forward); grad in: dout (BH,Tq,dv)
// -> dq (BH,Tq,dk), dkk (BH,Tk,dk), dvv (BH,Tk,dv)
template <typename T>
void sdpa_backward(index_t BH, index_t Hh, index_t Tq, index_t Tk, index_t dk, index_t dv, T scale, const T* q,
                   const T* k, const T* v, const uint8_t* mask, bool causal, const T* out, const T* lse,
                   const T* dout, T* dq, T* dkk, T* dvv) {
  const index_t Bq = detail::sdpa_block_q(), Bk = detail::sdpa_block_k();
  const double work = static_cast<double>(BH) * Tq * Tk * (2 * dk + 2 * dv + 8);
  std::vector<T> Dall(static_cast<size_t>(BH * Tq));  // D = rowsum(dout * out) = rowsum(P * dP)
  auto head = [&](index_t bh) {
    detail::SdpaBwdHead<T> h{Tq, dk, dv, scale, causal, mask ? mask + (bh / Hh) * Tk : nullptr,
                     q + bh * Tq * dk, k + bh * Tk * dk, v + bh * Tk * dv, dout + bh * Tq * dv, lse + bh * Tq,
                     Dall.data() + bh * Tq, dq + bh * Tq * dk, dkk + bh * Tk * dk, dvv + bh * Tk * dv};
    return h;
  };
  auto prepare = [&](index_t bh) {  // zero this head's gradients, compute its D
    const detail::SdpaBwdHead<T> h = head(bh);
    std::fill(h.dq, h.dq + Tq * dk, T(0));
    std::fill(h.dkk, h.dkk + Tk * dk, T(0));
    std::fill(h.dvv, h.dvv + Tk * dv, T(0));
    const T* oh = out + bh * Tq * dv;
    T* D = Dall.data() + bh * Tq;
    for (index_t i = 0; i < Tq; ++i) D[i] = detail::row_dot(h.dout + i * dv, oh + i * dv, dv);
  };
  auto scratch_pd = [&](index_t ke) {
    const size_t n = static_cast<size_t>(std::min(Bq, Tq) * std::min(Bk, std::max<index_t>(ke, 1)));
    return std::make_pair(detail::thread_scratch<T>(0, n).data(), detail::thread_scratch<T>(1, n).data());
  };
  const int threads = ThreadPool::instance().threads();
  const index_t nkb = (Tk + Bk - 1) / Bk, nqb = (Tq + Bq - 1) / Bq;
  if (BH >= threads || (nkb <= 1 && nqb <= 1) || work < 65536.0) {
    // one task per head: each owns its dq, dk, dv and walks key blocks, then query blocks, in order
    run_tasks(BH, work, [&](index_t bh) {
      prepare(bh);
      const detail::SdpaBwdHead<T> h = head(bh);
      const index_t ke = detail::key_end(h.km, Tk);
      if (ke == 0 || Tq == 0) return;
      auto [p, ds] = scratch_pd(ke);
      for (index_t j0 = 0; j0 < ke; j0 += Bk)
        for (index_t i0 = detail::first_query_block(causal, j0, Bq); i0 < Tq; i0 += Bq)
          h.block(i0, std::min(Bq, Tq - i0), j0, std::min(Bk, ke - j0), p, ds, true, true);
    });
    return;
  }
  // Fewer heads than threads (a small batch): split each head by blocks, as flash-attention 2 does.
  // Pass 1, tasks (head, key block): dk_j and dv_j over all query blocks. Pass 2, tasks (head, query
  // block): dq_i over all key blocks, recomputing P and dS (2 more GEMMs per block pair, paid for by
  // the parallelism). Each output block sums the same block pairs in the same order as one task per
  // head would, so the results do not depend on the schedule or the thread count.
  run_tasks(BH, 1e9, prepare);
  run_tasks(BH * nkb, work, [&](index_t t) {
    const detail::SdpaBwdHead<T> h = head(t / nkb);
    const index_t ke = detail::key_end(h.km, Tk), j0 = (t % nkb) * Bk;
    if (j0 >= ke || Tq == 0) return;
    auto [p, ds] = scratch_pd(ke);
    for (index_t i0 = detail::first_query_block(causal, j0, Bq); i0 < Tq; i0 += Bq)
      h.block(i0, std::min(Bq, Tq - i0), j0, std::min(Bk, ke - j0), p, ds, true, false);
  });
  run_tasks(BH * nqb, work, [&](index_t t) {
    const detail::SdpaBwdHead<T> h = head(t / nqb);
    const index_t ke = detail::key_end(h.km, Tk), i0 = (t % nqb) * Bq;
    if (ke == 0) return;
    auto [p, ds] = scratch_pd(ke);
    for (index_t j0 = 0; j0 < ke; j0 += Bk)
      if (detail::first_query_block(causal, j0, Bq) <= i0)
        h.block(i0, std::min(Bq, Tq - i0), j0, std::min(Bk, ke - j0), p, ds, false, true);
  });
}


}  // namespace pyrnn
