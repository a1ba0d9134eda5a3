"""The Numba CUDA backend: every op of the contract for CuPy arrays, used when `pyrnn._cuda` is missing
(and for the ops it lacks).

No CUDA toolkit at build time is needed: the kernels are Python compiled by
numba.cuda at first use (cached on disk). The plan is the fused-kernel one
(shared/DESIGN.md) with the time loop in Python: the input projection of all
steps is one CuPy GEMM (cuBLAS); per step, one CuPy GEMM ``h @ Wh`` and one fused
numba.cuda gate kernel (`numba_cuda_kernels.recurrent`; the GRU with the reset
gate before its matmul needs two of each); the weight gradients are CuPy GEMMs
after the loop. Every launch goes on CuPy's current stream, so kernels and GEMMs
stay in order without a host synchronisation.

Where the kernels run is a `_Device`: CuPy arrays normally; NumPy arrays under
Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported),
which runs the same kernels on the CPU. That is how tests check the kernels on a
machine without a GPU (tests/test_numba_cuda_backend.py).

Also embedding (its backward a deterministic scatter-add, where the reference on CuPy uses
atomics) and dropout (one fused pass after the reference's own uniform draws, so a seeded run
gives the reference's mask). Affine: CuPy GEMMs, a bias kernel, db a column sum. Softmax, softmax
cross-entropy (ignore label; the loss and the label count stay on the device) and layer norm
(saving each row's mean and 1/std): one block per row (`numba_cuda_kernels.rows`), max-subtracted.
Sigmoid cross-entropy: block partial sums, then one block; its gradient one elementwise kernel.
Every sum (rows, losses, the column sums of db, dgamma, dbeta: `numba_cuda_kernels.sums`) is in a
fixed order set by the shapes alone, with no atomics: two runs give bitwise the same results.
The attention ops (seq2seq attention, SDPA) are in `numba_cuda_attention`, imported at the end.
"""
from __future__ import annotations

import math

import numpy as np

from pyrnn._arrays import cupy_module, is_cupy
from pyrnn.backends import BackendUnavailable
from pyrnn.backends import recurrent_gemms as _g

ARRAYS = {"cupy"}
NAME = "numba-cuda"
THREADS_PER_BLOCK = 256

try:
    import numba
    from numba import cuda as _cuda
    from pyrnn.backends.numba_cuda_kernels import recurrent as _rec
    from pyrnn.backends.numba_cuda_kernels import reduce as _red
    from pyrnn.backends.numba_cuda_kernels import rows as _rows
    from pyrnn.backends.numba_cuda_kernels import sums as _sums
    from pyrnn.backends.numba_cuda_kernels import words as _words
except ImportError as e:  # numba missing, or its CUDA target failed to import
    _cuda, _import_error = None, e


def _simulated():
    return bool(numba.config.ENABLE_CUDASIM)


def probe():
    if _cuda is None:
        raise BackendUnavailable(f"numba.cuda failed to import: {_import_error}")
    if cupy_module() is None:
        raise BackendUnavailable("CuPy not installed (pip install 'pyrnn[cuda]')")
    if _simulated():
        raise BackendUnavailable("numba.cuda is the CUDA simulator (NUMBA_ENABLE_CUDASIM=1): no GPU kernels")
    if not _cuda.is_available():
        err = getattr(_cuda, "cuda_error", lambda: None)()
        raise BackendUnavailable(f"numba.cuda sees no usable GPU ({err or 'no CUDA driver or device'})")


def describe():
    impl = getattr(_cuda, "implementation", "unknown")
    return (f"Numba {numba.__version__} CUDA target ({impl}): every op; fused per-step gate kernels and "
            f"row kernels, cuBLAS GEMMs via CuPy {cupy_module().__version__}, on CuPy's current stream")


# ---- where kernels run -----------------------------------------------------------------------------

class _Device:
    """The array module for buffers and GEMMs, how an array becomes a kernel argument, the stream."""

    def __init__(self, xp, arg, stream):
        self.xp, self.arg, self.stream = xp, arg, stream

    def launch(self, kernel, n, *args):
        """Run `kernel` with one thread per element of an n-element pass (nothing when n is 0)."""
        if n == 0:
            return
        block = min(n, THREADS_PER_BLOCK)
        kernel[(n + block - 1) // block, block, self.stream](*args)

    def contiguous(self, a):
        """a as a C-contiguous array the kernels may read (copies only when it is not one)."""
        return a if a.flags.c_contiguous else self.xp.ascontiguousarray(a)


_streams: dict[int, object] = {}


def _device(a):
    """The _Device for arrays like `a`: CuPy on the GPU, or NumPy under the CUDA simulator."""
    if is_cupy(a):
        cp = cupy_module()
        ptr = cp.cuda.get_current_stream().ptr
        stream = _streams.get(ptr)
        if stream is None:  # numba's handle on CuPy's stream, made once per stream
            stream = _streams[ptr] = _cuda.external_stream(ptr)
        # sync=False: launches are ordered on the stream; numba need not wait for it on the host
        return _Device(cp, lambda x: _cuda.as_cuda_array(x, sync=False), stream)
    if isinstance(a, np.ndarray) and _simulated():
        return _Device(np, lambda x: x, 0)
    raise TypeError(f"the numba-cuda backend takes CuPy arrays (NumPy only under NUMBA_ENABLE_CUDASIM=1), "
                    f"got {type(a).__name__}")


def _one(dtype):
    return np.dtype(dtype).type(1)


# ---- tanh RNN --------------------------------------------------------------------------------------

def rnn_forward(xs, Wx, Wh, b, h0, train):
    dev = _device(xs)
    xp, a = dev.xp, dev.arg
    N, T, _ = xs.shape
    H = Wh.shape[0]
    h_init = _g.state(h0, N, H, xs.dtype, xp)
    h = h_init.copy()
    hs = xp.empty((N, T, H), dtype=xs.dtype)
    ax, gh = _g.projection(xs, Wx, b), xp.empty((N, H), dtype=xs.dtype)
    k_ax, k_gh, k_h, k_hs = a(ax), a(gh), a(h), a(hs)
    for t in range(T):
        xp.matmul(h, Wh, out=gh)
        dev.launch(_rec.rnn_forward_step, N * H, k_ax, k_gh, t, k_h, k_hs)
    saved = (xs, Wx, Wh, b is not None, h_init, hs) if train else None
    return hs, h, saved


def rnn_backward(dhs, dhT, saved):
    xs, Wx, Wh, has_bias, h0, hs = saved
    dev = _device(hs)
    xp, a = dev.xp, dev.arg
    N, T, H = hs.shape
    dh = _g.state(dhT, N, H, hs.dtype, xp)
    dA, dAt = xp.empty_like(hs), xp.empty((N, H), dtype=hs.dtype)
    k_dhs, k_hs, k_dh, k_dA, k_dAt = a(dev.contiguous(dhs)), a(hs), a(dh), a(dA), a(dAt)
    one = _one(hs.dtype)
    for t in range(T - 1, -1, -1):
        dev.launch(_rec.rnn_backward_step, N * H, k_dhs, k_hs, k_dh, t, one, k_dA, k_dAt)
        xp.matmul(dAt, Wh.T, out=dh)
    dxs, dWx, db = _g.input_grads(xs, Wx, dA, has_bias)
    dWh = _g.prev_states(h0, hs).T @ _g.rows(dA)
    return dxs, dWx, dWh, db, dh


# ---- LSTM ------------------------------------------------------------------------------------------

def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    dev = _device(xs)
    xp, a = dev.xp, dev.arg
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    h_init, c_init = _g.state(h0, N, H, dt, xp), _g.state(c0, N, H, dt, xp)
    h, c = h_init.copy(), c_init.copy()
    hs = xp.empty((N, T, H), dtype=dt)
    if train:
        cs, gates = xp.empty((N, T, H), dt), xp.empty((N, T, 4 * H), dt)
    else:  # placeholders of the same kernel type; save=False never writes them
        cs = gates = xp.empty((1, 1, 1), dt)
    ax, gh = _g.projection(xs, Wx, b), xp.empty((N, 4 * H), dtype=dt)
    args = [a(x) for x in (ax, gh)], [a(x) for x in (h, c, hs, cs, gates)]
    one, save = _one(dt), bool(train)
    for t in range(T):
        xp.matmul(h, Wh, out=gh)
        dev.launch(_rec.lstm_forward_step, N * H, *args[0], t, one, save, *args[1])
    saved = (xs, Wx, Wh, b is not None, h_init, c_init, hs, cs, gates) if train else None
    return hs, h, c, saved


def lstm_backward(dhs, dhT, dcT, saved):
    xs, Wx, Wh, has_bias, h0, c0, hs, cs, gates = saved
    dev = _device(hs)
    xp, a = dev.xp, dev.arg
    N, T, H = hs.shape
    dh, dc = _g.state(dhT, N, H, hs.dtype, xp), _g.state(dcT, N, H, hs.dtype, xp)
    dA, dAt = xp.empty_like(gates), xp.empty((N, 4 * H), dtype=hs.dtype)
    ins = [a(x) for x in (dev.contiguous(dhs), c0, cs, gates)]
    outs = [a(x) for x in (dh, dc, dA, dAt)]
    one = _one(hs.dtype)
    for t in range(T - 1, -1, -1):
        dev.launch(_rec.lstm_backward_step, N * H, *ins, t, one, *outs)
        xp.matmul(dAt, Wh.T, out=dh)
    dxs, dWx, db = _g.input_grads(xs, Wx, dA, has_bias)
    dWh = _g.prev_states(h0, hs).T @ _g.rows(dA)
    return dxs, dWx, dWh, db, dh, dc


# ---- GRU -------------------------------------------------------------------------------------------

def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    dev = _device(xs)
    xp, a = dev.xp, dev.arg
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    h_init = _g.state(h0, N, H, dt, xp)
    h = h_init.copy()
    hs = xp.empty((N, T, H), dtype=dt)
    if train:
        gates, extra = xp.empty((N, T, 3 * H), dt), xp.empty((N, T, H), dt)
    else:
        gates = extra = xp.empty((1, 1, 1), dt)
    one, save = _one(dt), bool(train)
    if reset_after:
        b_in = None if b is None else b[0]
        b_rec = xp.zeros(3 * H, dtype=dt) if b is None else dev.contiguous(b[1])
        ax, gh = _g.projection(xs, Wx, b_in), xp.empty((N, 3 * H), dtype=dt)
        ins, outs = [a(x) for x in (ax, gh, b_rec)], [a(x) for x in (h, hs, gates, extra)]
        for t in range(T):
            xp.matmul(h, Wh, out=gh)           # one recurrent matmul for all three gates
            dev.launch(_rec.gru_reset_after_forward_step, N * H, *ins, t, one, save, *outs)
    else:
        Whzr, Whn = xp.ascontiguousarray(Wh[:, :2 * H]), xp.ascontiguousarray(Wh[:, 2 * H:])
        ax = _g.projection(xs, Wx, b)
        gzr, z, rh, ghn = (xp.empty((N, w), dtype=dt) for w in (2 * H, H, H, H))
        k_ax, k_gzr, k_z, k_rh, k_ghn = (a(x) for x in (ax, gzr, z, rh, ghn))
        k_h, k_hs, k_gates, k_extra = (a(x) for x in (h, hs, gates, extra))
        for t in range(T):
            xp.matmul(h, Whzr, out=gzr)
            dev.launch(_rec.gru_reset_before_gates_step, N * H, k_ax, k_gzr, k_h, t, one, save,
                       k_z, k_rh, k_gates, k_extra)
            xp.matmul(rh, Whn, out=ghn)        # r resets h before it meets Whn: this matmul waits for r
            dev.launch(_rec.gru_reset_before_output_step, N * H, k_ax, k_ghn, k_z, t, one, save,
                       k_h, k_hs, k_gates)
    # extra: hn = h_prev Whn + b1n (reset_after) or r * h_prev (reset_before), per step
    saved = (xs, Wx, Wh, b is not None, bool(reset_after), h_init, hs, gates, extra) if train else None
    return hs, h, saved


def gru_backward(dhs, dhT, saved):
    xs, Wx, Wh, has_bias, reset_after, h0, hs, gates, extra = saved
    dev = _device(hs)
    xp, a = dev.xp, dev.arg
    N, T, H = hs.shape
    dt = hs.dtype
    one = _one(dt)
    part = _g.state(dhT, N, H, dt, xp)   # the gradient on h_t is part + (the last dA @ Wh.T), as on the CPU
    gh = xp.zeros((N, H), dtype=dt)
    dAx = xp.empty_like(gates)
    k_dhs, k_h0, k_hs, k_gates, k_part, k_gh = (a(x) for x in (dev.contiguous(dhs), h0, hs, gates, part, gh))
    if reset_after:
        dAh, dAt = xp.empty_like(gates), xp.empty((N, 3 * H), dtype=dt)
        k_extra, k_dAx, k_dAh, k_dAt = (a(x) for x in (extra, dAx, dAh, dAt))
        for t in range(T - 1, -1, -1):
            dev.launch(_rec.gru_reset_after_backward_step, N * H, k_dhs, k_h0, k_hs, k_gates, k_extra, k_gh,
                       t, one, k_part, k_dAx, k_dAh, k_dAt)
            xp.matmul(dAt, Wh.T, out=gh)
        dxs, dWx, db = _g.input_grads(xs, Wx, dAx, has_bias)
        dWh = _g.prev_states(h0, hs).T @ _g.rows(dAh)
        if has_bias:
            db = xp.stack([db, dAh.sum(axis=(0, 1))])  # (2, 3H): [input bias, recurrent bias]
    else:
        Whzr, Whn = xp.ascontiguousarray(Wh[:, :2 * H]), xp.ascontiguousarray(Wh[:, 2 * H:])
        dhv, dan, drh, dzr = (xp.empty((N, w), dtype=dt) for w in (H, H, H, 2 * H))
        k_dhv, k_dan, k_drh, k_dzr, k_dAx = (a(x) for x in (dhv, dan, drh, dzr, dAx))
        for t in range(T - 1, -1, -1):
            dev.launch(_rec.gru_reset_before_backward_n_step, N * H, k_dhs, k_gates, k_part, k_gh, t, one,
                       k_dhv, k_dan, k_dAx)
            xp.matmul(dan, Whn.T, out=drh)
            dev.launch(_rec.gru_reset_before_backward_zr_step, N * H, k_h0, k_hs, k_gates, k_dhv, k_drh, t, one,
                       k_dAx, k_dzr, k_part)
            xp.matmul(dzr, Whzr.T, out=gh)
        dxs, dWx, db = _g.input_grads(xs, Wx, dAx, has_bias)
        # z and r multiply h_prev by Wh; n multiplies r * h_prev (saved as `extra`) by Whn
        dA2 = _g.rows(dAx)
        dWh = xp.concatenate([_g.prev_states(h0, hs).T @ dA2[:, :2 * H], _g.rows(extra).T @ dA2[:, 2 * H:]],
                             axis=1)
    return dxs, dWx, dWh, db, part + gh


# ---- embedding -------------------------------------------------------------------------------------

def embedding_forward(W, idx):
    # W (V, D), idx integer (...) -> out (..., D); fancy indexing copies, so out never aliases W
    return W[idx], (idx, W.shape, W.dtype)


def embedding_backward(dout, saved):
    # dout (..., D) -> dW (V, D): rows added in index order, one thread per column (deterministic)
    idx, (V, D), dtype = saved
    dev = _device(dout)
    xp = dev.xp
    dW = xp.zeros((V, D), dtype=dtype)
    rows = xp.ascontiguousarray(idx.reshape(idx.size), dtype=xp.int64)
    if idx.size:
        dev.launch(_words.embedding_scatter_add, D, dev.arg(rows), dev.arg(dev.contiguous(dout.reshape(idx.size, D))),
                   dev.arg(dW))
    return dW


# ---- dropout ---------------------------------------------------------------------------------------

def dropout_forward(x, ratio, train, rng):
    # x (...) -> y (...): inverted dropout; the uniform draws are the array module's, exactly as the
    # reference (and the book) draws them, then compare, scale and multiply are one kernel
    if not train:
        return x, None  # inference: the identity
    dev = _device(x)
    xp = dev.xp
    u = xp.asarray(xp.random.rand(*x.shape) if rng is None else rng.random(x.shape))
    x1 = dev.contiguous(x.reshape(x.size))
    y, keep = xp.empty_like(x1), xp.empty(x.size, dtype=xp.uint8)
    ty = np.dtype(x.dtype).type
    scale = ty(1.0 / (1.0 - ratio))  # rounded to x's dtype once, as the reference's mask is
    dev.launch(_words.dropout_forward, x.size, dev.arg(x1), dev.arg(dev.contiguous(u.reshape(u.size))),
               float(ratio), scale, ty(0), dev.arg(y), dev.arg(keep))
    return y.reshape(x.shape), (keep, scale)


def dropout_backward(dy, saved):
    # dy (...) -> dx (...)
    if saved is None:  # the forward ran with train=False: the identity
        return dy
    keep, scale = saved
    dev = _device(dy)
    dx = dev.xp.empty(dy.size, dtype=dy.dtype)
    dev.launch(_words.dropout_backward, dy.size, dev.arg(dev.contiguous(dy.reshape(dy.size))), dev.arg(keep),
               scale, np.dtype(dy.dtype).type(0), dev.arg(dx))
    return dx.reshape(dy.shape)


# ---- row kernels and deterministic sums: launch helpers --------------------------------------------

def _flat(a, K):
    """a (..., K) -> (R, K) with explicit sizes (empty leading dims reshape too); a copy only when a view
    cannot be had (a strided input)."""
    return a.reshape(math.prod(a.shape[:-1]), K)


def _row_block(n):
    """Threads per block of a row kernel over n elements: the least power of two >= n, at most ROW_BLOCK
    (the reduction tree halves the block; a short row gets a small block, not idle threads)."""
    b = 1
    while b < n and b < _red.ROW_BLOCK:
        b *= 2
    return b


def _launch_rows(dev, kernel, a, *args):
    """Run a row kernel over a (R, V): one block per row (nothing when a is empty)."""
    if a.size:
        kernel[a.shape[0], _row_block(a.shape[1]), dev.stream](*args)


def _launch_one_block(dev, kernel, n, *args):
    """Run a whole-array reduction kernel as one block sized for n values."""
    kernel[1, _row_block(n), dev.stream](*args)


def _sum_chunks(dev, partial):
    """partial (C, M) chunk sums, C >= 1 -> (M,) their sum in chunk order (one chunk: itself)."""
    C, M = partial.shape
    if C == 1:
        return partial.reshape(M)
    out = dev.xp.empty(M, dtype=partial.dtype)
    dev.launch(_sums.sum_chunks, M, dev.arg(partial), dev.arg(out))
    return out


def _chunks(R):
    return (R + _red.COLUMN_CHUNK - 1) // _red.COLUMN_CHUNK


# ---- affine over time (x @ W + b for any leading dims) ---------------------------------------------

def affine_forward(x, W, b):
    # x (..., D), W (D, M), b (M,) or None -> out (..., M): all leading axes as one GEMM (cuBLAS via
    # CuPy), then the bias added in place on the fresh output by one kernel
    dev = _device(x)
    out = dev.contiguous(_flat(x, x.shape[-1]) @ W)
    if b is not None:
        dev.launch(_words.add_bias, out.size, dev.arg(out), dev.arg(dev.contiguous(b)))
    return out.reshape(x.shape[:-1] + (W.shape[1],)), (x, W, b is not None)


def affine_backward(dout, saved):
    # dout (..., M) -> dx (..., D), dW (D, M), db (M,) or None: two GEMMs, db a deterministic column sum
    x, W, has_bias = saved
    dev = _device(dout)
    R, M = math.prod(x.shape[:-1]), W.shape[1]
    g = dev.contiguous(_flat(dout, M))
    dx = (g @ W.T).reshape(x.shape)
    dW = _flat(x, W.shape[0]).T @ g
    db = None
    if has_bias:
        if R == 0 or M == 0:
            db = dev.xp.zeros(M, dtype=dout.dtype)
        else:
            partial = dev.xp.empty((_chunks(R), M), dtype=dout.dtype)
            dev.launch(_sums.column_partials, partial.size, dev.arg(g), _red.COLUMN_CHUNK, dev.arg(partial))
            db = _sum_chunks(dev, partial)
    return dx, dW, db


# ---- softmax over the last axis ----------------------------------------------------------------------

def softmax_forward(x):
    # x (..., V) -> y (..., V); one block per row, max-subtracted
    dev = _device(x)
    x2 = dev.contiguous(_flat(x, x.shape[-1]))
    y = dev.xp.empty_like(x2)
    _launch_rows(dev, _rows.softmax_forward, x2, dev.arg(x2), dev.arg(y))
    return y.reshape(x.shape), y


def softmax_backward(dy, saved):
    # dy (..., V) -> dx (..., V)
    y = saved
    dev = _device(y)
    dx = dev.xp.empty_like(y)
    _launch_rows(dev, _rows.softmax_backward, y, dev.arg(dev.contiguous(_flat(dy, y.shape[1]))), dev.arg(y),
                 dev.arg(dx))
    return dx.reshape(dy.shape)


# ---- softmax cross-entropy ---------------------------------------------------------------------------

def softmax_cross_entropy_forward(xs, ts, ignore_label):
    # xs (..., V), ts (...) -> loss (), the mean over labels != ignore_label (0 when all are ignored). One
    # row kernel (softmax saved for the backward, the label's log-probability), then one block adds the
    # rows in a fixed order and counts the labels on the device: no host synchronisation
    dev = _device(xs)
    xp = dev.xp
    V, R = xs.shape[-1], ts.size
    if V == 0:
        raise ValueError(f"xs: expected shape (..., V) with at least one class, got shape {tuple(xs.shape)}")
    x = dev.contiguous(xs.reshape(R, V))
    t = xp.ascontiguousarray(ts.reshape(R), dtype=xp.int64)
    ignore, has_ignore = (0 if ignore_label is None else int(ignore_label)), ignore_label is not None
    y = xp.empty_like(x)
    loss, count = xp.zeros(1, dtype=xs.dtype), xp.zeros(1, dtype=xp.int64)
    if R:
        logp = xp.empty(R, dtype=xs.dtype)
        a = dev.arg
        _launch_rows(dev, _rows.softmax_cross_entropy_forward, x, a(x), a(t), ignore, has_ignore, a(y), a(logp))
        _launch_one_block(dev, _rows.cross_entropy_loss, R, a(logp), a(t), ignore, has_ignore, a(loss), a(count))
    return loss.reshape(()), (y, t, ignore, has_ignore, count, xs.shape)


def softmax_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (..., V) = (softmax - onehot) * dloss / count, 0 on ignored rows
    y, t, ignore, has_ignore, count, shape = saved
    dev = _device(y)
    d = dev.xp.asarray(dloss, dtype=y.dtype).reshape(1)
    dx = dev.xp.empty_like(y)
    a = dev.arg
    _launch_rows(dev, _rows.softmax_cross_entropy_backward, y, a(y), a(t), ignore, has_ignore, a(d), a(count),
                 a(dx))
    return dx.reshape(shape)


# ---- sigmoid cross-entropy ---------------------------------------------------------------------------

def sigmoid_cross_entropy_forward(xs, ts):
    # xs (...) scores, ts (...) targets in [0, 1] -> loss (), the mean over all elements: per-block partial
    # sums of the stable terms, then one block adds them in order
    dev = _device(xs)
    xp = dev.xp
    n = xs.size
    x = dev.contiguous(xs.reshape(n))
    t = dev.contiguous(ts.reshape(n).astype(xs.dtype, copy=False))  # int targets must not promote float32
    B = _row_block(n)
    P = (n + _red.ITEMS_PER_THREAD * B - 1) // (_red.ITEMS_PER_THREAD * B)
    partial, loss = xp.zeros(max(P, 1), dtype=xs.dtype), xp.empty(1, dtype=xs.dtype)
    if P:
        _sums.sigmoid_cross_entropy_partials[P, B, dev.stream](dev.arg(x), dev.arg(t), _red.ITEMS_PER_THREAD,
                                                               dev.arg(partial))
    _launch_one_block(dev, _sums.mean_of_partials, partial.size, dev.arg(partial), n, dev.arg(loss))
    return loss.reshape(()), (x, t, xs.shape)


def sigmoid_cross_entropy_backward(dloss, saved):
    # dloss () -> dxs (...) = (sigmoid(xs) - ts) * dloss / n, one elementwise kernel
    x, t, shape = saved
    dev = _device(x)
    d = dev.xp.asarray(dloss, dtype=x.dtype).reshape(1)
    dx = dev.xp.empty_like(x)
    dev.launch(_words.sigmoid_cross_entropy_backward, x.size, dev.arg(x), dev.arg(t), dev.arg(d), dev.arg(dx))
    return dx.reshape(shape)


# ---- layer norm --------------------------------------------------------------------------------------

def layer_norm_forward(x, gamma, beta, eps):
    # x (..., D), gamma, beta (D,) -> y (..., D), normalised over the last axis; saves the (contiguous)
    # input and each row's mean and 1/std: the backward recomputes xhat from them
    dev = _device(x)
    xp, a = dev.xp, dev.arg
    x2 = dev.contiguous(_flat(x, x.shape[-1]))
    R = x2.shape[0]
    y, mean, rstd = xp.empty_like(x2), xp.empty(R, dtype=x.dtype), xp.empty(R, dtype=x.dtype)
    _launch_rows(dev, _rows.layer_norm_forward, x2, a(x2), a(dev.contiguous(gamma)), a(dev.contiguous(beta)),
                 np.dtype(x.dtype).type(eps), a(y), a(mean), a(rstd))
    return y.reshape(x.shape), (x2, mean, rstd, gamma, x.shape)


def layer_norm_backward(dy, saved):
    # dy (..., D) -> dx (..., D), dgamma (D,), dbeta (D,): one row kernel for dx, deterministic column sums
    x2, mean, rstd, gamma, shape = saved
    dev = _device(x2)
    xp, a = dev.xp, dev.arg
    R, D = x2.shape
    dy2, g = dev.contiguous(dy.reshape(R, D)), dev.contiguous(gamma)
    dx = xp.empty_like(x2)
    _launch_rows(dev, _rows.layer_norm_backward, x2, a(dy2), a(x2), a(mean), a(rstd), a(g), a(dx))
    if R == 0 or D == 0:
        return dx.reshape(shape), xp.zeros(D, dtype=x2.dtype), xp.zeros(D, dtype=x2.dtype)
    pg, pb = xp.empty((_chunks(R), D), dtype=x2.dtype), xp.empty((_chunks(R), D), dtype=x2.dtype)
    dev.launch(_sums.layer_norm_param_partials, pg.size, a(dy2), a(x2), a(mean), a(rstd), _red.COLUMN_CHUNK,
               a(pg), a(pb))
    return dx.reshape(shape), _sum_chunks(dev, pg), _sum_chunks(dev, pb)


from pyrnn.backends.numba_cuda_attention import *  # noqa: E402,F401,F403  (attention ops: numba_cuda_attention.py)
