"""NumPy reference of the word-level ops: embedding (a row lookup; its gradient a scatter-add of
rows), affine over the last axis, softmax, softmax cross-entropy (with an ignore label), sigmoid
cross-entropy, and inverted dropout (the book's Embedding, Affine, Softmax, SoftmaxWithLoss,
SigmoidWithLoss, Dropout and their Time versions).

Every loss is a 0-d array of the scores' dtype; its backward takes the incoming gradient `dloss` as
a 0-d array of that dtype. All math is done in that dtype (python scalars are weak under NumPy 2
promotion, so they never upcast float32).
"""
from __future__ import annotations

import math

from .._arrays import get_xp
from .core import sigmoid


# ---- embedding --------------------------------------------------------------------------------------

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


# ---- affine -----------------------------------------------------------------------------------------

def _as_rows(a):
    # a (..., K) -> (prod(...), K); explicit sizes so empty leading dims reshape
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def affine_forward(x, W, b):
    # x (..., D), W (D, M), b (M,) or None -> out (..., M)
    out = _as_rows(x) @ W  # all leading axes (batch, time) as one GEMM
    if b is not None:
        out += b  # out is a fresh array: adding in place touches no input
    return out.reshape(x.shape[:-1] + (W.shape[1],)), (x, W, b is not None)


def affine_backward(dout, saved):
    # dout (..., M) -> dx (..., D), dW (D, M), db (M,) or None
    x, W, has_bias = saved
    g = _as_rows(dout)
    dx = (g @ W.T).reshape(x.shape)
    dW = _as_rows(x).T @ g
    db = g.sum(axis=0) if has_bias else None
    return dx, dW, db


# ---- softmax and the losses -------------------------------------------------------------------------

def softmax_forward(x):
    # x (..., V) -> y (..., V), softmax over the last axis
    xp = get_xp(x)
    # Subtracting the row max makes every exponent <= 0: no overflow, and the
    # largest term is exp(0) = 1, so the sum is >= 1 (never 0).
    e = xp.exp(x - x.max(axis=-1, keepdims=True))
    y = e / e.sum(axis=-1, keepdims=True)
    return y, y


def softmax_backward(dy, saved):
    # dy (..., V) -> dx (..., V);  dx = y * (dy - <dy, y>)  (Jacobian diag(y) - y y^T)
    y = saved
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def softmax_cross_entropy_forward(xs, ts, ignore_label):
    # xs (..., V) scores, ts (...) integer labels -> loss () mean over labels != ignore_label
    xp = get_xp(xs)
    V = xs.shape[-1]
    x = xs.reshape(ts.size, V)
    t = ts.reshape(ts.size)
    valid = t != ignore_label if ignore_label is not None else xp.ones(t.shape, dtype=bool)
    n_valid = int(valid.sum())
    # An ignored label may be out of range (-1): gather at class 0 instead, the
    # result is discarded by `valid` below.
    t_safe = xp.where(valid, t, 0)
    # log-softmax = shifted - log(sum(exp(shifted))); the sum is >= 1, so the log
    # is finite and no log(0) of an underflowed probability is ever taken.
    shifted = x - x.max(axis=1, keepdims=True)
    log_z = xp.log(xp.exp(shifted).sum(axis=1))
    logp = shifted[xp.arange(t.size), t_safe] - log_z
    nll = -(logp * valid).sum()  # bool * float keeps the float dtype
    loss = xp.asarray(nll / max(n_valid, 1), dtype=xs.dtype)  # 0 when every label is ignored
    y = xp.exp(shifted - log_z[:, None])  # softmax, for the backward
    return loss, (y, t_safe, valid, n_valid, xs.shape)


def softmax_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (..., V);  d/dx of -log softmax(x)[t] is softmax(x) - onehot(t)
    y, t_safe, valid, n_valid, shape = saved
    xp = get_xp(y)
    dx = y.copy()
    dx[xp.arange(t_safe.size), t_safe] -= 1
    # ignored rows get exactly 0; the others share the mean's 1/n_valid
    dx *= (valid.astype(y.dtype) * (dloss / max(n_valid, 1)))[:, None]
    return dx.reshape(shape)


def sigmoid_cross_entropy_forward(xs, ts):
    # xs (...) scores, ts (...) targets in [0, 1] (int or float) -> loss () mean over elements
    xp = get_xp(xs)
    t = ts.astype(xs.dtype, copy=False)  # int targets must not promote float32 to float64
    # -t log s(x) - (1-t) log(1-s(x)) rewritten in the logits so that large |x|
    # never takes log(0):  max(x, 0) - x t + log(1 + exp(-|x|)).
    per_elem = xp.maximum(xs, 0) - xs * t + xp.log1p(xp.exp(-abs(xs)))
    loss = xp.asarray(per_elem.sum() / max(xs.size, 1), dtype=xs.dtype)
    return loss, (xs, t)


def sigmoid_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (...);  d/dx = (sigmoid(x) - t) / n
    xs, t = saved
    return (sigmoid(xs) - t) * (dloss / max(xs.size, 1))


# ---- dropout ----------------------------------------------------------------------------------------

def dropout_forward(x, ratio, train, rng):
    # x (...) -> y (...): each element kept with probability 1 - ratio, scaled by 1 / (1 - ratio)
    if not train:
        return x, None  # inference: the identity (inverted dropout needs no rescale here)
    xp = get_xp(x)
    if rng is None:
        u = xp.asarray(xp.random.rand(*x.shape))  # the book's draw: np.random.seed reproduces its masks
        # (asarray: for a 0-d x, rand() gives a python float)
    else:
        u = xp.asarray(rng.random(x.shape))  # a numpy/cupy Generator
    # The mask in x's dtype (a python-float scale keeps float32 float32), so that
    # float32 masks equal the book's `flg.astype(np.float32) * scale` bit for bit.
    mask = (u > ratio).astype(x.dtype) * (1.0 / (1.0 - ratio))
    return x * mask, mask


def dropout_backward(dy, saved):
    # dy (...) -> dx (...)
    mask = saved
    if mask is None:  # the forward ran with train=False: the identity
        return dy
    return dy * mask
