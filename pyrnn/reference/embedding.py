"""Embedding: a row lookup, and its gradient, a scatter-add of rows (the book's Embedding)."""
from __future__ import annotations

from .._arrays import get_xp


def embedding_forward(W, idx):
    # W (V, D), idx integer (...) -> out (..., D)
    out = W[idx]  # fancy indexing copies, so out never aliases W
    return out, (idx, W.shape, W.dtype)


def embedding_backward(dout, saved):
    # dout (..., D) -> dW (V, D)
    idx, (V, D), dtype = saved
    xp = get_xp(dout)
    dW = xp.zeros((V, D), dtype=dtype)
    # Flatten with explicit sizes (not -1) so empty idx (size 0) still reshapes.
    rows, grads = idx.reshape(idx.size), dout.reshape(idx.size, D)
    # A repeated index must accumulate every one of its rows: dW[rows] += grads
    # would keep only the last write, so use an unbuffered scatter-add.
    if xp.__name__ == "numpy":
        xp.add.at(dW, rows, grads)  # sequential, in index order: deterministic
    else:
        import cupyx  # only reached with CuPy arrays, so CuPy is installed
        cupyx.scatter_add(dW, rows, grads)  # atomics: float sums in arbitrary order on the GPU
    return dW
