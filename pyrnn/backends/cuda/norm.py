"""The cuda backend's norm op: layer norm (kernels/include/pyrnn_cuda/norm.cuh). x (..., D) flattened
to (R, D) rows (a copy only when x is not C-contiguous); gamma, beta (D,). One thread block per row;
the forward keeps only each row's mean and 1/std, the backward recomputes xhat from x and sums
dgamma/dbeta over fixed 64-row chunks whose partials are added in chunk order (bitwise the same on
every run). No rows: no launch."""
from __future__ import annotations

from pyrnn._arrays import contiguous

from ._launch import constant, empty, launch, on_device


def layer_norm_forward(x, gamma, beta, eps):
    with on_device(x=x, gamma=gamma, beta=beta) as dev:
        D = x.shape[-1]
        R = x.size // D
        x2, gamma, beta = contiguous(x).reshape(R, D), contiguous(gamma), contiguous(beta)
        dt = x.dtype
        y, mean, rstd = empty((R, D), dt), empty((R,), dt), empty((R,), dt)
        launch("layer_norm_forward", dev, dt, R=R, D=D, x=x2, gamma=gamma, beta=beta, eps=float(eps), y=y, mean=mean,
               rstd=rstd)
    return y.reshape(x.shape), (x2, mean, rstd, gamma, x.shape)


def layer_norm_backward(dy, saved):
    x2, mean, rstd, gamma, shape = saved
    with on_device(x=x2, dy=dy) as dev:
        R, D = x2.shape
        dy2 = contiguous(dy).reshape(R, D)
        dt = x2.dtype
        dx, dgamma, dbeta = empty((R, D), dt), empty((D,), dt), empty((D,), dt)
        chunks = -(-R // constant("layer_norm_rows_per_chunk"))
        part = empty((chunks, 2, D), "float64")  # workspace: each chunk's dgamma and dbeta partials
        launch("layer_norm_backward", dev, dt, R=R, D=D, dy=dy2, x=x2, mean=mean, rstd=rstd, gamma=gamma, dx=dx,
               dgamma=dgamma, dbeta=dbeta, part=part)
    return dx.reshape(shape), dgamma, dbeta
