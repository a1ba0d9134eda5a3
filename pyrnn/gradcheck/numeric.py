"""Central finite differences and the error measure used by every gradient check."""
from __future__ import annotations

import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    """d f() / d x by central differences, perturbing `x` in place (restored after).

    f: a function of no arguments returning a scalar (float or 0-d array) that
    reads `x`; x: a float64 NumPy array. O(eps^2) truncation error, O(u |f| / eps)
    rounding error (u = 2^-53): eps = 1e-6 balances both near 1e-10 for |f| ~ 1.
    """
    if x.dtype != np.float64:
        raise TypeError(f"x: finite differences need float64, got {x.dtype}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("x: must be contiguous so it can be perturbed in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = float(f())
        flat[i] = old - eps
        fm = float(f())
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return grad


def rel_error(analytic, numeric) -> float:
    """Normwise relative error  max|a - n| / max(max|a|, max|n|)  (0 when both are 0).

    Normwise rather than elementwise: elements whose true gradient is ~0 carry
    finite-difference noise of ~1e-10 that an elementwise ratio would blow up,
    while any wrong element of the gradient's own scale still shows as O(1).
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"shape mismatch: analytic {a.shape} vs numeric {n.shape}")
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(n).max(initial=0.0)))
    if scale == 0.0:
        return 0.0
    return float(np.abs(a - n).max()) / scale
