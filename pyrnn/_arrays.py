"""Array-module helpers: NumPy or CuPy, without importing CuPy unless it is installed."""
from __future__ import annotations

import numpy as np

try:  # CuPy is optional (the `cuda` extra)
    import cupy as _cupy
except Exception:  # ImportError, or a CUDA runtime that fails to load
    _cupy = None

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def cupy_module():
    """The cupy module, or None when it is not installed/usable."""
    return _cupy


def is_cupy(x) -> bool:
    return _cupy is not None and isinstance(x, _cupy.ndarray)


def is_array(x) -> bool:
    return isinstance(x, np.ndarray) or is_cupy(x)


def get_xp(*arrays):
    """numpy or cupy, from the first array argument that is one (numpy by default)."""
    for a in arrays:
        if is_cupy(a):
            return _cupy
    return np


def to_numpy(x):
    """Host copy of a NumPy/CuPy array (NumPy arrays pass through)."""
    if is_cupy(x):
        return _cupy.asnumpy(x)
    return np.asarray(x)


def contiguous(a, writeable=False):
    """`a` as a C-contiguous array of its own module (None passes), copied only when it is not one
    already; with `writeable`, also when it is read-only (the Numba kernels take writeable arrays:
    one compiled specialization per dtype). What every backend hands its kernels."""
    if a is None:
        return None
    if a.flags.c_contiguous and (not writeable or getattr(a.flags, "writeable", True)):
        return a
    return get_xp(a).array(a, order="C")
