"""The C++ backend's layer normalisation (pyrnn._cpu, cpp/include/pyrnn/layer_norm.hpp), re-exported by
`pyrnn.backends.cpp`: rows on pyrnn's threads, dgamma/dbeta summed per column in row order (bitwise the
same at any thread count), statistics accumulated in double.

Arguments arrive validated by `pyrnn.ops`; (..., D) is flattened to (R, D) for the kernel (a copy only
when x is not C-contiguous).
"""
from __future__ import annotations

import math

from pyrnn.backends.cpp import _c, _cpu

__all__ = ["layer_norm_forward", "layer_norm_backward"]
if not hasattr(_cpu, "layer_norm_forward"):  # no module, or a build older than this kernel: export
    __all__ = []                             # nothing, so the dispatcher runs it on the next backend


def layer_norm_forward(x, gamma, beta, eps):
    # x (..., D), gamma, beta (D,) -> y (..., D)
    D = x.shape[-1]
    R = math.prod(x.shape[:-1])
    x2 = _c(x).reshape(R, D)
    y, mean, rstd = _cpu.layer_norm_forward(x2, _c(gamma), _c(beta), float(eps), True)
    return y.reshape(x.shape), (x2, mean, rstd, _c(gamma), x.shape)


def layer_norm_backward(dy, saved):
    # dy (..., D) -> dx (..., D), dgamma (D,), dbeta (D,)
    x2, mean, rstd, gamma, shape = saved
    R, D = x2.shape
    dx, dgamma, dbeta = _cpu.layer_norm_backward(_c(dy).reshape(R, D), x2, mean, rstd, gamma)
    return dx.reshape(shape), dgamma, dbeta
