"""Argument checks at the public boundary (`pyrnn.ops` and the layers' constructors).

Every public op and layer validates here before any backend runs, so backends
may assume: arrays of the right ndim/shape, one float dtype (float32 or
float64) across all float arguments, integer index arrays, and one array
module (all NumPy or all CuPy). Errors name the argument and what was expected.
"""
from __future__ import annotations

import math
import numbers

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


def _is_number(v) -> bool:
    # Python and NumPy ints and floats, and 0-d NumPy arrays of them; never a bool (True is an int
    # to Python, but a flag passed where a count or a rate belongs is a mistake) or a string
    if isinstance(v, np.ndarray):
        return v.ndim == 0 and v.dtype.kind in "iuf"
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def check_int(name: str, value, *, low=None, high=None, expected="an int"):
    """`value` (a Python or NumPy integer, or a 0-d integer array) as a Python int in [low, high];
    TypeError / ValueError naming the argument otherwise. The one converter for every integer
    argument of the ops and layers (num_heads, ignore_label, ...)."""
    integral = isinstance(value, numbers.Integral) or (isinstance(value, np.ndarray) and value.dtype.kind in "iu")
    if not _is_number(value) or not integral:
        raise TypeError(f"{name}: expected {expected}, got {_kind_of_value(value)}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name}: expected {expected}, got {v}")
    return v


def check_real(name: str, value, *, expected="a number", ok=None, dtype=None):
    """`value` (a Python or NumPy int or float, or a 0-d array of one) as a Python float; `ok(v)`
    False, or a finite value beyond `dtype`'s range, is a ValueError naming the argument, anything
    else a TypeError. The one converter for every real-number argument (ratio, eps, a loss gradient)."""
    if not _is_number(value):
        raise TypeError(f"{name}: expected {expected}, got {_kind_of_value(value)}")
    try:
        v = float(value)
    except OverflowError:  # a Python int beyond float64
        raise ValueError(f"{name}: expected {expected}, got {value} (beyond float64's range)") from None
    if ok is not None and not ok(v):
        raise ValueError(f"{name}: expected {expected}, got {v!r}")
    if dtype is not None and math.isfinite(v) and abs(v) > float(np.finfo(dtype).max):
        raise ValueError(f"{name}: {v!r} is beyond {np.dtype(dtype).name}'s range (the dtype it is used in)")
    return v


def _kind_of_value(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return f"a bool ({v})"
    if _is_number(v) or isinstance(v, np.generic):
        return f"{v!r} of type {type(v).__name__}{'' if not hasattr(v, 'dtype') else ' (' + str(v.dtype) + ')'}"
    return _kind(v)


def _host_ints(name: str, x, what: str):
    """x (a NumPy integer array, a CuPy one, or a sequence of ints) as a 1-D host int64 array."""
    if is_cupy(x):
        x = x.get()  # one small copy to the host: the loop bounds live there
    elif not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected {what}, got {_kind(x)}") from None
    if x.dtype.kind not in "iu" and not (x.size == 0 and x.dtype.kind == "f"):
        raise TypeError(f"{name}: expected {what}, got an array of dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"{name}: expected {what}, got shape {tuple(x.shape)}")
    return x.astype(np.int64, copy=False)


def check_lengths(name: str, x, N: int, T: int):
    """Sequence lengths: N integers in [0, T] (NumPy, CuPy or a sequence; CuPy is copied to the
    host, where the loop over steps is planned) -> a host int64 array (N,)."""
    x = _host_ints(name, x, f"an integer array of shape ({N},) (each row's number of real steps)")
    if x.shape != (N,):
        raise ValueError(f"{name}: expected shape ({N},) (one length per batch row), got shape {tuple(x.shape)}")
    if N and (x.min() < 0 or x.max() > T):
        bad = int(np.argmax((x < 0) | (x > T)))
        raise ValueError(f"{name}: values must be in [0, {T}] (T, the padded length); "
                         f"got {int(x[bad])} at index {bad}")
    return x


def check_batch_sizes(name: str, x, P: int):
    """A packed batch's sizes per step (PyTorch's PackedSequence.batch_sizes): >= 1, non-increasing,
    summing to P, the packed rows -> a host int64 array (T,)."""
    x = _host_ints(name, x, "a 1-D host integer array (rows per step of the packed sequences)")
    if len(x) and (x.min() < 1 or (np.diff(x) > 0).any()):
        raise ValueError(f"{name}: expected non-increasing sizes >= 1 (sequences sorted by length, "
                         f"longest first), got {x.tolist()[:20]}")
    if int(x.sum()) != P:
        raise ValueError(f"{name}: the sizes add up to {int(x.sum())}, but xs has {P} rows")
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
