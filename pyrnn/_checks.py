"""Argument checks at the public boundary.

Every public op and layer validates here before any backend runs, so backends
may assume: arrays of the right ndim/shape, one float dtype (float32 or
float64) across all float arguments, integer index arrays, and one array
module (all NumPy or all CuPy). Errors name the argument and what was expected.
"""
from __future__ import annotations

import contextlib
import contextvars
import os

import numpy as np

from ._arrays import FLOAT_DTYPES, get_xp, is_array, is_cupy


def _kind(x) -> str:
    if is_cupy(x):
        return f"cupy.ndarray(shape={tuple(x.shape)}, dtype={x.dtype})"
    if isinstance(x, np.ndarray):
        return f"numpy.ndarray(shape={x.shape}, dtype={x.dtype})"
    return type(x).__name__


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_float(name: str, x, shape=None, *, dtype=None, allow_none=False):
    """Check that `x` is a float32/float64 array of `shape`.

    `shape` is a tuple of ints or names; names are only shown in the message
    (e.g. ``("N", "T", 4 * H)`` checks ndim and the last dim). `dtype`, when
    given, is the dtype all float arguments of the call must share.
    Returns x unchanged.
    """
    if x is None:
        if allow_none:
            return None
        raise TypeError(f"{name}: expected a float32/float64 array{_expect(shape)}, got None")
    if not is_array(x):
        raise TypeError(
            f"{name}: expected a numpy or cupy float32/float64 array{_expect(shape)}, got {_kind(x)}"
        )
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name}: expected dtype float32 or float64{_expect(shape)}, got {x.dtype} "
            f"(pyrnn never casts silently; convert with .astype(np.float32))"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{name}: dtype {x.dtype} does not match the other arguments ({np.dtype(dtype)}); "
            f"all float arrays of one call must share a dtype"
        )
    _check_shape(name, x, shape)
    return x


def check_index(name: str, x, shape=None, *, high=None, ignore=None):
    """Check an integer index/label array; values in [0, high) (or == ignore).

    One min/max pass over `x`; only when that finds a value outside [0, high) and an
    `ignore` label is given does a second pass look at the out-of-range values."""
    if not is_array(x):
        raise TypeError(f"{name}: expected an integer array{_expect(shape)}, got {_kind(x)}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer dtype{_expect(shape)}, got {x.dtype}")
    _check_shape(name, x, shape)
    if high is not None and x.size:
        xp_min, xp_max = int(x.min()), int(x.max())
        if xp_min < 0 or xp_max >= high:
            bad = (x < 0) | (x >= high)
            if ignore is not None:
                bad &= x != ignore
            if ignore is None or bool(bad.any()):
                allowed = f"[0, {high})" + (f" or {ignore} (ignored)" if ignore is not None else "")
                first = int(bad.ravel().argmax())
                at = tuple(int(i) for i in np.unravel_index(first, tuple(x.shape)))
                raise ValueError(f"{name}: values must be in {allowed}; got min {xp_min}, max {xp_max} "
                                 f"(first bad value {int(x.ravel()[first])} at index {at})")
    return x


def check_mask(name: str, x, shape):
    """Boolean mask (True = keep/attend). None passes."""
    if x is None:
        return None
    if not is_array(x):
        raise TypeError(f"{name}: expected a bool array{_expect(shape)}, got {_kind(x)}")
    if x.dtype != np.bool_:
        raise TypeError(f"{name}: expected dtype bool (True = attend){_expect(shape)}, got {x.dtype}")
    _check_shape(name, x, shape)
    return x


def same_module(**arrays):
    """All array arguments NumPy, or all CuPy."""
    kinds = {n: is_cupy(a) for n, a in arrays.items() if a is not None}
    if len(set(kinds.values())) > 1:
        cup = [n for n, c in kinds.items() if c]
        nump = [n for n, c in kinds.items() if not c]
        raise TypeError(
            f"mixed array types: {', '.join(cup)} on the GPU (cupy) but {', '.join(nump)} "
            f"on the CPU (numpy); move them to one device"
        )


def _expect(shape) -> str:
    return "" if shape is None else f" of shape {_fmt_shape(shape)}"


def _check_shape(name, x, shape):
    if shape is None:
        return
    if x.ndim != len(shape):
        raise ValueError(f"{name}: expected shape {_fmt_shape(shape)} ({len(shape)}-D), got shape {tuple(x.shape)}")
    for want, got in zip(shape, x.shape):
        if isinstance(want, (int, np.integer)) and want != got:
            raise ValueError(f"{name}: expected shape {_fmt_shape(shape)}, got shape {tuple(x.shape)}")


def check_nonempty_axis(name: str, x, axis: int, what: str):
    """Reject a zero-length axis where the op's result would be undefined (a softmax over no
    classes, a normalisation over no features, attention over no keys)."""
    if x.shape[axis] == 0:
        raise ValueError(f"{name}: {what} must be >= 1 (got shape {tuple(x.shape)}); "
                         f"the result over an empty axis is undefined")


# ---- sizes the kernels can index ------------------------------------------------------------------

INT32_MAX = 2**31 - 1
# Backends whose kernels hand sizes and leading dimensions to a BLAS with 32-bit integers
# (pyrnn._cpu: scipy-openblas32; the CUDA backend: cuBLAS). Their element offsets are 64-bit,
# so only the GEMM arguments are limited. The reference and numba go through NumPy, which
# handles any size.
INT32_GEMM_BACKENDS = frozenset({"cpp", "cuda"})


def check_int32_sizes(op: str, backend: str, sizes):
    """Raise ValueError, before anything is allocated, when one of `sizes` ((label, value) pairs:
    every GEMM size or leading dimension the op's kernels use) exceeds a 32-bit BLAS integer."""
    if backend not in INT32_GEMM_BACKENDS:
        return
    for label, value in sizes:
        if value > INT32_MAX:
            raise ValueError(
                f"{op}: {label} = {value} exceeds the {backend} backend's 32-bit BLAS limit ({INT32_MAX}); "
                f"split the batch or the sequence (truncated BPTT), or run this call on the reference "
                f"(pyrnn.use_backend('reference'))")


# ---- opt-in finiteness checks ----------------------------------------------------------------------

class NonFiniteError(FloatingPointError):
    """A NaN or Inf in an op's input or output while `pyrnn.check_finite` is on.
    Attributes: op, argument, index (a tuple), value."""

    def __init__(self, op, argument, index, value, role):
        self.op, self.argument, self.index, self.value = op, argument, index, value
        super().__init__(f"{op}: non-finite {role} {argument}[{', '.join(map(str, index))}] = {value} "
                         f"(pyrnn.check_finite is on; it stops at the first NaN/Inf)")


_finite: contextvars.ContextVar[bool | None] = contextvars.ContextVar("pyrnn_check_finite", default=None)


@contextlib.contextmanager
def check_finite(enabled: bool = True):
    """Raise `NonFiniteError` on the first NaN/Inf in any float input or output of a pyrnn op
    inside this context (this thread/task); ``PYRNN_CHECK_FINITE=1`` turns it on everywhere.
    Off by default: NaN and Inf then propagate like in NumPy. Costs one pass over every
    float argument and result of every op.

    >>> with pyrnn.check_finite():
    ...     loss = model.forward(xs, ts)
    """
    token = _finite.set(bool(enabled))
    try:
        yield
    finally:
        _finite.reset(token)


def finite_checks_on() -> bool:
    on = _finite.get()
    if on is None:
        on = os.environ.get("PYRNN_CHECK_FINITE", "0").strip().lower() not in ("", "0", "false", "no", "off")
    return on


def assert_finite(op: str, name: str, x, role: str):
    """NonFiniteError at the first non-finite element of a float array x (others pass)."""
    if not is_array(x) or x.dtype.kind not in "fc":
        return
    bad = ~get_xp(x).isfinite(x)
    if not bool(bad.any()):
        return
    first = int(bad.ravel().argmax())
    index = tuple(int(i) for i in np.unravel_index(first, tuple(x.shape)))
    raise NonFiniteError(op, name, index, x.ravel()[first].item(), role)
