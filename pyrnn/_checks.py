"""Argument checks at the public boundary.

Every public op and layer validates here before any backend runs, so backends
may assume: arrays of the right ndim/shape, one float dtype (float32 or
float64) across all float arguments, integer index arrays, and one array
module (all NumPy or all CuPy). Errors name the argument and what was expected.
"""
from __future__ import annotations

import numpy as np

from ._arrays import FLOAT_DTYPES, is_array, is_cupy


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
    """Check an integer index/label array; values in [0, high) (or == ignore)."""
    if not is_array(x):
        raise TypeError(f"{name}: expected an integer array{_expect(shape)}, got {_kind(x)}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer dtype{_expect(shape)}, got {x.dtype}")
    _check_shape(name, x, shape)
    if high is not None and x.size:
        xp_min, xp_max = int(x.min()), int(x.max())
        lo_ok = xp_min >= 0 or (ignore is not None and _only_ignore_below_zero(x, ignore))
        if not lo_ok or xp_max >= high:
            allowed = f"[0, {high})" + (f" or {ignore} (ignored)" if ignore is not None else "")
            raise ValueError(f"{name}: values must be in {allowed}; got min {xp_min}, max {xp_max}")
    return x


def _only_ignore_below_zero(x, ignore) -> bool:
    neg = x < 0
    return bool((x[neg] == ignore).all())


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
