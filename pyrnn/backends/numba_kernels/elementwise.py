"""Elementwise kernels of the word-level ops: dropout and sigmoid cross-entropy.

Each takes flat C-contiguous arrays (the caller flattens any shape) and does the
op in one pass, in the arrays' dtype, with the reference's expressions.
"""
import math

from numba import njit

_JIT = dict(cache=True, nogil=True)
_BLOCK = 256  # elements per partial sum of the loss (bounds the float rounding of long sums)


@njit(**_JIT)
def dropout_forward(x, u, ratio, scale, y, keep):
    # x, y (n,), u (n,) float64 uniform draws, ratio float64, scale (1,) = 1 / (1 - ratio) in x's dtype
    # -> y = x * mask, keep (n,) bool = u > ratio; mask = scale where kept, else 0 (the reference's mask)
    s = scale[0]
    zero = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        k = u[i] > ratio
        keep[i] = k
        y[i] = x[i] * (s if k else zero)


@njit(**_JIT)
def dropout_backward(dy, keep, scale, dx):
    # dy, dx (n,), keep (n,) bool, scale (1,) -> dx = dy * mask (multiplied, not selected: NaN * 0 stays NaN)
    s = scale[0]
    zero = dy.dtype.type(0.0)
    for i in range(dy.shape[0]):
        dx[i] = dy[i] * (s if keep[i] else zero)


@njit(**_JIT)
def sigmoid_cross_entropy_sum(x, t):
    # x, t (n,) in one dtype -> sum over i of max(x, 0) - x t + log1p(exp(-|x|)), per element in the dtype;
    # summed in float64 over blocks of _BLOCK, then the block sums (error ~ (_BLOCK + n / _BLOCK) * 1e-16)
    n = x.shape[0]
    zero = x.dtype.type(0.0)
    total = 0.0
    for start in range(0, n, _BLOCK):
        part = 0.0
        for i in range(start, min(start + _BLOCK, n)):
            xi = x[i]
            part += max(xi, zero) - xi * t[i] + math.log1p(math.exp(-abs(xi)))
        total += part
    return total


@njit(**_JIT)
def sigmoid_cross_entropy_backward(x, t, scale, dx):
    # x, t, dx (n,), scale (1,) = dloss / n -> dx = (sigmoid(x) - t) * scale, sigmoid from e = exp(-|x|) <= 1
    s = scale[0]
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        e = math.exp(-abs(x[i]))
        sg = one / (one + e) if x[i] >= 0 else e / (one + e)
        dx[i] = (sg - t[i]) * s
