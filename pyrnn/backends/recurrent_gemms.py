"""The GEMM parts around a fused recurrent time loop, shared by the Numba CPU and Numba CUDA backends.

Both run the same plan (shared/DESIGN.md): the input projection of all steps is one
GEMM before the loop, the weight gradients are GEMMs after it; only ``h @ Wh`` and
the fused gate pass run per step. These helpers are that "before" and "after", for
NumPy or CuPy arrays alike (the array module is taken from the arguments), and they
return fresh C-contiguous arrays the kernels may write.
"""
from __future__ import annotations

from .._arrays import get_xp


def rows(a):
    """(N, T, K) -> (N*T, K) with explicit sizes (empty dims reshape too); copies only if strided."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


def state(s, N, H, dtype, xp):
    """A fresh C-contiguous (N, H) state buffer: a copy of s, or zeros for None (kernels update it)."""
    if s is None:
        return xp.zeros((N, H), dtype=dtype)
    return xp.array(s, dtype=dtype, order="C")


def projection(xs, Wx, b):
    """xs (N, T, D) @ Wx (D, G) + b for every step as one GEMM -> (N, T, G), C-contiguous."""
    N, T, _ = xs.shape
    ax = (rows(xs) @ Wx).reshape(N, T, Wx.shape[1])
    if b is not None:
        ax += b
    return ax


def input_grads(xs, Wx, dA, has_bias):
    """dA (N, T, G) gradient of xs @ Wx + b -> dxs (N, T, D), dWx (D, G), db (G,) or None (GEMMs)."""
    N, T, G = dA.shape
    dA2 = rows(dA)
    dxs = (dA2 @ Wx.T).reshape(N, T, Wx.shape[0])
    dWx = rows(xs).T @ dA2
    db = dA.sum(axis=(0, 1)) if has_bias else None
    return dxs, dWx, db


def prev_states(s0, ss):
    """s0 (N, H), ss (N, T, H) -> (N*T, H) rows: the state each step starts from (s0, s_0, ..., s_{T-2})."""
    N, T, H = ss.shape
    prev = get_xp(ss).empty_like(ss)
    if T:
        prev[:, 0] = s0
        prev[:, 1:] = ss[:, :-1]
    return rows(prev)
