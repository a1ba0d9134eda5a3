"""The C++ backend's layer normalisation (pyrnn._cpu: cpp/include/pyrnn/norm.hpp, bound in
cpp/bindings/norm.cpp): rows on pyrnn's threads, dgamma/dbeta summed per column in row order (bitwise
the same at any thread count), statistics accumulated in double.

Arguments arrive validated by `pyrnn.ops`; (..., D) is flattened to (R, D) for the kernel (a copy only
when x is not C-contiguous).
"""
from __future__ import annotations

import math

from pyrnn import _cpu
from pyrnn._arrays import contiguous


def layer_norm_forward(x, gamma, beta, eps):
    # x (..., D), gamma, beta (D,) -> y (..., D)
    D = x.shape[-1]
    R = math.prod(x.shape[:-1])
    x2 = contiguous(x).reshape(R, D)
    y, mean, rstd = _cpu.layer_norm_forward(x2, contiguous(gamma), contiguous(beta), float(eps), True)
    return y.reshape(x.shape), (x2, mean, rstd, contiguous(gamma), x.shape)


def layer_norm_backward(dy, saved):
    # dy (..., D) -> dx (..., D), dgamma (D,), dbeta (D,)
    x2, mean, rstd, gamma, shape = saved
    R, D = x2.shape
    dx, dgamma, dbeta = _cpu.layer_norm_backward(contiguous(dy).reshape(R, D), x2, mean, rstd, gamma)
    return dx.reshape(shape), dgamma, dbeta
