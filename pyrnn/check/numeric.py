"""Central finite differences and the error measure used by every gradient check."""
from __future__ import annotations

import numpy as np


def numerical_gradient(f, x, eps=1e-5):
    """d f() / d x by central differences, perturbing `x` in place (restored after).

    f: a function of no arguments returning a scalar (float or 0-d array) that
    reads `x`; x: a float64 NumPy array. Error: O(eps^2 |f'''|) truncation plus
    O(u |f| / eps) rounding (u = 2^-53); eps = 1e-5 keeps both near 1e-11..1e-10
    for the O(1)-scaled cases here (measured: better than eps = 1e-6 or 1e-4).
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


def rel_error(analytic, numeric, floor: float = 0.0) -> float:
    """Normwise relative error  max|a - n| / max(max|a|, max|n|, floor)  (0 when all are 0).

    Normwise rather than elementwise: elements whose true gradient is ~0 carry
    finite-difference noise of ~1e-10 that an elementwise ratio would blow up,
    while any wrong element of the gradient's own scale still shows as O(1).
    `floor` does the same for a whole tensor whose true gradient is 0 (e.g. the
    key bias of softmax attention, which shifts every score of a query equally).
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"shape mismatch: analytic {a.shape} vs numeric {n.shape}")
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(n).max(initial=0.0)), floor)
    if scale == 0.0:
        return 0.0
    return float(np.abs(a - n).max()) / scale
