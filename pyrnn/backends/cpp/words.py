"""The C++ backend's word-level ops: embedding (deterministic scatter-add backward), affine over the
last axis (on pyrnn's own GEMM threads) and softmax cross-entropy over time (cpp/include/pyrnn/words.hpp,
bound in cpp/bindings/words.cpp).
Softmax, sigmoid cross-entropy and dropout have no C++ kernel: they run on the next backend."""
from __future__ import annotations

import math

import numpy as np

from pyrnn import _cpu
from pyrnn._arrays import contiguous


# ---- affine over time (x @ W + b for any leading dims) --------------------------------------------

def affine_forward(x, W, b):
    # rows counted, not inferred: reshape(-1, 0) cannot infer them when the width D (or M) is 0
    R = math.prod(x.shape[:-1])
    x2 = contiguous(x).reshape(R, x.shape[-1])
    out = _cpu.matmul(x2, contiguous(W), False, False, contiguous(b))
    return out.reshape(x.shape[:-1] + (W.shape[1],)), (x2, contiguous(W), b is not None, x.shape)


def affine_backward(dout, saved):
    x2, W, has_bias, x_shape = saved
    d2 = contiguous(dout).reshape(x2.shape[0], W.shape[1])
    dx = _cpu.matmul(d2, W, False, True, None).reshape(x_shape)
    dW = _cpu.matmul(x2, d2, True, False, None)
    return dx, dW, (d2.sum(axis=0) if has_bias else None)


# ---- softmax cross-entropy over time, embedding -------------------------------------------------

def _ids(a):
    """An integer array (any int dtype, any shape; values validated by pyrnn.ops) as flat C int64."""
    flat = a.reshape(a.size)  # a view when it can be
    if flat.dtype == np.int64 and flat.flags.c_contiguous:
        return flat
    return np.ascontiguousarray(flat, dtype=np.int64)


def softmax_cross_entropy_forward(xs, ts, ignore_label):
    shape, V = xs.shape, xs.shape[-1]
    x = contiguous(xs).reshape(ts.size, V)
    t = _ids(ts)
    ignore = None if ignore_label is None else int(ignore_label)
    loss, n_valid, rowmax, logz = _cpu.softmax_cross_entropy_forward(x, t, ignore)
    # the kernel keeps only two numbers per row; the backward recomputes softmax from x (no copy of it)
    return np.asarray(loss, dtype=xs.dtype), (x, t, ignore, rowmax, logz, n_valid, shape)


def softmax_cross_entropy_backward(dloss, saved):
    x, t, ignore, rowmax, logz, n_valid, shape = saved
    dxs = _cpu.softmax_cross_entropy_backward(float(dloss), x, t, ignore, rowmax, logz, n_valid)
    return dxs.reshape(shape)


def embedding_forward(W, idx):
    ids = _ids(idx)
    out = _cpu.embedding_forward(contiguous(W), ids)
    return out.reshape(tuple(idx.shape) + (W.shape[1],)), (ids, W.shape[0], W.shape[1])


def embedding_backward(dout, saved):
    ids, V, D = saved
    return _cpu.embedding_backward(contiguous(dout).reshape(ids.size, D), ids, V)
