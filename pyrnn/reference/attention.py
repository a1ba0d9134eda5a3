"""Attention: the book's AttentionWeight / WeightSum / Attention for all decoder
steps at once, and scaled dot-product (multi-head) attention.

Masks are bool, True = attend. A masked score becomes -inf before the softmax,
so its weight is exactly exp(-inf) = 0. A query whose keys are all masked gets
all-zero weights (hence a zero output and zero gradients), not the 0/0 = NaN a
plain softmax would give. A masked key contributes exactly nothing: its key and
value rows are read as zeros (`hide_masked_keys`), so a NaN or Inf there reaches
no output or gradient (a zero weight alone would not do: 0 * NaN = NaN), and the
gradients of its rows are exactly 0.
"""
from __future__ import annotations

import math

import numpy as np

from .._arrays import get_xp
from .words import softmax_backward, softmax_forward


def hide_masked_keys(x, mask, only_holes=False):
    """x (N, T, d) keys/values, or (N, Hh, T, d) per head, with the rows of masked keys (mask (N, T)
    False) set to 0: what every backend multiplies instead of x, so that a NaN or Inf in a padded
    row cannot reach an output through its zero weight. x itself, with no pass over it, when mask is
    None (or, on NumPy, keeps every key). `only_holes`: for kernels that already stop at each
    sequence's last kept key (the C++ ones), x itself unless a masked key comes before a kept one."""
    if mask is None:
        return x
    xp = get_xp(x)
    if xp is np:  # cheap passes over the bool mask (on a GPU they would wait for the device)
        gap = ~mask[:, :-1] & mask[:, 1:] if only_holes else ~mask
        if not gap.any():
            return x
    keep = mask[:, None, :, None] if x.ndim == 4 else mask[:, :, None]
    return xp.where(keep, x, xp.zeros((), dtype=x.dtype))


def _masked_softmax(s, keep):
    # s (..., Tk) scores, keep bool broadcastable to s or None -> a (..., Tk) over the last axis
    if keep is None:
        return softmax_forward(s)[0]
    xp = get_xp(s)
    s = xp.where(keep, s, xp.asarray(-xp.inf, dtype=s.dtype))  # a same-dtype -inf: no promotion
    m = s.max(axis=-1, keepdims=True)
    # An all-masked row has max -inf, and -inf - (-inf) = NaN: shift it by 0 instead,
    # so its exponentials are exp(-inf) = 0 too.
    m = xp.where(xp.isfinite(m), m, xp.asarray(0, dtype=s.dtype))
    e = xp.exp(s - m)
    z = e.sum(axis=-1, keepdims=True)  # >= 1 (the max term is exp(0)) unless all masked
    z = xp.where(z > 0, z, xp.asarray(1, dtype=s.dtype))  # all masked: a = 0 / 1 = 0
    return e / z


def _weights(hs, hq, mask):
    # hs (N, Te, H) with its masked rows hidden, hq (N, Td, H), mask (N, Te) or None -> a (N, Td, Te)
    s = hq @ hs.swapaxes(1, 2)  # s[n, t, e] = <hq[n, t], hs[n, e]>, every decoder step at once
    keep = None if mask is None else mask[:, None, :]  # the same keys for every query step
    return _masked_softmax(s, keep)


def attention_weights_forward(hs, hq, mask):
    # hs (N, Te, H), hq (N, Td, H), mask (N, Te) or None -> a (N, Td, Te)
    hs = hide_masked_keys(hs, mask)  # also for the backward's ds @ hs
    a = _weights(hs, hq, mask)
    return a, (hs, hq, a)


def attention_weights_backward(da, saved):
    # da (N, Td, Te) -> dhs (N, Te, H), dhq (N, Td, H)
    hs, hq, a = saved
    ds = softmax_backward(da, a)  # masked entries have a = 0, so ds = 0 there
    return ds.swapaxes(1, 2) @ hq, ds @ hs


def weighted_sum_forward(hs, a):
    # hs (N, Te, H), a (N, Td, Te) -> c (N, Td, H)
    return a @ hs, (hs, a)


def weighted_sum_backward(dc, saved):
    # dc (N, Td, H) -> dhs (N, Te, H), da (N, Td, Te)
    hs, a = saved
    return a.swapaxes(1, 2) @ dc, dc @ hs.swapaxes(1, 2)


def attention_forward(hs, hq, mask, train):
    # hs (N, Te, H), hq (N, Td, H), mask (N, Te) or None -> c (N, Td, H), a (N, Td, Te)
    hs = hide_masked_keys(hs, mask)  # the keys and the values
    a = _weights(hs, hq, mask)
    c, saved_s = weighted_sum_forward(hs, a)
    return c, a, (((hs, hq, a), saved_s) if train else None)


def attention_backward(dc, saved):
    # dc (N, Td, H) -> dhs (N, Te, H), dhq (N, Td, H)
    saved_w, saved_s = saved
    dhs_sum, da = weighted_sum_backward(dc, saved_s)
    dhs_w, dhq = attention_weights_backward(da, saved_w)
    return dhs_sum + dhs_w, dhq  # hs feeds both the scores and the weighted sum


def sdpa_forward(q, k, v, mask, causal, train):
    # q (N, Hh, Tq, dk), k (N, Hh, Tk, dk), v (N, Hh, Tk, dv), mask (N, Tk) or None -> out (N, Hh, Tq, dv)
    xp = get_xp(q)
    Tq, dk = q.shape[2], q.shape[3]
    Tk = k.shape[2]
    scale = 1.0 / math.sqrt(dk) if dk else 1.0  # dk = 0: every score is 0 whatever the scale
    k, v = hide_masked_keys(k, mask), hide_masked_keys(v, mask)  # kept for the backward too
    s = (q @ k.swapaxes(2, 3)) * scale  # (N, Hh, Tq, Tk)
    keep = None
    if mask is not None:
        keep = mask[:, None, None, :]  # key padding: the same for every head and query
    if causal:
        tri = xp.tril(xp.ones((Tq, Tk), dtype=bool))  # query i sees keys j <= i
        keep = tri if keep is None else keep & tri
    p = _masked_softmax(s, keep)
    out = p @ v
    return out, ((q, k, v, p, scale) if train else None)


def sdpa_backward(dout, saved):
    # dout (N, Hh, Tq, dv) -> dq (N, Hh, Tq, dk), dk (N, Hh, Tk, dk), dv (N, Hh, Tk, dv)
    q, k, v, p, scale = saved
    dv = p.swapaxes(2, 3) @ dout
    dp = dout @ v.swapaxes(2, 3)
    ds = softmax_backward(dp, p) * scale  # masked entries have p = 0, so ds = 0 there
    return ds @ k, ds.swapaxes(2, 3) @ q, dv
