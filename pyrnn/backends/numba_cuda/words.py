"""The numba-cuda backend's word-level ops: embedding, affine, softmax, softmax and sigmoid
cross-entropy, dropout.

Embedding: its backward a deterministic scatter-add (where the reference on CuPy uses atomics).
Dropout: one fused pass after the reference's own uniform draws, so a seeded run gives the
reference's mask. Affine: CuPy GEMMs, a bias kernel, db a column sum. Softmax and softmax
cross-entropy (ignore label; the loss and the label count stay on the device): one block per row
(`kernels.words`), max-subtracted. Sigmoid cross-entropy: block partial sums, then one block; its
gradient one elementwise kernel. Every sum is in a fixed order set by the shapes alone, with no
atomics: two runs give bitwise the same results.
"""
from __future__ import annotations

import math

import numpy as np

from pyrnn._arrays import contiguous

from .core import column_sums, device, flat, launch_one_block, launch_rows, row_block
from .kernels import core as _kernel_core
from .kernels import words as _kernels


# ---- embedding -------------------------------------------------------------------------------------

def embedding_forward(W, idx):
    # W (V, D), idx integer (...) -> out (..., D); fancy indexing copies, so out never aliases W
    return W[idx], (idx, W.shape, W.dtype)


def embedding_backward(dout, saved):
    # dout (..., D) -> dW (V, D): rows added in index order, one thread per column (deterministic)
    idx, (V, D), dtype = saved
    dev = device(dout)
    xp = dev.xp
    dW = xp.zeros((V, D), dtype=dtype)
    rows = xp.ascontiguousarray(idx.reshape(idx.size), dtype=xp.int64)
    if idx.size:
        dev.launch(_kernels.embedding_scatter_add, D, dev.arg(rows), dev.arg(contiguous(dout.reshape(idx.size, D))),
                   dev.arg(dW))
    return dW


# ---- affine over time (x @ W + b for any leading dims) ---------------------------------------------

def affine_forward(x, W, b):
    # x (..., D), W (D, M), b (M,) or None -> out (..., M): all leading axes as one GEMM (cuBLAS via
    # CuPy), then the bias added in place on the fresh output by one kernel
    dev = device(x)
    out = contiguous(flat(x, x.shape[-1]) @ W)
    if b is not None:
        dev.launch(_kernels.add_bias, out.size, dev.arg(out), dev.arg(contiguous(b)))
    return out.reshape(x.shape[:-1] + (W.shape[1],)), (x, W, b is not None)


def affine_backward(dout, saved):
    # dout (..., M) -> dx (..., D), dW (D, M), db (M,) or None: two GEMMs, db a deterministic column sum
    x, W, has_bias = saved
    dev = device(dout)
    R, M = math.prod(x.shape[:-1]), W.shape[1]
    g = contiguous(flat(dout, M))
    dx = (g @ W.T).reshape(x.shape)
    dW = flat(x, W.shape[0]).T @ g
    db = column_sums(dev, _kernels.column_partials, R, M, dout.dtype, 1, g)[0] if has_bias else None
    return dx, dW, db


# ---- softmax over the last axis ----------------------------------------------------------------------

def softmax_forward(x):
    # x (..., V) -> y (..., V); one block per row, max-subtracted
    dev = device(x)
    x2 = contiguous(flat(x, x.shape[-1]))
    y = dev.xp.empty_like(x2)
    launch_rows(dev, _kernels.softmax_forward, x2, dev.arg(x2), dev.arg(y))
    return y.reshape(x.shape), y


def softmax_backward(dy, saved):
    # dy (..., V) -> dx (..., V)
    y = saved
    dev = device(y)
    dx = dev.xp.empty_like(y)
    launch_rows(dev, _kernels.softmax_backward, y, dev.arg(contiguous(flat(dy, y.shape[1]))), dev.arg(y),
                dev.arg(dx))
    return dx.reshape(dy.shape)


# ---- softmax cross-entropy ---------------------------------------------------------------------------

def softmax_cross_entropy_forward(xs, ts, ignore_label):
    # xs (..., V), ts (...) -> loss (), the mean over labels != ignore_label (0 when all are ignored). One
    # row kernel (softmax saved for the backward, the label's log-probability), then one block adds the
    # rows in a fixed order and counts the labels on the device: no host synchronisation
    dev = device(xs)
    xp = dev.xp
    V, R = xs.shape[-1], ts.size
    if V == 0:
        raise ValueError(f"xs: expected shape (..., V) with at least one class, got shape {tuple(xs.shape)}")
    x = contiguous(xs.reshape(R, V))
    t = xp.ascontiguousarray(ts.reshape(R), dtype=xp.int64)
    ignore, has_ignore = (0 if ignore_label is None else int(ignore_label)), ignore_label is not None
    y = xp.empty_like(x)
    loss, count = xp.zeros(1, dtype=xs.dtype), xp.zeros(1, dtype=xp.int64)
    if R:
        logp = xp.empty(R, dtype=xs.dtype)
        a = dev.arg
        launch_rows(dev, _kernels.softmax_cross_entropy_forward, x, a(x), a(t), ignore, has_ignore, a(y), a(logp))
        launch_one_block(dev, _kernels.cross_entropy_loss, R, a(logp), a(t), ignore, has_ignore, a(loss), a(count))
    return loss.reshape(()), (y, t, ignore, has_ignore, count, xs.shape)


def softmax_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (..., V) = (softmax - onehot) * dloss / count, 0 on ignored rows
    y, t, ignore, has_ignore, count, shape = saved
    dev = device(y)
    d = dev.xp.asarray(dloss, dtype=y.dtype).reshape(1)
    dx = dev.xp.empty_like(y)
    a = dev.arg
    launch_rows(dev, _kernels.softmax_cross_entropy_backward, y, a(y), a(t), ignore, has_ignore, a(d), a(count),
                a(dx))
    return dx.reshape(shape)


# ---- sigmoid cross-entropy ---------------------------------------------------------------------------

def sigmoid_cross_entropy_forward(xs, ts):
    # xs (...) scores, ts (...) targets in [0, 1] -> loss (), the mean over all elements: per-block partial
    # sums of the stable terms, then one block adds them in order
    dev = device(xs)
    xp = dev.xp
    n = xs.size
    x = contiguous(xs.reshape(n))
    t = contiguous(ts.reshape(n).astype(xs.dtype, copy=False))  # int targets must not promote float32
    B = row_block(n)
    items = _kernel_core.ITEMS_PER_THREAD
    P = (n + items * B - 1) // (items * B)
    partial, loss = xp.zeros(max(P, 1), dtype=xs.dtype), xp.empty(1, dtype=xs.dtype)
    if P:
        _kernels.sigmoid_cross_entropy_partials[P, B, dev.stream](dev.arg(x), dev.arg(t), items, dev.arg(partial))
    launch_one_block(dev, _kernels.mean_of_partials, partial.size, dev.arg(partial), n, dev.arg(loss))
    return loss.reshape(()), (x, t, xs.shape)


def sigmoid_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (...) = (sigmoid(xs) - ts) * dloss / n, one elementwise kernel
    x, t, shape = saved
    dev = device(x)
    d = dev.xp.asarray(dloss, dtype=x.dtype).reshape(1)
    dx = dev.xp.empty_like(x)
    dev.launch(_kernels.sigmoid_cross_entropy_backward, x.size, dev.arg(x), dev.arg(t), dev.arg(d), dev.arg(dx))
    return dx.reshape(shape)


# ---- dropout ---------------------------------------------------------------------------------------

def dropout_forward(x, ratio, train, rng):
    # x (...) -> y (...): inverted dropout; the uniform draws are the array module's, exactly as the
    # reference (and the book) draws them, then compare, scale and multiply are one kernel
    if not train:
        return x, None  # inference: the identity
    dev = device(x)
    xp = dev.xp
    u = xp.asarray(xp.random.rand(*x.shape) if rng is None else rng.random(x.shape))
    x1 = contiguous(x.reshape(x.size))
    y, keep = xp.empty_like(x1), xp.empty(x.size, dtype=xp.uint8)
    ty = np.dtype(x.dtype).type
    scale = ty(1.0 / (1.0 - ratio))  # rounded to x's dtype once, as the reference's mask is
    dev.launch(_kernels.dropout_forward, x.size, dev.arg(x1), dev.arg(contiguous(u.reshape(u.size))),
               float(ratio), scale, ty(0), dev.arg(y), dev.arg(keep))
    return y.reshape(x.shape), (keep, scale)


def dropout_backward(dy, saved):
    # dy (...) -> dx (...)
    if saved is None:  # the forward ran with train=False: the identity
        return dy
    keep, scale = saved
    dev = device(dy)
    dx = dev.xp.empty(dy.size, dtype=dy.dtype)
    dev.launch(_kernels.dropout_backward, dy.size, dev.arg(contiguous(dy.reshape(dy.size))), dev.arg(keep),
               scale, np.dtype(dy.dtype).type(0), dev.arg(dx))
    return dx.reshape(dy.shape)
