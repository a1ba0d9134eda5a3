"""The numba-cuda backend's layer norm: one block per row for the output and the input gradient
(`kernels.norm`), the parameter gradients as deterministic column sums (fixed order, no atomics)."""
from __future__ import annotations

import numpy as np

from pyrnn._arrays import contiguous

from .core import column_sums, device, flat, launch_rows
from .kernels import norm as _kernels


def layer_norm_forward(x, gamma, beta, eps):
    # x (..., D), gamma, beta (D,) -> y (..., D), normalised over the last axis; saves the (contiguous)
    # input and each row's mean and 1/std: the backward recomputes xhat from them
    dev = device(x)
    xp, a = dev.xp, dev.arg
    x2 = contiguous(flat(x, x.shape[-1]))
    R = x2.shape[0]
    y, mean, rstd = xp.empty_like(x2), xp.empty(R, dtype=x.dtype), xp.empty(R, dtype=x.dtype)
    launch_rows(dev, _kernels.layer_norm_forward, x2, a(x2), a(contiguous(gamma)), a(contiguous(beta)),
                np.dtype(x.dtype).type(eps), a(y), a(mean), a(rstd))
    return y.reshape(x.shape), (x2, mean, rstd, gamma, x.shape)


def layer_norm_backward(dy, saved):
    # dy (..., D) -> dx (..., D), dgamma (D,), dbeta (D,): one row kernel for dx, deterministic column sums
    x2, mean, rstd, gamma, shape = saved
    dev = device(x2)
    xp, a = dev.xp, dev.arg
    R, D = x2.shape
    dy2, g = contiguous(dy.reshape(R, D)), contiguous(gamma)
    dx = xp.empty_like(x2)
    launch_rows(dev, _kernels.layer_norm_backward, x2, a(dy2), a(x2), a(mean), a(rstd), a(g), a(dx))
    dgamma, dbeta = column_sums(dev, _kernels.layer_norm_param_partials, R, D, x2.dtype, 2, dy2, x2, mean, rstd)
    return dx.reshape(shape), dgamma, dbeta
