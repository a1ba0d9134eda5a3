"""Affine map over the last axis (the book's Affine / TimeAffine): out = x @ W + b."""
from __future__ import annotations

import math


def _as_rows(a):
    # a (..., K) -> (prod(...), K); explicit sizes so empty leading dims reshape
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def affine_forward(x, W, b):
    # x (..., D), W (D, M), b (M,) or None -> out (..., M)
    out = _as_rows(x) @ W  # all leading axes (batch, time) as one GEMM
    if b is not None:
        out += b  # out is a fresh array: adding in place touches no input
    return out.reshape(x.shape[:-1] + (W.shape[1],)), (x, W, b is not None)


def affine_backward(dout, saved):
    # dout (..., M) -> dx (..., D), dW (D, M), db (M,) or None
    x, W, has_bias = saved
    g = _as_rows(dout)
    dx = (g @ W.T).reshape(x.shape)
    dW = _as_rows(x).T @ g
    db = g.sum(axis=0) if has_bias else None
    return dx, dW, db
