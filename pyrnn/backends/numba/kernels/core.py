"""Scalar math shared by the kernel families: exp, sigmoid and tanh in the dtype of their argument,
inlined into the fused kernels, and the kernels' compile options.

float32 (the training dtype, where speed matters): exp, sigmoid and tanh are plain
arithmetic, the C++ kernels' (cpp/include/pyrnn/core/activations.hpp): Cephes' expf with
its 2^n made by an integer bitcast. libm's exp is a call LLVM cannot vectorize (and
this build of numba has no SVML); these vectorize, which makes the fused gate loops
about 4x faster. Kernels that use them must compile with ``error_model="numpy"``
(`VECTORIZE`): numba's default checks every division for zero, and that branch stops
vectorizing. float64 (gradient checks): libm's exp, and a tanh accurate to 3 ulp.

Constants are made in the argument's type (numba types a bare Python float as
float64, which would silently compute float32 kernels in float64).

The kernels that use these are cached on disk (``cache=True``), and numba checks only
the kernel's own file for changes: a change here must also edit each module whose
kernels call the changed function (attention, recurrent, words import from here), or
its cached kernels keep the old one.
"""
import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

# Taylor coefficients of tanh(x) = x + x * sum_k C[k] y^k, y = x^2 (from the Bernoulli numbers:
# -1/3, 2/15, -17/315, ...); for |x| < 1/4 the terms fall by about 40 per power of y, so 11 terms
# reach float64 rounding.
_TANH_C = (-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075, -929569 / 638512875,
           6404582 / 10854718875, -443861162 / 1856156927625, 18888466084 / 194896477400625,
           -113927491862 / 2900518163668125)
_F = np.float32

# Every kernel: cached on disk, without the GIL. VECTORIZE also drops numba's zero-division check
# (error_model="numpy": x / 0 is inf or NaN, as in NumPy), which keeps loops that divide, or call the
# functions below, from vectorizing.
JIT = dict(cache=True, nogil=True)
VECTORIZE = dict(JIT, error_model="numpy")


@intrinsic
def _float32_from_bits(typingctx, bits):
    # bits int32 -> the float32 with that bit pattern (an LLVM bitcast: free, and it vectorizes)
    if bits != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))
    return types.float32(types.int32), codegen


def exp(x):
    """exp(x) in x's dtype (compiled per type below; this Python body is never used in a kernel)."""
    return math.exp(x)


def _exp_clamped(x, hi):
    """exp(x) with x clamped to [-87, hi] in float32 (compiled per type below; float64: libm's exp)."""
    return math.exp(x)


def _exp32_clamped(x, hi):
    # Cephes expf: x = n ln2 + r, |r| <= ln2 / 2, exp(r) by a degree-7 polynomial, 2^n from its bits.
    # Within 2 ulp (tested). Clamped to [-87, hi], hi = 88 so 2^n stays a normal float (numba's min/max
    # pass a NaN through; its polynomial is NaN); sigmoid's hi = 89 lets 2^n reach 2^128 = +inf. No
    # branches or ternaries: the kernels inline this at the IR level, and a conditional expression there
    # trips numba's SSA checks.
    x = min(max(x, _F(-87.0)), hi)
    fx = x * _F(1.44269504088896341) + _F(0.5)
    n = np.int32(fx)                                   # truncation; floor for negative fx:
    n = n - np.int32(_F(n) > fx)
    fn = _F(n)
    r = x - fn * _F(0.693359375)
    r = r - fn * _F(-2.12194440e-4)
    p = _F(1.9875691500e-4)
    p = p * r + _F(1.3981999507e-3)
    p = p * r + _F(8.3334519073e-3)
    p = p * r + _F(4.1665795894e-2)
    p = p * r + _F(1.6666665459e-1)
    p = p * r + _F(5.0000001201e-1)
    y = p * r * r + r + _F(1.0)
    return y * _float32_from_bits(np.int32((n + np.int32(127)) << np.int32(23)))


@overload(_exp_clamped, inline="always")
def _exp_clamped_typed(x, hi):
    if x == types.float32:
        return _exp32_clamped
    return lambda x, hi: math.exp(x)


def _exp32(x):
    return _exp_clamped(x, _F(88.0))


@overload(exp, inline="always")
def _exp_typed(x):
    if x == types.float32:
        return _exp32
    return lambda x: math.exp(x)


@njit(cache=True, inline="always")
def sigmoid(x, one):
    # x scalar -> 1 / (1 + exp(-x)) in x's dtype. Branch-free (vectorizes); both tails keep their relative
    # accuracy: exp(-x) is accurate for large x, and 1 / (1 + huge) for very negative x. float32: exp(-x) is
    # clamped at 89, not 88, where 2^n = 2^128 is +inf, so sigmoid(x) = 0 below -88.4 and sigmoid(-inf) = 0
    # exactly, as in NumPy (clamped at 88 it gave 6e-39, and an inf then reached other outputs than in the
    # reference: inf * 6e-39 is inf where inf * 0 is NaN); sigmoid(+inf) = 1, NaN stays NaN. As the C++
    # kernels' sigmoid; the same instructions as before, one constant changed.
    return one / (one + _exp_clamped(-x, _F(89.0)))


def tanh(x):
    """tanh(x) in x's dtype (compiled per type below)."""
    return math.tanh(x)


def _tanh32(x):
    # sign(x) (1 - e) / (1 + e), e = exp(-2|x|), cancels near 0, so |x| < 0.625 uses Cephes' odd
    # polynomial x + x^3 P(x^2); both are computed and blended arithmetically (a branch would stop the
    # loop vectorizing). The polynomial reads x clamped to its range: finite everywhere, and inf gives
    # +-1; a NaN stays NaN.
    ax = abs(x)
    e = exp(_F(-2.0) * ax)
    big = math.copysign((_F(1.0) - e) / (_F(1.0) + e), x)
    xs = min(max(x, _F(-0.625)), _F(0.625))
    z = xs * xs
    p = _F(-5.70498872745e-3)
    p = p * z + _F(2.06390887954e-2)
    p = p * z - _F(5.37397155531e-2)
    p = p * z + _F(1.33314422036e-1)
    p = p * z - _F(3.33332819422e-1)
    w = _F(ax < _F(0.625))
    return w * (xs + xs * z * p) + (_F(1.0) - w) * big


def _tanh64(x):
    # within 3 ulp (tested), about 1.5-2x faster than libm's tanh: (1 - e) / (1 + e) with e = exp(-2|x|)
    # (no cancellation for |x| >= 1/4), a Taylor polynomial of x clamped to [-1/4, 1/4] below; blended
    # like _tanh32 (no conditional expressions: see _exp32)
    ax = abs(x)
    xs = min(max(x, -0.25), 0.25)
    y = xs * xs
    p = _TANH_C[10]
    p = p * y + _TANH_C[9]
    p = p * y + _TANH_C[8]
    p = p * y + _TANH_C[7]
    p = p * y + _TANH_C[6]
    p = p * y + _TANH_C[5]
    p = p * y + _TANH_C[4]
    p = p * y + _TANH_C[3]
    p = p * y + _TANH_C[2]
    p = p * y + _TANH_C[1]
    p = p * y + _TANH_C[0]
    e = math.exp(-2.0 * ax)                    # ax = inf gives e = 0, tanh = 1; NaN stays NaN
    w = np.float64(ax < 0.25)
    return w * (xs + xs * (y * p)) + (1.0 - w) * math.copysign((1.0 - e) / (1.0 + e), x)


@overload(tanh, inline="always")
def _tanh_typed(x):
    if x == types.float32:
        return _tanh32
    return _tanh64


@njit(**VECTORIZE)
def tanh_array(x, out):
    # x, out (n,) -> out = tanh(x) with the kernels' scalar tanh (for tests)
    for i in range(x.shape[0]):
        out[i] = tanh(x[i])


@njit(**VECTORIZE)
def sigmoid_array(x, out):
    # x, out (n,) -> out = sigmoid(x) with the kernels' scalar sigmoid (for tests)
    one = x.dtype.type(1)
    for i in range(x.shape[0]):
        out[i] = sigmoid(x[i], one)


@njit(**VECTORIZE)
def exp_array(x, out):
    # x, out (n,) -> out = exp(x) with the kernels' scalar exp (for tests)
    for i in range(x.shape[0]):
        out[i] = exp(x[i])
