"""The Numba backend's word-level ops: embedding, affine, softmax, softmax and sigmoid cross-entropy,
dropout. GEMMs are NumPy's; the row-wise and elementwise parts are fused ``@njit`` passes
(`kernels.words`), each over the op's arrays flattened to rows (or to one axis)."""
from __future__ import annotations

import math

import numpy as np

from pyrnn._arrays import contiguous
from pyrnn.reference import words as _reference

from .kernels import words as _kernels


def _flat(a, K):
    """a (..., K) -> (R, K) with explicit sizes (empty leading dims reshape too)."""
    return a.reshape(math.prod(a.shape[:-1]), K)


# ---- embedding ---------------------------------------------------------------------------------------

def embedding_forward(W, idx):
    # W (V, D), idx integer (...) -> out (..., D); fancy indexing copies, so out never aliases W
    return W[idx], (idx, W.shape, W.dtype)


def embedding_backward(dout, saved):
    # dout (..., D) -> dW (V, D): rows scatter-added in index order (deterministic, as np.add.at)
    idx, (V, D), dtype = saved
    dW = np.zeros((V, D), dtype=dtype)
    rows = contiguous(idx.reshape(idx.size).astype(np.intp, copy=False), writeable=True)
    _kernels.embedding_scatter_add(rows, contiguous(dout.reshape(idx.size, D), writeable=True), dW)
    return dW


# ---- affine over time (x @ W + b for any leading dims) ---------------------------------------------

def affine_forward(x, W, b):
    # x (..., D), W (D, M), b (M,) or None -> out (..., M): all leading axes as one BLAS GEMM (NumPy's;
    # a Numba loop would not beat it), the bias added in place on the fresh output
    out = _flat(x, x.shape[-1]) @ W
    if b is not None:
        out += b
    return out.reshape(x.shape[:-1] + (W.shape[1],)), (x, W, b is not None)


def affine_backward(dout, saved):
    # dout (..., M) -> dx (..., D), dW (D, M), db (M,) or None
    x, W, has_bias = saved
    g = _flat(dout, W.shape[1])
    dx = (g @ W.T).reshape(x.shape)
    dW = _flat(x, W.shape[0]).T @ g
    return dx, dW, (g.sum(axis=0) if has_bias else None)


# ---- softmax over the last axis ----------------------------------------------------------------------

def softmax_forward(x):
    # x (..., V) -> y (..., V); ops checks V >= 1
    V = x.shape[-1]
    x2 = contiguous(_flat(x, V), writeable=True)
    y = np.empty_like(x2)
    _kernels.softmax_forward(x2, y)
    return y.reshape(x.shape), y


def softmax_backward(dy, saved):
    # dy (..., V) -> dx (..., V)
    y = saved
    dx = np.empty_like(y)
    _kernels.softmax_backward(contiguous(_flat(dy, y.shape[1]), writeable=True), y, dx)
    return dx.reshape(dy.shape)


# ---- softmax cross-entropy ---------------------------------------------------------------------------

def _labels(ts, ignore_label):
    """(labels flat as intp, the ignore label (0 when there is none), whether there is one)."""
    t = contiguous(ts.reshape(ts.size).astype(np.intp, copy=False), writeable=True)
    return t, (0 if ignore_label is None else int(ignore_label)), ignore_label is not None


def softmax_cross_entropy_forward(xs, ts, ignore_label):
    # xs (..., V), ts (...) -> loss (), the mean over labels != ignore_label (0 when all are ignored)
    V = xs.shape[-1]
    if V == 0:  # nothing to normalise over: let the reference raise its error
        return _reference.softmax_cross_entropy_forward(xs, ts, ignore_label)
    x = contiguous(xs.reshape(ts.size, V), writeable=True)
    t, ignore, has_ignore = _labels(ts, ignore_label)
    y = np.empty_like(x)
    logp = np.empty(ts.size, dtype=xs.dtype)
    n_valid = _kernels.softmax_cross_entropy_forward(x, t, ignore, has_ignore, y, logp)
    loss = np.asarray(-logp.sum() / max(n_valid, 1), dtype=xs.dtype)
    return loss, ("numba", y, t, ignore, has_ignore, n_valid, xs.shape)


def softmax_cross_entropy_backward(dloss, saved):
    if saved[0] != "numba":  # the V == 0 case ran on the reference
        return _reference.softmax_cross_entropy_backward(dloss, saved)
    _, y, t, ignore, has_ignore, n_valid, shape = saved
    scale = np.asarray(dloss / max(n_valid, 1), dtype=y.dtype).reshape(1)
    dx = np.empty_like(y)
    _kernels.softmax_cross_entropy_backward(y, t, ignore, has_ignore, scale, dx)
    return dx.reshape(shape)


# ---- sigmoid cross-entropy ---------------------------------------------------------------------------

def sigmoid_cross_entropy_forward(xs, ts):
    # xs (...) scores, ts (...) targets in [0, 1] -> loss (), the mean over all elements. The loss is the
    # reference's NumPy expression: its exp and log1p are NumPy's SIMD loops, and with numba's scalar
    # log1p a fused kernel took longer (3.2M float32 elements: 88 ms) than the reference's forward and
    # backward together (38 ms).
    loss, _ = _reference.sigmoid_cross_entropy_forward(xs, ts)
    x = contiguous(xs.reshape(xs.size), writeable=True)
    # int targets must not promote float32
    t = contiguous(ts.reshape(ts.size).astype(xs.dtype, copy=False), writeable=True)
    return loss, (x, t, xs.shape)


def sigmoid_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (...) = (sigmoid(xs) - ts) * dloss / n, one fused vectorized pass
    x, t, shape = saved
    scale = np.asarray(dloss / max(x.size, 1), dtype=x.dtype).reshape(1)
    dx = np.empty_like(x)
    _kernels.sigmoid_cross_entropy_backward(x, t, scale, dx)
    return dx.reshape(shape)


# ---- dropout -----------------------------------------------------------------------------------------

def dropout_forward(x, ratio, train, rng):
    # x (...) -> y (...): inverted dropout. The uniform draws are NumPy's, exactly as the reference (and
    # the book) draws them, so a seeded run gives the reference's mask; compare, scale and multiply are
    # one fused pass, and the saved mask is one byte per element.
    if not train:
        return x, None  # inference: the identity
    if rng is None:
        u = np.asarray(np.random.rand(*x.shape))  # the book's draw: np.random.seed reproduces its masks
    else:
        u = np.asarray(rng.random(x.shape))  # a numpy Generator
    x1 = contiguous(x.reshape(x.size), writeable=True)
    # the scale rounded to x's dtype once, as the reference's `mask.astype(dtype) * python float` does
    scale = np.asarray(1.0 / (1.0 - ratio), dtype=x.dtype).reshape(1)
    y, keep = np.empty_like(x1), np.empty(x.size, dtype=np.bool_)
    _kernels.dropout_forward(x1, contiguous(u.reshape(u.size), writeable=True), float(ratio), scale, y, keep)
    return y.reshape(x.shape), (keep, scale)


def dropout_backward(dy, saved):
    # dy (...) -> dx (...)
    if saved is None:  # the forward ran with train=False: the identity
        return dy
    keep, scale = saved
    dx = np.empty(dy.size, dtype=dy.dtype)
    _kernels.dropout_backward(contiguous(dy.reshape(dy.size), writeable=True), keep, scale, dx)
    return dx.reshape(dy.shape)
