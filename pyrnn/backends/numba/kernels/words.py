"""Kernels of the word-level ops: embedding's scatter-add, softmax, softmax cross-entropy, the sigmoid
cross-entropy gradient and dropout (affine is NumPy GEMMs alone).

Row kernels (softmax, softmax cross-entropy) work on 2-D (rows, features) C-contiguous arrays (the
caller flattens the leading axes) in one pass per row, in the arrays' dtype (softmax adds its row
sums in float64). Row sums are sequential (the reference's NumPy sums are pairwise: results agree to
rounding), and every loop runs in a fixed order, so results are deterministic. Elementwise kernels
(dropout, the sigmoid cross-entropy gradient) take flat C-contiguous arrays (the caller flattens any
shape) and do the op in one pass, with the reference's expressions.
"""
import math

import numpy as np
from numba import njit

from .core import JIT, VECTORIZE, exp, sigmoid
# (exp and sigmoid are inlined into the cached kernels below: numba's on-disk cache sees changes to this
# file, not to core.py, so a change there must edit this file too, as issue 18's change to sigmoid's end did)


# ---- embedding -----------------------------------------------------------------------------------

@njit(**JIT)
def embedding_scatter_add(rows, grads, dW):
    # rows (M,) intp, grads (M, D), dW (V, D) in/out: dW[rows[k]] += grads[k] for k = 0, 1, ... in order
    # (the sequential order of the reference's np.add.at, so the sums are bitwise the same)
    M, D = grads.shape
    for k in range(M):
        r = rows[k]
        for d in range(D):
            dW[r, d] += grads[k, d]


# ---- softmax over the last axis ---------------------------------------------------------------

@njit(**VECTORIZE)
def softmax_forward(x, y):
    # x (R, V) -> y (R, V) softmax of each row: exponents shifted by the row max (all <= 0, the max term 1).
    # Row views and one loop per step, so the exp and divide loops vectorize; the max and the float64 sum
    # run over 8 interleaved partials (independent chains, a fixed order: deterministic).
    R, V = x.shape
    part = np.empty(8, dtype=np.float64)
    for r in range(R):
        xr, yr = x[r], y[r]
        m = xr[0]
        for v in range(V):
            m = max(m, xr[v])
        for v in range(V):
            yr[v] = exp(xr[v] - m)
        part[:] = 0.0
        for v in range(V):
            part[v & 7] += yr[v]
        s = yr.dtype.type(part.sum())
        for v in range(V):
            yr[v] = yr[v] / s


@njit(**VECTORIZE)
def softmax_backward(dy, y, dx):
    # dy, y (R, V) -> dx (R, V) = y * (dy - <dy, y>) per row (the softmax Jacobian, diag(y) - y y^T)
    R, V = y.shape
    for r in range(R):
        s = 0.0                            # float64 sum, as in the forward
        for v in range(V):
            s += dy[r, v] * y[r, v]
        st = y.dtype.type(s)
        for v in range(V):
            dx[r, v] = y[r, v] * (dy[r, v] - st)


# ---- softmax cross-entropy ---------------------------------------------------------------------

@njit(**JIT)
def softmax_cross_entropy_forward(x, t, ignore, has_ignore, y, logp):
    # x (R, V) scores, t (R,) intp labels -> y (R, V) softmax, logp (R,) log-probability of the label
    # (0 for an ignored row); returns the number of labels counted
    R, V = x.shape
    n_valid = 0
    for r in range(R):
        m = x[r, 0]
        for v in range(1, V):
            if x[r, v] > m:
                m = x[r, v]
        s = x.dtype.type(0.0)
        for v in range(V):
            s += math.exp(x[r, v] - m)     # every exponent <= 0, the max term is 1: s >= 1
        log_z = math.log(s)
        for v in range(V):
            y[r, v] = math.exp((x[r, v] - m) - log_z)
        if has_ignore and t[r] == ignore:
            logp[r] = 0
        else:
            logp[r] = (x[r, t[r]] - m) - log_z
            n_valid += 1
    return n_valid


@njit(**JIT)
def softmax_cross_entropy_backward(y, t, ignore, has_ignore, scale, dx):
    # y (R, V) softmax, t (R,) labels, scale (1,) = dloss / n_valid -> dx (R, V) = (y - onehot(t)) * scale,
    # exactly 0 on ignored rows
    R, V = y.shape
    s = scale[0]
    for r in range(R):
        if has_ignore and t[r] == ignore:
            for v in range(V):
                dx[r, v] = 0
        else:
            for v in range(V):
                dx[r, v] = y[r, v] * s
            dx[r, t[r]] = (y[r, t[r]] - y.dtype.type(1.0)) * s


# ---- sigmoid cross-entropy ---------------------------------------------------------------------

@njit(**VECTORIZE)
def sigmoid_cross_entropy_backward(x, t, scale, dx):
    # x, t, dx (n,), scale (1,) = dloss / n -> dx = (sigmoid(x) - t) * scale (the kernels' vectorizable sigmoid)
    s = scale[0]
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        dx[i] = (sigmoid(x[i], one) - t[i]) * s


# ---- dropout -----------------------------------------------------------------------------------

@njit(**VECTORIZE)
def dropout_forward(x, u, ratio, scale, y, keep):
    # x, y (n,), u (n,) float64 uniform draws, ratio float64, scale (1,) = 1 / (1 - ratio) in x's dtype
    # -> y = x * mask, keep (n,) bool = u > ratio; mask = scale where kept, else 0 (the reference's mask)
    s = scale[0]
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        k = u[i] > ratio
        keep[i] = k
        y[i] = x[i] * (s if k else zero)


@njit(**VECTORIZE)
def dropout_backward(dy, keep, scale, dx):
    # dy, dx (n,), keep (n,) bool, scale (1,) -> dx = dy * mask (multiplied, not selected: NaN * 0 stays NaN)
    s = scale[0]
    zero = dy.dtype.type(0.0)
    for i in range(dy.shape[0]):
        dx[i] = dy[i] * (s if keep[i] else zero)
