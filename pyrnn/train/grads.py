"""Gradient utilities: clipping by global norm, and merging shared (tied) parameters."""
from __future__ import annotations

import math

from .._arrays import get_xp, is_cupy

__all__ = ["clip_grads", "grad_norm", "dedup_params", "remove_duplicate"]


def grad_norm(grads) -> float:
    """The global L2 norm over all arrays of ``grads``."""
    total = 0.0
    for g in grads:
        xp = get_xp(g)
        total += float(xp.sum(g * g))
    return math.sqrt(total)


def clip_grads(grads, max_norm):
    """Scale every gradient in place so that their global L2 norm is at most ``max_norm``.
    Returns the norm before clipping."""
    norm = grad_norm(grads)
    rate = float(max_norm) / (norm + 1e-6)
    if rate < 1.0:
        for g in grads:
            g *= rate
    return norm


def _address(a):
    return int(a.data.ptr) if is_cupy(a) else int(a.__array_interface__["data"][0])


def _is_transpose_of(a, b):
    """b is the 2-D transposed view of a (the book's weight tying: Affine(W_embed.T))."""
    return (a.ndim == 2 and b.ndim == 2 and a.shape == b.shape[::-1] and a.shape[0] != 0
            and a.strides == b.strides[::-1] and is_cupy(a) == is_cupy(b)
            and _address(a) == _address(b))


def dedup_params(params, grads):
    """Merge parameters that are one array (weight tying) -> (params, grads), new lists.

    A parameter that is the same object as an earlier one, or its transposed view
    (``TimeAffine(embed_W.T, b)``), is dropped and its gradient added to the earlier
    one's. Merged gradients are new arrays, so calling this twice never double-counts;
    the order of the kept parameters is that of their first appearance (stable across
    calls, which optimizers keyed by position need).
    """
    if len(params) != len(grads):
        raise ValueError(f"params and grads: lists of different lengths ({len(params)} vs {len(grads)})")
    out_p, out_g = [], []
    for p, g in zip(params, grads):
        for k, q in enumerate(out_p):
            if p is q or (p.shape == q.shape and p.strides == q.strides and p.ndim > 0
                          and is_cupy(p) == is_cupy(q) and _address(p) == _address(q)):
                out_g[k] = out_g[k] + g
                break
            if _is_transpose_of(q, p):
                out_g[k] = out_g[k] + g.T
                break
        else:
            out_p.append(p)
            out_g.append(g)
    return out_p, out_g


remove_duplicate = dedup_params  # the book's name

