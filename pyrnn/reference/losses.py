"""Softmax, softmax cross-entropy (with an ignore label) and sigmoid cross-entropy.

Every loss is a 0-d array of the scores' dtype; its backward takes the incoming
gradient `dloss` as a 0-d array of that dtype. All math is done in that dtype
(python scalars are weak under NumPy 2 promotion, so they never upcast float32).
"""
from __future__ import annotations

from .._arrays import get_xp


def softmax_forward(x):
    # x (..., V) -> y (..., V), softmax over the last axis
    xp = get_xp(x)
    # Subtracting the row max makes every exponent <= 0: no overflow, and the
    # largest term is exp(0) = 1, so the sum is >= 1 (never 0).
    e = xp.exp(x - x.max(axis=-1, keepdims=True))
    y = e / e.sum(axis=-1, keepdims=True)
    return y, y


def softmax_backward(dy, saved):
    # dy (..., V) -> dx (..., V);  dx = y * (dy - <dy, y>)  (Jacobian diag(y) - y y^T)
    y = saved
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def softmax_cross_entropy_forward(xs, ts, ignore_label):
    # xs (..., V) scores, ts (...) integer labels -> loss () mean over labels != ignore_label
    xp = get_xp(xs)
    V = xs.shape[-1]
    x = xs.reshape(ts.size, V)
    t = ts.reshape(ts.size)
    valid = t != ignore_label if ignore_label is not None else xp.ones(t.shape, dtype=bool)
    n_valid = int(valid.sum())
    # An ignored label may be out of range (-1): gather at class 0 instead, the
    # result is discarded by `valid` below.
    t_safe = xp.where(valid, t, 0)
    # log-softmax = shifted - log(sum(exp(shifted))); the sum is >= 1, so the log
    # is finite and no log(0) of an underflowed probability is ever taken.
    shifted = x - x.max(axis=1, keepdims=True)
    log_z = xp.log(xp.exp(shifted).sum(axis=1))
    logp = shifted[xp.arange(t.size), t_safe] - log_z
    nll = -(logp * valid).sum()  # bool * float keeps the float dtype
    loss = xp.asarray(nll / max(n_valid, 1), dtype=xs.dtype)  # 0 when every label is ignored
    y = xp.exp(shifted - log_z[:, None])  # softmax, for the backward
    return loss, (y, t_safe, valid, n_valid, xs.shape)


def softmax_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (..., V);  d/dx of -log softmax(x)[t] is softmax(x) - onehot(t)
    y, t_safe, valid, n_valid, shape = saved
    xp = get_xp(y)
    dx = y.copy()
    dx[xp.arange(t_safe.size), t_safe] -= 1
    # ignored rows get exactly 0; the others share the mean's 1/n_valid
    dx *= (valid.astype(y.dtype) * (dloss / max(n_valid, 1)))[:, None]
    return dx.reshape(shape)


def _sigmoid(x):
    # x (...) -> sigmoid(x) (...), from e = exp(-|x|) <= 1 so nothing overflows
    xp = get_xp(x)
    e = xp.exp(-abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_cross_entropy_forward(xs, ts):
    # xs (...) scores, ts (...) targets in [0, 1] (int or float) -> loss () mean over elements
    xp = get_xp(xs)
    t = ts.astype(xs.dtype, copy=False)  # int targets must not promote float32 to float64
    # -t log s(x) - (1-t) log(1-s(x)) rewritten in the logits so that large |x|
    # never takes log(0):  max(x, 0) - x t + log(1 + exp(-|x|)).
    per_elem = xp.maximum(xs, 0) - xs * t + xp.log1p(xp.exp(-abs(xs)))
    loss = xp.asarray(per_elem.sum() / max(xs.size, 1), dtype=xs.dtype)
    return loss, (xs, t)


def sigmoid_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (...);  d/dx = (sigmoid(x) - t) / n
    xs, t = saved
    return (_sigmoid(xs) - t) * (dloss / max(xs.size, 1))
