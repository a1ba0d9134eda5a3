"""Kernels of layer norm, forward and backward, over the rows of 2-D (rows, features) C-contiguous
arrays (the caller flattens the leading axes): one pass per row, in the arrays' dtype, every loop in a
fixed order (deterministic). Row sums are sequential (the reference's NumPy sums are pairwise: results
agree to rounding).
"""
import math

from numba import njit

from .core import JIT


@njit(**JIT)
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


@njit(**JIT)
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
