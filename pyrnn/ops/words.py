"""The word-level ops around the recurrent core: embedding, affine, softmax, the two losses, dropout."""
from __future__ import annotations

import math

from .._validate import check_float, check_index, check_int, check_nonempty_axis, check_real, same_module
from ._runner import run_backward, run_forward, scalar_grad

__all__ = [
    "embedding_forward", "embedding_backward", "affine_forward", "affine_backward",
    "softmax_forward", "softmax_backward",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "sigmoid_cross_entropy_forward", "sigmoid_cross_entropy_backward",
    "dropout_forward", "dropout_backward",
]
_LOSS_GRAD = (("dloss", (), False),)  # a loss's backward takes one scalar


def embedding_forward(W, idx):
    """Row lookup. W (V, D), idx integer (...) in [0, V) -> out (..., D), saved."""
    check_float("W", W, ("V", "D"))
    check_index("idx", idx, high=W.shape[0])
    same_module(W=W, idx=idx)
    return run_forward("embedding", W, dict(W=W, idx=idx), (("dout", tuple(idx.shape) + (W.shape[1],), False),))


def embedding_backward(dout, saved):
    """-> dW (V, D): rows scatter-added in index order (deterministic)."""
    return run_backward("embedding", saved, dout)


def affine_forward(x, W, b=None):
    """x (..., D) @ W (D, M) + b (M,) -> out (..., M), saved."""
    check_float("x", x)
    if x.ndim < 1:
        raise ValueError(f"x: expected shape (..., D) with at least 1 dimension, got shape {tuple(x.shape)}")
    D = x.shape[-1]
    check_float("W", W, (D, "M"), dtype=x.dtype)
    check_float("b", b, (W.shape[1],), dtype=x.dtype, allow_none=True)
    same_module(x=x, W=W, b=b)
    R = math.prod(x.shape[:-1])  # the GEMM's rows
    return run_forward("affine", x, dict(x=x, W=W, b=b), (("dout", tuple(x.shape[:-1]) + (W.shape[1],), False),),
                       dict(R=R, D=D, M=W.shape[1]))


def affine_backward(dout, saved):
    """-> dx (..., D), dW (D, M), db (M,) or None."""
    return run_backward("affine", saved, dout)


def softmax_forward(x):
    """Softmax over the last axis -> y, saved."""
    check_float("x", x)
    if x.ndim < 1:
        raise ValueError(f"x: expected at least 1 dimension, got shape {tuple(x.shape)}")
    check_nonempty_axis("x", x, -1, "the softmax axis (the last)")
    return run_forward("softmax", x, dict(x=x), (("dy", tuple(x.shape), False),))


def softmax_backward(dy, saved):
    return run_backward("softmax", saved, dy)


def softmax_cross_entropy_forward(xs, ts, ignore_label=-1):
    """Mean cross-entropy of softmax(xs) (..., V) against labels ts (...), skipping ignore_label."""
    check_float("xs", xs)
    if xs.ndim < 1:
        raise ValueError(f"xs: expected shape (..., V), got shape {tuple(xs.shape)}")
    V = xs.shape[-1]
    check_nonempty_axis("xs", xs, -1, "V (the number of classes, the last axis)")
    if ignore_label is not None:  # the kernels compare labels as int64
        ignore_label = check_int("ignore_label", ignore_label, low=-2**63, high=2**63 - 1,
                                 expected="an int or None (in int64's range, the kernels' label type)")
    check_index("ts", ts, tuple(xs.shape[:-1]), high=V, ignore=ignore_label)
    same_module(xs=xs, ts=ts)
    return run_forward("softmax_cross_entropy", xs, dict(xs=xs, ts=ts, ignore_label=ignore_label), _LOSS_GRAD)


def softmax_cross_entropy_backward(dloss, saved):
    """dloss: a scalar (python float or 0-d array) -> dxs."""
    return run_backward("softmax_cross_entropy", saved, scalar_grad(dloss, saved))


def sigmoid_cross_entropy_forward(xs, ts):
    """Mean binary cross-entropy of sigmoid(xs) against targets ts in [0, 1] (same shape)."""
    check_float("xs", xs)
    if not hasattr(ts, "dtype") or ts.dtype.kind not in "iubf":
        raise TypeError(f"ts: expected an array of 0/1 labels or [0, 1] targets, got {type(ts).__name__}")
    if tuple(ts.shape) != tuple(xs.shape):
        raise ValueError(f"ts: expected shape {tuple(xs.shape)} (that of xs), got shape {tuple(ts.shape)}")
    if ts.dtype.kind == "b":
        raise TypeError("ts: expected 0/1 integer labels or [0, 1] float targets, got dtype bool "
                        "(convert with ts.astype(xs.dtype))")
    same_module(xs=xs, ts=ts)
    if ts.size:  # one min/max pass, like the index checks
        lo, hi = float(ts.min()), float(ts.max())
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(f"ts: targets must be in [0, 1]; got min {lo}, max {hi}")
    return run_forward("sigmoid_cross_entropy", xs, dict(xs=xs, ts=ts), _LOSS_GRAD)


def sigmoid_cross_entropy_backward(dloss, saved):
    return run_backward("sigmoid_cross_entropy", saved, scalar_grad(dloss, saved))


def dropout_forward(x, ratio, train=True, rng=None):
    """Inverted dropout with drop probability `ratio` in [0, 1) -> y, saved."""
    check_float("x", x)
    ratio = check_real("ratio", ratio, expected="a drop probability in [0, 1)", ok=lambda v: 0.0 <= v < 1.0)
    return run_forward("dropout", x, dict(x=x, ratio=ratio, train=bool(train), rng=rng), (("dy", tuple(x.shape), False),))


def dropout_backward(dy, saved):
    return run_backward("dropout", saved, dy)
