"""The Numba backend's layer norm: one fused ``@njit`` pass per row, forward and backward
(`kernels.norm`), over the input flattened to rows of its last axis."""
from __future__ import annotations

import math

import numpy as np

from pyrnn._arrays import contiguous

from .kernels import norm as _kernels


def layer_norm_forward(x, gamma, beta, eps):
    # x (..., D), gamma, beta (D,) -> y (..., D), normalised over the last axis
    D = x.shape[-1]
    R = math.prod(x.shape[:-1])
    x2 = contiguous(x.reshape(R, D), writeable=True)
    y, xhat = np.empty_like(x2), np.empty_like(x2)
    rstd = np.empty(R, dtype=x.dtype)
    _kernels.layer_norm_forward(x2, contiguous(gamma, writeable=True), contiguous(beta, writeable=True),
                                np.full(1, eps, dtype=x.dtype), y, xhat, rstd)
    return y.reshape(x.shape), (xhat, rstd, gamma, x.shape)


def layer_norm_backward(dy, saved):
    # dy (..., D) -> dx (..., D), dgamma (D,), dbeta (D,)
    xhat, rstd, gamma, shape = saved
    R, D = xhat.shape
    dx = np.empty_like(xhat)
    dgamma, dbeta = np.zeros(D, dtype=xhat.dtype), np.zeros(D, dtype=xhat.dtype)
    _kernels.layer_norm_backward(contiguous(dy.reshape(R, D), writeable=True), xhat, rstd,
                                 contiguous(gamma, writeable=True), dx, dgamma, dbeta)
    return dx.reshape(shape), dgamma, dbeta
