"""Scalar activations inlined into the fused kernels, in the dtype of their argument.

``ty`` is the kernel's float type (``arr.dtype.type``): every constant is made
with it, because numba types a bare Python float literal as float64 and would
silently compute float32 kernels in float64.
"""
import math

from numba import njit

# Taylor coefficients of tanh(x) = x + x * sum_k C[k] y^k, y = x^2 (from the Bernoulli numbers:
# -1/3, 2/15, -17/315, ...); for |x| < 1/4 the terms fall by about 40 per power of y, so 11 terms
# reach float64 rounding.
_TANH_C = (-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075, -929569 / 638512875,
           6404582 / 10854718875, -443861162 / 1856156927625, 18888466084 / 194896477400625,
           -113927491862 / 2900518163668125)


@njit(cache=True, inline="always")
def sigmoid(x, one):
    # x scalar -> sigmoid(x) in x's dtype; e = exp(-|x|) <= 1 never overflows (as the reference)
    e = math.exp(-abs(x))
    if x >= 0:
        return one / (one + e)
    return e / (one + e)


@njit(cache=True, inline="always")
def tanh(x, ty):
    # x scalar of type ty -> tanh(x), within 3 ulp (tested), about 1.5-2x faster than libm's tanh:
    # (1 - e) / (1 + e) with e = exp(-2|x|) (no cancellation for |x| >= 1/4), a Taylor polynomial below.
    ax = abs(x)
    if ax < ty(0.25):
        y = x * x
        p = ty(_TANH_C[10])
        p = p * y + ty(_TANH_C[9])
        p = p * y + ty(_TANH_C[8])
        p = p * y + ty(_TANH_C[7])
        p = p * y + ty(_TANH_C[6])
        p = p * y + ty(_TANH_C[5])
        p = p * y + ty(_TANH_C[4])
        p = p * y + ty(_TANH_C[3])
        p = p * y + ty(_TANH_C[2])
        p = p * y + ty(_TANH_C[1])
        p = p * y + ty(_TANH_C[0])
        return x + x * (y * p)
    e = math.exp(ty(-2.0) * ax)                # ax = inf gives e = 0, tanh = 1; NaN stays NaN
    t = (ty(1.0) - e) / (ty(1.0) + e)
    return t if x >= 0 else -t


@njit(cache=True, nogil=True)
def tanh_array(x, out):
    # x, out (n,) -> out = tanh(x) with the kernels' scalar tanh (for tests)
    ty = x.dtype.type
    for i in range(x.shape[0]):
        out[i] = tanh(x[i], ty)
