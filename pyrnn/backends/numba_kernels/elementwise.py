"""Elementwise kernels of the word-level ops: dropout and the sigmoid cross-entropy gradient.

Each takes flat C-contiguous arrays (the caller flattens any shape) and does the
op in one pass, in the arrays' dtype, with the reference's expressions.
"""
from numba import njit

from .scalar import sigmoid

_JIT = dict(cache=True, nogil=True, error_model="numpy")  # numpy: no zero-division branch, loops vectorize


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
def sigmoid_cross_entropy_backward(x, t, scale, dx):
    # x, t, dx (n,), scale (1,) = dloss / n -> dx = (sigmoid(x) - t) * scale (the kernels' vectorizable sigmoid)
    s = scale[0]
    one = x.dtype.type(1.0)
    for i in range(x.shape[0]):
        dx[i] = (sigmoid(x[i], one) - t[i]) * s
