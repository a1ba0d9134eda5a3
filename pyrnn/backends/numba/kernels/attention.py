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

from .core import JIT, VECTORIZE, exp  # exp: vectorizable in float32 (libm for float64)


@njit(**JIT)
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


@njit(**JIT)
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


@njit(**VECTORIZE)
def _hide_keys(row, mask, has_mask, n, i, j0, causal):
    # row (bk) scores of query i of sequence n against keys j0.. -> -inf for the keys it does not see:
    # those after i (causal) and the masked ones
    bk = row.shape[0]
    jlim = min(bk, max(0, i - j0 + 1)) if causal else bk
    for j in range(jlim, bk):
        row[j] = -np.inf
    if has_mask:
        mrow = mask[n, j0:j0 + jlim]
        for j in range(jlim):
            if mrow[j] == 0:
                row[j] = -np.inf


@njit(**VECTORIZE)
def _exp_shifted(row, shift):
    # row[j] <- exp(row[j] - shift), exactly 0 where row[j] is -inf (a hidden key; the vectorizable
    # float32 exp clamps its argument, so it would give 1e-38 there); a NaN stays NaN
    for j in range(row.shape[0]):
        x = row[j]
        row[j] = exp(x - shift) * row.dtype.type(x > -np.inf or x != x)


@njit(**VECTORIZE)
def _row_max(row):
    # max of row (-inf when empty) over 8 interleaved partials: 8 independent chains, a fixed order
    n = row.shape[0]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = row.dtype.type(-np.inf)
    j = 0
    while j + 8 <= n:
        m0, m1, m2, m3 = max(m0, row[j]), max(m1, row[j + 1]), max(m2, row[j + 2]), max(m3, row[j + 3])
        m4, m5, m6, m7 = max(m4, row[j + 4]), max(m5, row[j + 5]), max(m6, row[j + 6]), max(m7, row[j + 7])
        j += 8
    for k in range(j, n):
        m0 = max(m0, row[k])
    return max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))


@njit(**VECTORIZE)
def _row_sum(row):
    # sum of row in float64 over 8 interleaved partials (a fixed order)
    n = row.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    j = 0
    while j + 8 <= n:
        s0 += row[j]
        s1 += row[j + 1]
        s2 += row[j + 2]
        s3 += row[j + 3]
        s4 += row[j + 4]
        s5 += row[j + 5]
        s6 += row[j + 6]
        s7 += row[j + 7]
        j += 8
    for k in range(j, n):
        s0 += row[k]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(**VECTORIZE)
def online_block(s, m, l, o, mask, has_mask, Hh, j0, q0, causal):
    # One key block of the streaming softmax. s (BH, R, bk) scaled scores of queries q0.. against keys
    # j0.., replaced in place by exp(s - m_new) (0 where masked); m, l (BH, Tq) running max and sum,
    # o (BH, Tq, dv) running output: rows rescaled by exp(m_old - m_new) here, P @ v added by the caller.
    # One loop per pass over 1-D row views, so the exp loop vectorizes (float32: core.exp); the row
    # max and sum run over 8 interleaved partials (independent chains, a fixed order).
    BH, R, bk = s.shape
    for b in range(BH):
        for r in range(R):
            i = q0 + r
            row = s[b, r]
            _hide_keys(row, mask, has_mask, b // Hh, i, j0, causal)
            mb = _row_max(row)
            mo = m[b, i]
            mn = max(mb, mo)
            if mn == -np.inf:  # nothing kept in this row so far
                row[:] = 0
                continue
            _exp_shifted(row, mn)
            tot = _row_sum(row)
            if mo != mn:
                corr = 0.0 if mo == -np.inf else math.exp(mo - mn)
                l[b, i] *= corr
                o[b, i] *= corr
                m[b, i] = mn
            l[b, i] += row.dtype.type(tot)


@njit(**JIT)
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


@njit(**VECTORIZE)
def recompute_p(s, lse, mask, has_mask, Hh, j0, q0, causal):
    # s (BH, R, bk) scaled scores -> P = exp(s - lse) in place, 0 where masked or the row saw no key
    BH, R, bk = s.shape
    for b in range(BH):
        for r in range(R):
            i = q0 + r
            row = s[b, r]
            L = lse[b, i]
            if L == np.inf:  # the row saw no key
                row[:] = 0
                continue
            _hide_keys(row, mask, has_mask, b // Hh, i, j0, causal)
            _exp_shifted(row, L)


@njit(**VECTORIZE)
def softmax_grad_block(p, dp, D, scale, q0):
    # dp (BH, R, bk) = dout v^T in, dS = p * (dp - D) * scale out (in place); D (BH, Tq)
    BH, R, bk = p.shape
    for b in range(BH):
        for r in range(R):
            d = D[b, q0 + r]
            pr, dr = p[b, r], dp[b, r]
            for j in range(bk):
                dr[j] = pr[j] * (dr[j] - d) * scale
