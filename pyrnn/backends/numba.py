"""The Numba backend: the op contract for NumPy arrays, JIT-compiled, no C++ build needed.

The fallback when `pyrnn._cpu` is missing (no compiler, unusual platform), and
forced with ``PYRNN_BACKEND=numba`` or ``pyrnn.use_backend("numba")``.

Recurrent ops follow the fast-kernel plan (shared/DESIGN.md): the input
projection of all steps is one NumPy GEMM here; the whole time loop runs in one
``@njit`` kernel (`numba_kernels.recurrent`) that does ``h @ Wh`` per step with
BLAS (``np.dot`` inside njit) and one fused elementwise pass over the gates;
backward writes the pre-activation gradients of all steps into one buffer, and
the weight gradients are GEMMs here, after the loop. The other ops are NumPy
GEMMs plus fused njit passes for their elementwise/row-wise parts.

Kernels are serial (``parallel=False``): on small per-step work a parallel
region costs more than it saves and competes with the BLAS threads. Every
kernel takes C-contiguous, writeable arrays of the call's dtype and nothing
optional (absent states are zeros, "no bias" is done outside the kernels), so
each compiles to one specialization per dtype, cached on disk (``cache=True``).

``saved`` payloads are tuples; like the reference they keep references to the
caller's inputs (no copies) and to the outputs.
"""
from __future__ import annotations

import math

import numpy as np

from pyrnn.backends import BackendUnavailable
from pyrnn.backends import recurrent_gemms as _g
from pyrnn.reference import losses as _ref_losses

ARRAYS = {"numpy"}
NAME = "numba"

try:
    import numba as _numba
    import scipy.linalg.cython_blas  # noqa: F401  (np.dot inside njit calls BLAS through SciPy)
    from pyrnn.backends.numba_kernels import recurrent as _rec
    from pyrnn.backends.numba_kernels import elementwise as _elem
    from pyrnn.backends.numba_kernels import rows as _rows_k
except ImportError as e:  # numba (or SciPy, which numba's BLAS needs) missing or broken
    _numba, _import_error = None, e


def probe():
    if _numba is None:
        raise BackendUnavailable(f"numba failed to import: {_import_error}")


def describe():
    return (f"Numba {_numba.__version__} JIT (serial fused loops, cached), "
            f"BLAS GEMMs via NumPy/SciPy, {_numba.config.NUMBA_NUM_THREADS} CPUs")


# ---- helpers ---------------------------------------------------------------------------------------

def _k(a):
    """a as a C-contiguous, writeable array (what every kernel takes: one specialization per dtype).
    Copies only when it is not one already (read-only or strided input)."""
    if a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, order="C")


def _empty3(dtype):
    """A (0, 0, 0) placeholder for the saved arrays of a train=False call (same kernel type)."""
    return np.empty((0, 0, 0), dtype=dtype)


# ---- tanh RNN ----------------------------------------------------------------------------------------

def rnn_forward(xs, Wx, Wh, b, h0, train):
    N, T, _ = xs.shape
    H = Wh.shape[0]
    h_init = _g.state(h0, N, H, xs.dtype, np)
    h = h_init.copy()
    hs = np.empty((N, T, H), dtype=xs.dtype)
    _rec.rnn_forward(_g.projection(xs, Wx, b), _k(Wh), h, hs)
    saved = (xs, Wx, Wh, b is not None, h_init, hs) if train else None
    return hs, h, saved


def rnn_backward(dhs, dhT, saved):
    xs, Wx, Wh, has_bias, h0, hs = saved
    N, T, H = hs.shape
    dh = _g.state(dhT, N, H, hs.dtype, np)
    dA = np.empty_like(hs)
    _rec.rnn_backward(_k(dhs), hs, _k(Wh), dh, dA)
    dxs, dWx, db = _g.input_grads(xs, Wx, dA, has_bias)
    dWh = _g.prev_states(h0, hs).T @ _g.rows(dA)
    return dxs, dWx, dWh, db, dh


# ---- LSTM --------------------------------------------------------------------------------------------

def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    h_init, c_init = _g.state(h0, N, H, dt, np), _g.state(c0, N, H, dt, np)
    h, c = h_init.copy(), c_init.copy()
    hs = np.empty((N, T, H), dtype=dt)
    if train:
        cs, tcs, gates = np.empty((N, T, H), dt), np.empty((N, T, H), dt), np.empty((N, T, 4 * H), dt)
    else:
        cs = tcs = gates = _empty3(dt)
    _rec.lstm_forward(_g.projection(xs, Wx, b), _k(Wh), h, c, hs, cs, tcs, gates, bool(train))
    saved = (xs, Wx, Wh, b is not None, h_init, c_init, hs, cs, tcs, gates) if train else None
    return hs, h, c, saved


def lstm_backward(dhs, dhT, dcT, saved):
    xs, Wx, Wh, has_bias, h0, c0, hs, cs, tcs, gates = saved
    N, T, H = hs.shape
    dh, dc = _g.state(dhT, N, H, hs.dtype, np), _g.state(dcT, N, H, hs.dtype, np)
    dA = np.empty_like(gates)
    _rec.lstm_backward(_k(dhs), c0, cs, tcs, gates, _k(Wh), dh, dc, dA)
    dxs, dWx, db = _g.input_grads(xs, Wx, dA, has_bias)
    dWh = _g.prev_states(h0, hs).T @ _g.rows(dA)
    return dxs, dWx, dWh, db, dh, dc


# ---- GRU ---------------------------------------------------------------------------------------------

def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    h_init = _g.state(h0, N, H, dt, np)
    h = h_init.copy()
    hs = np.empty((N, T, H), dtype=dt)
    if train:
        gates, extra = np.empty((N, T, 3 * H), dt), np.empty((N, T, H), dt)
    else:
        gates = extra = _empty3(dt)
    if reset_after:
        b_in = None if b is None else b[0]
        b_rec = np.zeros(3 * H, dtype=dt) if b is None else _k(b[1])
        _rec.gru_forward_reset_after(_g.projection(xs, Wx, b_in), _k(Wh), b_rec, h, hs, gates, extra,
                                     bool(train))
    else:
        Whzr, Whn = np.ascontiguousarray(Wh[:, :2 * H]), np.ascontiguousarray(Wh[:, 2 * H:])
        _rec.gru_forward_reset_before(_g.projection(xs, Wx, b), Whzr, Whn, h, hs, gates, extra, bool(train))
    # extra: hn = h_prev Whn + b1n (reset_after) or r * h_prev (reset_before), per step
    saved = (xs, Wx, Wh, b is not None, bool(reset_after), h_init, hs, gates, extra) if train else None
    return hs, h, saved


def gru_backward(dhs, dhT, saved):
    xs, Wx, Wh, has_bias, reset_after, h0, hs, gates, extra = saved
    N, T, H = hs.shape
    dh = _g.state(dhT, N, H, hs.dtype, np)
    dAx = np.empty_like(gates)
    if reset_after:
        dAh = np.empty_like(gates)
        _rec.gru_backward_reset_after(_k(dhs), h0, hs, gates, extra, _k(Wh), dh, dAx, dAh)
        dxs, dWx, db = _g.input_grads(xs, Wx, dAx, has_bias)
        dWh = _g.prev_states(h0, hs).T @ _g.rows(dAh)
        if has_bias:
            db = np.stack([db, dAh.sum(axis=(0, 1))])  # (2, 3H): [input bias, recurrent bias]
    else:
        Whzr, Whn = np.ascontiguousarray(Wh[:, :2 * H]), np.ascontiguousarray(Wh[:, 2 * H:])
        _rec.gru_backward_reset_before(_k(dhs), h0, hs, gates, Whzr, Whn, dh, dAx)
        dxs, dWx, db = _g.input_grads(xs, Wx, dAx, has_bias)
        # z and r multiply h_prev by Wh; n multiplies r * h_prev (saved as `extra`) by Whn
        dA2 = _g.rows(dAx)
        dWh = np.concatenate([_g.prev_states(h0, hs).T @ dA2[:, :2 * H], _g.rows(extra).T @ dA2[:, 2 * H:]], axis=1)
    return dxs, dWx, dWh, db, dh


# ---- embedding ---------------------------------------------------------------------------------------

def embedding_forward(W, idx):
    # W (V, D), idx integer (...) -> out (..., D); fancy indexing copies, so out never aliases W
    return W[idx], (idx, W.shape, W.dtype)


def embedding_backward(dout, saved):
    # dout (..., D) -> dW (V, D): rows scatter-added in index order (deterministic, as np.add.at)
    idx, (V, D), dtype = saved
    dW = np.zeros((V, D), dtype=dtype)
    rows = _k(idx.reshape(idx.size).astype(np.intp, copy=False))
    _rows_k.embedding_scatter_add(rows, _k(dout.reshape(idx.size, D)), dW)
    return dW


# ---- softmax cross-entropy ---------------------------------------------------------------------------

def _labels(ts, ignore_label):
    t = _k(ts.reshape(ts.size).astype(np.intp, copy=False))
    return t, (0 if ignore_label is None else int(ignore_label)), ignore_label is not None


def softmax_cross_entropy_forward(xs, ts, ignore_label):
    # xs (..., V), ts (...) -> loss (), the mean over labels != ignore_label (0 when all are ignored)
    V = xs.shape[-1]
    if V == 0:  # nothing to normalise over: let the reference raise its error
        return _ref_losses.softmax_cross_entropy_forward(xs, ts, ignore_label)
    x = _k(xs.reshape(ts.size, V))
    t, ignore, has_ignore = _labels(ts, ignore_label)
    y = np.empty_like(x)
    logp = np.empty(ts.size, dtype=xs.dtype)
    n_valid = _rows_k.softmax_cross_entropy_forward(x, t, ignore, has_ignore, y, logp)
    loss = np.asarray(-logp.sum() / max(n_valid, 1), dtype=xs.dtype)
    return loss, ("numba", y, t, ignore, has_ignore, n_valid, xs.shape)


def softmax_cross_entropy_backward(dloss, saved):
    if saved[0] != "numba":  # the V == 0 case ran on the reference
        return _ref_losses.softmax_cross_entropy_backward(dloss, saved)
    _, y, t, ignore, has_ignore, n_valid, shape = saved
    scale = np.asarray(dloss / max(n_valid, 1), dtype=y.dtype).reshape(1)
    dx = np.empty_like(y)
    _rows_k.softmax_cross_entropy_backward(y, t, ignore, has_ignore, scale, dx)
    return dx.reshape(shape)


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


def _flat(a, K):
    """a (..., K) -> (R, K) with explicit sizes (empty leading dims reshape too)."""
    return a.reshape(math.prod(a.shape[:-1]), K)


# ---- softmax over the last axis ----------------------------------------------------------------------

def softmax_forward(x):
    # x (..., V) -> y (..., V); ops checks V >= 1
    V = x.shape[-1]
    x2 = _k(_flat(x, V))
    y = np.empty_like(x2)
    _rows_k.softmax_forward(x2, y)
    return y.reshape(x.shape), y


def softmax_backward(dy, saved):
    # dy (..., V) -> dx (..., V)
    y = saved
    dx = np.empty_like(y)
    _rows_k.softmax_backward(_k(_flat(dy, y.shape[1])), y, dx)
    return dx.reshape(dy.shape)


# ---- sigmoid cross-entropy ---------------------------------------------------------------------------

def sigmoid_cross_entropy_forward(xs, ts):
    # xs (...) scores, ts (...) targets in [0, 1] -> loss (), the mean over all elements. The loss is the
    # reference's NumPy expression: its exp and log1p are NumPy's SIMD loops, and with numba's scalar
    # log1p a fused kernel took longer (3.2M float32 elements: 88 ms) than the reference's forward and
    # backward together (38 ms).
    loss, _ = _ref_losses.sigmoid_cross_entropy_forward(xs, ts)
    x = _k(xs.reshape(xs.size))
    t = _k(ts.reshape(ts.size).astype(xs.dtype, copy=False))  # int targets must not promote float32
    return loss, (x, t, xs.shape)


def sigmoid_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (...) = (sigmoid(xs) - ts) * dloss / n, one fused vectorized pass
    x, t, shape = saved
    scale = np.asarray(dloss / max(x.size, 1), dtype=x.dtype).reshape(1)
    dx = np.empty_like(x)
    _elem.sigmoid_cross_entropy_backward(x, t, scale, dx)
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
    x1 = _k(x.reshape(x.size))
    # the scale rounded to x's dtype once, as the reference's `mask.astype(dtype) * python float` does
    scale = np.asarray(1.0 / (1.0 - ratio), dtype=x.dtype).reshape(1)
    y, keep = np.empty_like(x1), np.empty(x.size, dtype=np.bool_)
    _elem.dropout_forward(x1, _k(u.reshape(u.size)), float(ratio), scale, y, keep)
    return y.reshape(x.shape), (keep, scale)


def dropout_backward(dy, saved):
    # dy (...) -> dx (...)
    if saved is None:  # the forward ran with train=False: the identity
        return dy
    keep, scale = saved
    dx = np.empty(dy.size, dtype=dy.dtype)
    _elem.dropout_backward(_k(dy.reshape(dy.size)), keep, scale, dx)
    return dx.reshape(dy.shape)


# ---- layer norm --------------------------------------------------------------------------------------

def layer_norm_forward(x, gamma, beta, eps):
    # x (..., D), gamma, beta (D,) -> y (..., D), normalised over the last axis
    D = x.shape[-1]
    R = math.prod(x.shape[:-1])
    x2 = _k(x.reshape(R, D))
    y, xhat = np.empty_like(x2), np.empty_like(x2)
    rstd = np.empty(R, dtype=x.dtype)
    _rows_k.layer_norm_forward(x2, _k(gamma), _k(beta), np.full(1, eps, dtype=x.dtype), y, xhat, rstd)
    return y.reshape(x.shape), (xhat, rstd, gamma, x.shape)


def layer_norm_backward(dy, saved):
    # dy (..., D) -> dx (..., D), dgamma (D,), dbeta (D,)
    xhat, rstd, gamma, shape = saved
    R, D = xhat.shape
    dx = np.empty_like(xhat)
    dgamma, dbeta = np.zeros(D, dtype=xhat.dtype), np.zeros(D, dtype=xhat.dtype)
    _rows_k.layer_norm_backward(_k(dy.reshape(R, D)), xhat, rstd, _k(gamma), dx, dgamma, dbeta)
    return dx.reshape(shape), dgamma, dbeta


from pyrnn.backends.numba_attention import *  # noqa: E402,F401,F403  (attention ops: numba_attention.py)
