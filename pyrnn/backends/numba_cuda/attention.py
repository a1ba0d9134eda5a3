"""The numba-cuda backend's attention ops.

The products are batched GEMMs through the array module (``xp.matmul``: cuBLAS on CuPy, NumPy
under Numba's CUDA simulator); the masked softmax, its backward and the recomputed weights are
numba.cuda row kernels (`kernels.attention`: one block per score row, fixed-order
shared-memory sums, no atomics, so every result is deterministic), launched on CuPy's current
stream like the rest of the backend.

* attention_* / weighted_sum_*: all decoder steps at once; the scores are computed straight into
  the weights array and normalised there in place.
* sdpa_*: while the weights (N, Hh, Tq, Tk) fit in `pyrnn.backends.limits.SDPA_WEIGHTS_BYTES`
  (256 MiB, the cuda backend's threshold too) they are materialised and kept for the backward.
  Above it the queries go in blocks of R rows (R * N * Hh * Tk weights fit the budget): the
  forward keeps only out and each row's logsumexp; the backward recomputes each block's weights
  from them and adds the block's dk, dv into the totals in block order (a fixed order:
  deterministic). Under a causal mask a block of queries below i1 needs only keys below i1.
  Extra memory is O(budget), whatever T is.

With a mask, the keys and values are read with their masked rows zeroed (`hide_masked_keys`), so a
NaN in a padded row cannot reach an output through its zero weight (0 * NaN = NaN in the products).

``saved`` keeps references to the inputs and to the forward's outputs, as the reference does.
"""
from __future__ import annotations

import math

import numpy as np

from pyrnn.backends import limits
from pyrnn.reference.attention import hide_masked_keys

from .core import device, launch_rows
from .kernels import attention as _kernels



def _launch_rows(dev, kernel, s, *args):
    """Launch a row kernel with one block per row of s (rows, K), s its first argument (nothing when s
    is empty; the least power of two >= K threads, at most core.ROW_BLOCK)."""
    launch_rows(dev, kernel, s, dev.arg(s), *args)


def _mask(dev, mask):
    """(mask as uint8 (N, Tk), has_mask) in kernel form; a 1x1 dummy when there is none."""
    xp = dev.xp
    if mask is None:
        return dev.arg(xp.ones((1, 1), dtype=xp.uint8)), False
    return dev.arg(xp.ascontiguousarray(mask).view(xp.uint8)), True


def _T(a):
    return a.swapaxes(-1, -2)


# ---- the book's attention, all decoder steps at once ---------------------------------------------

def _weights(dev, hs, hq, mask):
    # hs (N, Te, H), hq (N, Td, H), mask (N, Te) or None -> a (N, Td, Te) = masked softmax of hq hs^T
    xp = dev.xp
    N, Te, _ = hs.shape
    Td = hq.shape[1]
    a = xp.matmul(hq, _T(hs))  # a fresh C-contiguous array, normalised in place
    dt = np.dtype(a.dtype).type
    _launch_rows(dev, _kernels.masked_softmax_rows, a.reshape(N * Td, Te), Td, 0, 1, *_mask(dev, mask), False,
                 dt(1), dev.arg(xp.empty((1, 1), a.dtype)), False)
    return a


def _softmax_backward(dev, p, d, scale):
    # p, d (..., K) C-contiguous; d <- scale * p * (d - <p, d>) in place, row by row
    K = p.shape[-1]
    rows = p.size // K if K else 0
    _launch_rows(dev, _kernels.softmax_backward_rows, p.reshape(rows, K), dev.arg(d.reshape(rows, K)),
                 np.dtype(p.dtype).type(scale))


def attention_weights_forward(hs, hq, mask):
    # hs (N, Te, H), hq (N, Td, H), mask (N, Te) or None -> a (N, Td, Te)
    dev = device(hs)
    hs = hide_masked_keys(hs, mask)
    a = _weights(dev, hs, hq, mask)
    return a, (hs, hq, a)


def attention_weights_backward(da, saved):
    # da (N, Td, Te) -> dhs (N, Te, H), dhq (N, Td, H)
    hs, hq, a = saved
    dev = device(a)
    ds = dev.xp.array(da, order="C")  # the kernel works in place: never on the caller's array
    _softmax_backward(dev, a, ds, 1)
    return _T(ds) @ hq, ds @ hs


def weighted_sum_forward(hs, a):
    # hs (N, Te, H), a (N, Td, Te) -> c (N, Td, H)
    return a @ hs, (hs, a)


def weighted_sum_backward(dc, saved):
    # dc (N, Td, H) -> dhs (N, Te, H), da (N, Td, Te)
    hs, a = saved
    return _T(a) @ dc, dc @ _T(hs)


def attention_forward(hs, hq, mask, train):
    # hs (N, Te, H), hq (N, Td, H), mask (N, Te) or None -> c (N, Td, H), a (N, Td, Te)
    dev = device(hs)
    hs = hide_masked_keys(hs, mask)
    a = _weights(dev, hs, hq, mask)
    return a @ hs, a, ((hs, hq, a) if train else None)


def attention_backward(dc, saved):
    # dc (N, Td, H) -> dhs (N, Te, H), dhq (N, Td, H)
    hs, hq, a = saved
    dev = device(a)
    dhs = _T(a) @ dc                  # through the weighted sum
    ds = dc @ _T(hs)                  # da (a fresh array), then the score gradient in place
    _softmax_backward(dev, a, ds, 1)
    dhs += _T(ds) @ hq                # through the scores: hs feeds both
    return dhs, ds @ hs


# ---- scaled dot-product attention ----------------------------------------------------------------

def _query_block(N, Hh, Tq, Tk, itemsize):
    """Query rows per block: Tq (materialise) while the weights fit limits.SDPA_WEIGHTS_BYTES (the cuda
    backend's threshold too; read at each call: tests lower it to force several blocks), else as many
    as fit (at least one)."""
    budget = limits.SDPA_WEIGHTS_BYTES
    per_query = N * Hh * Tk * itemsize
    if per_query * Tq <= budget:
        return Tq
    return max(1, budget // per_query)


def _blocks(Tq, Tk, R, causal):
    """(i0, i1, keys) of each query block in order; causal: queries below i1 see keys below i1."""
    for i0 in range(0, Tq, R):
        i1 = min(Tq, i0 + R)
        yield i0, i1, (i1 if causal else Tk)


def sdpa_forward(q, k, v, mask, causal, train):
    # q (N, Hh, Tq, dk), k (N, Hh, Tk, dk), v (N, Hh, Tk, dv), mask (N, Tk) or None -> out (N, Hh, Tq, dv)
    dev = device(q)
    xp = dev.xp
    k, v = hide_masked_keys(k, mask), hide_masked_keys(v, mask)
    N, Hh, Tq, dk = q.shape
    Tk, dv = k.shape[2], v.shape[3]
    dt = np.dtype(q.dtype)
    scale = dt.type(1.0 / math.sqrt(dk) if dk else 1.0)  # rounded to the dtype, as the reference's product
    m8, has_mask = _mask(dev, mask)
    causal = bool(causal)
    R = _query_block(N, Hh, Tq, Tk, dt.itemsize)
    if R >= Tq:  # materialised: P kept for the backward (inference needs it as workspace anyway)
        P = xp.matmul(q, _T(k))  # (N, Hh, Tq, Tk) raw scores, softmaxed in place
        _launch_rows(dev, _kernels.masked_softmax_rows, P.reshape(N * Hh * Tq, Tk), Tq, 0, Hh, m8, has_mask, causal,
                     scale, dev.arg(xp.empty((1, 1), dt)), False)
        out = P @ v
        return out, (("full", q, k, v, P, scale) if train else None)
    out = xp.empty((N, Hh, Tq, dv), dt)
    lse = xp.empty((N * Hh, Tq), dt)
    k_lse = dev.arg(lse)
    for i0, i1, K in _blocks(Tq, Tk, R, causal):
        S = xp.matmul(q[:, :, i0:i1], _T(k[:, :, :K]))  # (N, Hh, i1 - i0, K)
        _launch_rows(dev, _kernels.masked_softmax_rows, S.reshape(N * Hh * (i1 - i0), K), i1 - i0, i0, Hh, m8,
                     has_mask, causal, scale, k_lse, True)
        out[:, :, i0:i1] = S @ v[:, :, :K]
    return out, (("blocked", q, k, v, m8, has_mask, causal, scale, lse, R) if train else None)


def sdpa_backward(dout, saved):
    # dout (N, Hh, Tq, dv) -> dq (N, Hh, Tq, dk), dk (N, Hh, Tk, dk), dv (N, Hh, Tk, dv)
    kind, q, k, v, *rest = saved
    dev = device(q)
    xp = dev.xp
    if kind == "full":
        P, scale = rest
        dS = dout @ _T(v)  # dP (a fresh array), then the score gradient in place
        _softmax_backward(dev, P, dS, scale)
        return dS @ k, _T(dS) @ q, _T(P) @ dout
    m8, has_mask, causal, scale, lse, R = rest
    N, Hh, Tq, _ = q.shape
    Tk = k.shape[2]
    dq = xp.empty(q.shape, q.dtype)
    dk, dv = xp.zeros(k.shape, k.dtype), xp.zeros(v.shape, v.dtype)
    k_lse = dev.arg(lse)
    for i0, i1, K in _blocks(Tq, Tk, R, causal):  # in order: dk, dv sum the blocks the same way every run
        qb, dob, kb, vb = q[:, :, i0:i1], dout[:, :, i0:i1], k[:, :, :K], v[:, :, :K]
        P = xp.matmul(qb, _T(kb))
        _launch_rows(dev, _kernels.recompute_weights, P.reshape(N * Hh * (i1 - i0), K), i1 - i0, i0, Hh, m8,
                     has_mask, causal, scale, k_lse)
        dv[:, :, :K] += _T(P) @ dob
        dS = dob @ _T(vb)
        _softmax_backward(dev, P, dS, scale)
        dq[:, :, i0:i1] = dS @ kb
        dk[:, :, :K] += _T(dS) @ qb
    return dq, dk, dv
