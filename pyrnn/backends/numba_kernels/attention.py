"""Row-wise kernels of the attention ops: masked softmax (and its backward) over the rows of a score
block, and the online-softmax steps of the streaming scaled dot-product attention.

The GEMMs stay in NumPy (batched matmul over BLAS); these kernels do the elementwise/row parts in one
pass each, in place, in the arrays' dtype, every loop in a fixed order (deterministic). Masks are uint8
(1 = attend); kernels that take one also take ``has_mask`` (a dummy array when False), so each compiles
to one specialization per dtype. A query that sees no key gets zero weights (lse = +inf marks it in the
streaming kernels, so the recomputed probabilities are exp(-inf) = 0).
"""
import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True)


@njit(**_JIT)
def masked_softmax_rows(a, mask, has_mask):
    # a (N, Td, Te) scores -> masked softmax over Te in place; mask (N, Te) uint8
    N, Td, Te = a.shape
    for n in range(N):
        for t in range(Td):
            m = -np.inf
            for e in range(Te):
                if (not has_mask or mask[n, e]) and a[n, t, e] > m:
                    m = a[n, t, e]
            if m == -np.inf:  # every key masked: zero weights
                for e in range(Te):
                    a[n, t, e] = 0
                continue
            z = a.dtype.type(0.0)
            for e in range(Te):
                if not has_mask or mask[n, e]:
                    v = math.exp(a[n, t, e] - m)
                    a[n, t, e] = v
                    z += v
                else:
                    a[n, t, e] = 0
            for e in range(Te):
                a[n, t, e] /= z


@njit(**_JIT)
def softmax_backward_rows(a, ds):
    # a (N, Td, Te) weights, ds (N, Td, Te) da in, ds = a * (da - <a, da>) out (in place)
    N, Td, Te = a.shape
    for n in range(N):
        for t in range(Td):
            dot = a.dtype.type(0.0)
            for e in range(Te):
                dot += a[n, t, e] * ds[n, t, e]
            for e in range(Te):
                ds[n, t, e] = a[n, t, e] * (ds[n, t, e] - dot)


@njit(**_JIT)
def _kept(mask, has_mask, n, j, i, causal):
    return (not has_mask or mask[n, j] != 0) and (not causal or j <= i)


@njit(**_JIT)
def online_block(s, m, l, o, mask, has_mask, Hh, j0, q0, causal):
    # One key block of the streaming softmax. s (BH, R, bk) scaled scores of queries q0.. against keys
    # j0.., replaced in place by exp(s - m_new) (0 where masked); m, l (BH, Tq) running max and sum,
    # o (BH, Tq, dv) running output: rows rescaled by exp(m_old - m_new) here, P @ v added by the caller
    BH, R, bk = s.shape
    dv = o.shape[2]
    for b in range(BH):
        n = b // Hh
        for r in range(R):
            i = q0 + r
            mb = -np.inf
            for j in range(bk):
                if _kept(mask, has_mask, n, j0 + j, i, causal) and s[b, r, j] > mb:
                    mb = s[b, r, j]
            mo = m[b, i]
            mn = mb if mb > mo else mo
            if mn == -np.inf:
                for j in range(bk):
                    s[b, r, j] = 0
                continue
            tot = s.dtype.type(0.0)
            for j in range(bk):
                if _kept(mask, has_mask, n, j0 + j, i, causal):
                    v = math.exp(s[b, r, j] - mn)
                    s[b, r, j] = v
                    tot += v
                else:
                    s[b, r, j] = 0
            if mo != mn:
                corr = 0.0 if mo == -np.inf else math.exp(mo - mn)
                l[b, i] *= corr
                for c in range(dv):
                    o[b, i, c] *= corr
                m[b, i] = mn
            l[b, i] += tot


@njit(**_JIT)
def finalize(o, m, l, lse):
    # o /= l per row; lse = m + log(l), +inf (and a zero row) where no key was seen
    BH, Tq, dv = o.shape
    for b in range(BH):
        for i in range(Tq):
            if l[b, i] > 0:
                inv = 1.0 / l[b, i]
                for c in range(dv):
                    o[b, i, c] *= inv
                lse[b, i] = m[b, i] + math.log(l[b, i])
            else:
                for c in range(dv):
                    o[b, i, c] = 0
                lse[b, i] = np.inf


@njit(**_JIT)
def recompute_p(s, lse, mask, has_mask, Hh, j0, q0, causal):
    # s (BH, R, bk) scaled scores -> P = exp(s - lse) in place, 0 where masked
    BH, R, bk = s.shape
    for b in range(BH):
        n = b // Hh
        for r in range(R):
            i = q0 + r
            L = lse[b, i]
            for j in range(bk):
                if L != np.inf and _kept(mask, has_mask, n, j0 + j, i, causal):
                    s[b, r, j] = math.exp(s[b, r, j] - L)
                else:
                    s[b, r, j] = 0


@njit(**_JIT)
def softmax_grad_block(p, dp, D, scale, q0):
    # dp (BH, R, bk) = dout v^T in, dS = p * (dp - D) * scale out (in place); D (BH, Tq)
    BH, R, bk = p.shape
    for b in range(BH):
        for r in range(R):
            d = D[b, q0 + r]
            for j in range(bk):
                dp[b, r, j] = p[b, r, j] * (dp[b, r, j] - d) * scale
