"""The C++ CPU backend (pyrnn._cpu): fused whole-sequence RNN/LSTM/GRU kernels over OpenBLAS,
fused softmax cross-entropy over time, and embedding with a deterministic scatter-add.

Threads: the kernels split their GEMMs (into fixed row/column blocks, one single-threaded OpenBLAS
call each) and large pointwise passes over one persistent pool of PYRNN_NUM_THREADS threads (default:
the hardware's); results are bitwise identical across runs at the same thread count.

Arguments arrive validated by `pyrnn.ops` (shapes, one float dtype, NumPy). The C++
bindings take only C-contiguous arrays of the exact dtype (they never convert), so
inputs are made contiguous here, and only when they are not already.

``saved`` payloads are tuples of arrays the kernels made or were given; they keep
references to the caller's xs, Wx, Wh, h0 and c0 (no copies), like the reference.
"""
from pyrnn.backends import BackendUnavailable

ARRAYS = {"numpy"}
NAME = "cpp"

try:
    import numpy as np
    # Load OpenBLAS (libscipy_openblas.so) before the extension needs it: the extension's
    # RPATH finds it too, but an already loaded library works wherever the packages sit.
    import scipy_openblas32  # noqa: F401
    from pyrnn import _cpu
except ImportError as e:  # not built (no compiler), BLAS missing, or failed to load
    _cpu, _import_error = None, e


def probe():
    if _cpu is None:
        import importlib.util

        if importlib.util.find_spec("pyrnn._cpu") is None:
            raise BackendUnavailable("pyrnn._cpu not built (PYRNN_CPU=OFF, or no C++ compiler at install time)")
        raise BackendUnavailable(f"pyrnn._cpu failed to import: {_import_error}")
    if not hasattr(_cpu, "lstm_forward"):
        raise BackendUnavailable("pyrnn._cpu is an old build without kernels; reinstall pyrnn")


def describe():
    info = _cpu.build_info()
    return (f"C++ kernels ({info['compiler']}), {info['blas']} {info['blas_version']} "
            f"({info['blas_core']}, {info['blas_threads']} thread per call), "
            f"{info['threads']} pyrnn threads (PYRNN_NUM_THREADS)")


def _c(a):
    """a as a C-contiguous array (None passes); copies only when it is not one already."""
    if a is None or a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a)


# ---- tanh RNN ------------------------------------------------------------------------------------

def rnn_forward(xs, Wx, Wh, b, h0, train):
    xs, Wx, Wh, b, h0 = _c(xs), _c(Wx), _c(Wh), _c(b), _c(h0)
    hs, hT = _cpu.rnn_forward(xs, Wx, Wh, b, h0)
    saved = (xs, Wx, Wh, h0, hs, b is not None) if train else None
    return hs, hT, saved


def rnn_backward(dhs, dhT, saved):
    return _cpu.rnn_backward(_c(dhs), _c(dhT), *saved)


# ---- LSTM ----------------------------------------------------------------------------------------

def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    xs, Wx, Wh, b, h0, c0 = _c(xs), _c(Wx), _c(Wh), _c(b), _c(h0), _c(c0)
    hs, hT, cT, cs, gates = _cpu.lstm_forward(xs, Wx, Wh, b, h0, c0, bool(train))
    saved = (xs, Wx, Wh, h0, c0, hs, cs, gates, b is not None) if train else None
    return hs, hT, cT, saved


def lstm_backward(dhs, dhT, dcT, saved):
    return _cpu.lstm_backward(_c(dhs), _c(dhT), _c(dcT), *saved)


# ---- GRU -----------------------------------------------------------------------------------------

def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    xs, Wx, Wh, b, h0 = _c(xs), _c(Wx), _c(Wh), _c(b), _c(h0)
    hs, hT, gates, extra = _cpu.gru_forward(xs, Wx, Wh, b, h0, bool(reset_after), bool(train))
    saved = (xs, Wx, Wh, h0, hs, gates, extra, bool(reset_after), b is not None) if train else None
    return hs, hT, saved


def gru_backward(dhs, dhT, saved):
    return _cpu.gru_backward(_c(dhs), _c(dhT), *saved)


# ---- affine over time (x @ W + b for any leading dims) --------------------------------------------

def affine_forward(x, W, b):
    x2 = _c(x).reshape(-1, x.shape[-1])
    out = _cpu.matmul(x2, _c(W), False, False, _c(b))
    return out.reshape(x.shape[:-1] + (W.shape[1],)), (x2, _c(W), b is not None, x.shape)


def affine_backward(dout, saved):
    x2, W, has_bias, x_shape = saved
    d2 = _c(dout).reshape(-1, W.shape[1])
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
    x = _c(xs).reshape(ts.size, V)
    t = _ids(ts)
    ignore = None if ignore_label is None else int(ignore_label)
    loss, n_valid, rowmax, logz = _cpu.softmax_xent_forward(x, t, ignore)
    # the kernel keeps only two numbers per row; the backward recomputes softmax from x (no copy of it)
    return np.asarray(loss, dtype=xs.dtype), (x, t, ignore, rowmax, logz, n_valid, shape)


def softmax_cross_entropy_backward(dloss, saved):
    x, t, ignore, rowmax, logz, n_valid, shape = saved
    dxs = _cpu.softmax_xent_backward(float(dloss), x, t, ignore, rowmax, logz, n_valid)
    return dxs.reshape(shape)


def embedding_forward(W, idx):
    ids = _ids(idx)
    out = _cpu.embedding_forward(_c(W), ids)
    return out.reshape(tuple(idx.shape) + (W.shape[1],)), (ids, W.shape[0], W.shape[1])


def embedding_backward(dout, saved):
    ids, V, D = saved
    return _cpu.embedding_backward(_c(dout).reshape(ids.size, D), ids, V)


from pyrnn.backends.cpp_attention import *  # noqa: E402,F401,F403  (attention ops: cpp_attention.py)
from pyrnn.backends.cpp_norm import *  # noqa: E402,F401,F403  (layer norm: cpp_norm.py)
