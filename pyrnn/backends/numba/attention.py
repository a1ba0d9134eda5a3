"""The Numba backend's attention ops.

As the rest of that backend: GEMMs in NumPy (batched matmul over BLAS), the row-wise parts in
fused ``@njit`` passes (`kernels.attention`).

* attention_* / weighted_sum_*: all decoder steps at once; scores are computed straight into the
  weights array and normalised there in place (no (N, Td, Te, H) products).
* sdpa_*: streaming softmax over blocks of BLOCK keys for all heads at once: the forward keeps the
  output and one log-sum-exp per query row; the backward recomputes each probability block. Memory
  is O(heads * Tq * BLOCK), not O(heads * Tq * Tk). Under a causal mask the queries before a key
  block are skipped.

Masked keys contribute nothing: their rows of the keys and values are read as zeros
(`hide_masked_keys`), so a NaN there cannot reach an output through its zero weight.

``saved`` keeps references to the inputs and to the forward's outputs (``a``, ``out``).
"""
from __future__ import annotations

import numpy as np

from pyrnn._arrays import contiguous
from pyrnn.reference.attention import hide_masked_keys

from .kernels import attention as _kernels

BLOCK = 256  # keys per block of the streaming softmax
_NO_MASK = np.ones((1, 1), dtype=np.uint8)


def _mask(mask):
    if mask is None:
        return _NO_MASK, False
    return np.ascontiguousarray(mask).view(np.uint8), True


def _T(a):
    return a.transpose(0, 2, 1)


# ---- the book's attention, all decoder steps at once ---------------------------------------------

def _weights(hs, hq, mask):
    # hs with its masked rows hidden -> a (N, Td, Te)
    a = np.matmul(hq, _T(hs))  # (N, Td, Te), normalised in place below
    _kernels.masked_softmax_rows(a, *_mask(mask))
    return a


def attention_weights_forward(hs, hq, mask):
    hs = hide_masked_keys(hs, mask)
    a = _weights(hs, hq, mask)
    return a, (hs, hq, a)


def attention_weights_backward(da, saved):
    hs, hq, a = saved
    ds = np.array(da, order="C")  # the kernel works in place: never on the caller's array
    _kernels.softmax_backward_rows(a, ds)
    return np.matmul(_T(ds), hq), np.matmul(ds, hs)


def weighted_sum_forward(hs, a):
    return np.matmul(a, hs), (hs, a)


def weighted_sum_backward(dc, saved):
    hs, a = saved
    return np.matmul(_T(a), dc), np.matmul(dc, _T(hs))


def attention_forward(hs, hq, mask, train):
    hs = hide_masked_keys(hs, mask)
    a = _weights(hs, hq, mask)
    c = np.matmul(a, hs)
    return c, a, ((hs, hq, a) if train else None)


def attention_backward(dc, saved):
    hs, hq, a = saved
    dhs = np.matmul(_T(a), dc)             # through the weighted sum
    ds = np.matmul(dc, _T(hs))             # da, then ds in place
    _kernels.softmax_backward_rows(a, ds)
    dhs += np.matmul(_T(ds), hq)           # through the scores
    return dhs, np.matmul(ds, hs)


# ---- scaled dot-product attention ----------------------------------------------------------------

def _heads(a):
    N, Hh, T, d = a.shape
    return contiguous(a, writeable=True).reshape(N * Hh, T, d)


def sdpa_forward(q, k, v, mask, causal, train):
    N, Hh, Tq, dk = q.shape
    Tk, dv = k.shape[2], v.shape[3]
    scale = 1.0 / np.sqrt(dk) if dk else 1.0
    q3, k3, v3 = _heads(q), _heads(hide_masked_keys(k, mask)), _heads(hide_masked_keys(v, mask))
    m8, has_mask = _mask(mask)
    BH = N * Hh
    o = np.zeros((BH, Tq, dv), dtype=q.dtype)
    m = np.full((BH, Tq), -np.inf, dtype=q.dtype)
    l = np.zeros((BH, Tq), dtype=q.dtype)
    for j0 in range(0, Tk, BLOCK):
        j1 = min(Tk, j0 + BLOCK)
        q0 = j0 if causal else 0  # queries before the block see none of its keys
        if q0 >= Tq:
            break
        s = np.matmul(q3[:, q0:], _T(k3[:, j0:j1]))
        s *= s.dtype.type(scale)
        _kernels.online_block(s, m, l, o, m8, has_mask, Hh, j0, q0, bool(causal))
        o[:, q0:] += np.matmul(s, v3[:, j0:j1])
    lse = np.empty((BH, Tq), dtype=q.dtype)
    _kernels.finalize(o, m, l, lse)
    out = o.reshape(N, Hh, Tq, dv)
    return out, ((q3, k3, v3, m8, has_mask, bool(causal), scale, out, lse, Hh) if train else None)


def sdpa_backward(dout, saved):
    q3, k3, v3, m8, has_mask, causal, scale, out, lse, Hh = saved
    BH, Tq, dk = q3.shape
    Tk, dv = k3.shape[1], v3.shape[2]
    do3 = _heads(dout)
    D = np.einsum("btc,btc->bt", do3, out.reshape(BH, Tq, dv))  # rowsum(P * dP) = <dout, out>
    dq = np.zeros_like(q3)
    dkk = np.zeros_like(k3)
    dvv = np.zeros_like(v3)
    for j0 in range(0, Tk, BLOCK):
        j1 = min(Tk, j0 + BLOCK)
        q0 = j0 if causal else 0
        if q0 >= Tq:
            break
        qb, dob = q3[:, q0:], do3[:, q0:]
        p = np.matmul(qb, _T(k3[:, j0:j1]))
        p *= p.dtype.type(scale)
        _kernels.recompute_p(p, lse, m8, has_mask, Hh, j0, q0, causal)
        dvv[:, j0:j1] = np.matmul(_T(p), dob)
        ds = np.matmul(dob, _T(v3[:, j0:j1]))
        _kernels.softmax_grad_block(p, ds, D, scale, q0)
        dq[:, q0:] += np.matmul(ds, k3[:, j0:j1])
        dkk[:, j0:j1] = np.matmul(_T(ds), qb)
    N = BH // Hh
    return (dq.reshape(N, Hh, Tq, dk), dkk.reshape(N, Hh, Tk, dk), dvv.reshape(N, Hh, Tk, dv))
