"""Row-wise kernels of the word-level ops: embedding scatter-add, softmax, softmax cross-entropy, layer norm.

Each works on 2-D (rows, features) C-contiguous arrays (the caller flattens the
leading axes) in one pass per row, in the arrays' dtype (softmax adds its row sums in
float64). Row sums are sequential
(the reference's NumPy sums are pairwise: results agree to rounding), and every
loop runs in a fixed order, so results are deterministic.
"""
import math

import numpy as np
from numba import njit

from .scalar import exp

_JIT = dict(cache=True, nogil=True)
_VEC = dict(_JIT, error_model="numpy")  # no zero-division branch: loops with scalar.exp vectorize


@njit(**_JIT)
def embedding_scatter_add(rows, grads, dW):
    # rows (M,) intp, grads (M, D), dW (V, D) in/out: dW[rows[k]] += grads[k] for k = 0, 1, ... in order
    # (the sequential order of the reference's np.add.at, so the sums are bitwise the same)
    M, D = grads.shape
    for k in range(M):
        r = rows[k]
        for d in range(D):
            dW[r, d] += grads[k, d]


@njit(**_JIT)
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


@njit(**_JIT)
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


@njit(**_JIT)
def layer_norm_forward(x, gamma, beta, eps, y, xhat, rstd):
    # x (R, D), gamma, beta (D,), eps (1,) -> y, xhat (R, D), rstd (R,)
    R, D = x.shape
    ty = x.dtype.type
    for r in range(R):
        s = ty(0.0)
        for d in range(D):
            s += x[r, d]
        mu = s / ty(D)
        s = ty(0.0)
        for d in range(D):
            xc = x[r, d] - mu
            s += xc * xc
        rs = ty(1.0) / math.sqrt(s / ty(D) + eps[0])   # biased variance (divide by D)
        rstd[r] = rs
        for d in range(D):
            xh = (x[r, d] - mu) * rs
            xhat[r, d] = xh
            y[r, d] = xh * gamma[d] + beta[d]


@njit(**_JIT)
def layer_norm_backward(dy, xhat, rstd, gamma, dx, dgamma, dbeta):
    # dy, xhat (R, D), rstd (R,), gamma (D,) -> dx (R, D); dgamma, dbeta (D,) zeroed by the caller, summed
    # over rows in row order
    R, D = dy.shape
    ty = dy.dtype.type
    for r in range(R):
        sg = ty(0.0)
        sgx = ty(0.0)
        for d in range(D):
            g = dy[r, d] * gamma[d]
            sg += g
            sgx += g * xhat[r, d]
            dgamma[d] += dy[r, d] * xhat[r, d]
            dbeta[d] += dy[r, d]
        mg = sg / ty(D)
        mgx = sgx / ty(D)
        for d in range(D):
            dx[r, d] = rstd[r] * (dy[r, d] * gamma[d] - mg - xhat[r, d] * mgx)


@njit(**_VEC)
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


@njit(**_VEC)
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
