"""The Numba CUDA backend: the recurrent ops for CuPy arrays when `pyrnn._cuda` is missing.

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
gives the reference's mask). Other ops run on the reference (which runs on CuPy).
"""
from __future__ import annotations

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
    return (f"Numba {numba.__version__} CUDA target ({impl}): fused per-step gate kernels, "
            f"cuBLAS GEMMs via CuPy {cupy_module().__version__}, on CuPy's current stream")


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
