"""Layer normalisation over the last axis."""
from __future__ import annotations

from .._validate import check_float, check_nonempty_axis, check_real, same_module
from ._runner import run_backward, run_forward

__all__ = ["layer_norm_forward", "layer_norm_backward"]


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """Normalise x (..., D) over its last axis, then scale by gamma (D,) and shift by beta (D,)."""
    check_float("x", x)
    if x.ndim < 1:
        raise ValueError(f"x: expected shape (..., D), got shape {tuple(x.shape)}")
    D = x.shape[-1]
    check_nonempty_axis("x", x, -1, "D (the normalised axis, the last)")
    check_float("gamma", gamma, (D,), dtype=x.dtype)
    check_float("beta", beta, (D,), dtype=x.dtype)
    eps = check_real("eps", eps, expected="a positive float", ok=lambda v: v > 0)
    same_module(x=x, gamma=gamma, beta=beta)
    return run_forward("layer_norm", x, dict(x=x, gamma=gamma, beta=beta, eps=eps), (("dy", tuple(x.shape), False),))


def layer_norm_backward(dy, saved):
    """-> dx, dgamma, dbeta."""
    return run_backward("layer_norm", saved, dy)
