"""The CUDA backend (pyrnn._cuda) for CuPy arrays: whole-sequence tanh RNN, LSTM and GRU (both
reset variants), forward and backward, float32 and float64, on cuBLAS GEMMs and fused per-step
kernels (kernels/); seq2seq attention (attention, attention_weights, weighted_sum) on cuBLAS
strided-batched GEMMs and masked-softmax row kernels; scaled dot-product attention the same way
(materialising the (Tq, Tk) weights), or streaming when those would be large (see sdpa_forward
below); layer norm on per-row kernels. The other ops of the contract go to the next CuPy
backend (numba-cuda, else the reference: the dispatcher's rule).

This module owns every GPU buffer: outputs and workspaces are CuPy arrays (CuPy's memory pool),
allocated on the inputs' device, and the kernels get their raw pointers, the device and CuPy's
current stream for that device. They only queue work on that stream (no synchronization), so a
result is ready for whatever the caller queues next on the same stream, as with any CuPy op.

Arguments arrive validated by `pyrnn.ops` (shapes, one float dtype, CuPy). Here they are made
C-contiguous (copied only when they are not already) and checked to share one device.

``saved`` payloads are tuples; like the reference they keep references to the caller's xs, Wx,
Wh, h0 and c0 (no copies) and to the outputs.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os

from pyrnn._arrays import cupy_module
from pyrnn.backends import BackendUnavailable

ARRAYS = {"cupy"}
NAME = "cuda"


def _preload_cublas():
    """Load libcublas.so.13 from the nvidia-cublas wheel wherever `nvidia` imports from (the
    extension's RPATH covers only a wheel in pyrnn's own site-packages). True when loaded."""
    spec = importlib.util.find_spec("nvidia")
    for d in (spec.submodule_search_locations if spec else None) or ():
        lib = os.path.join(d, "cu13", "lib", "libcublas.so.13")
        if os.path.isfile(lib):
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)  # its RPATH ($ORIGIN) finds libcublasLt next to it
            return True
    return False


try:
    from pyrnn import _cuda
    _import_error = None
except ImportError as e:  # built without a CUDA toolkit, or cuBLAS not found at load time
    _cuda, _import_error = None, e
    if "libcublas" in str(e):
        try:
            if _preload_cublas():
                from pyrnn import _cuda
        except (ImportError, OSError) as e2:
            _import_error = e2

cp = cupy_module()


def probe():
    if _cuda is None:
        if importlib.util.find_spec("pyrnn._cuda") is None:
            raise BackendUnavailable("pyrnn._cuda not built (no CUDA toolkit at build time, or PYRNN_CUDA=OFF)")
        hint = " (pip install 'nvidia-cublas>=13,<14', or pyrnn[cuda])" if "libcublas" in str(_import_error) else ""
        raise BackendUnavailable(f"pyrnn._cuda failed to load: {_import_error}{hint}")
    if not hasattr(_cuda, "lstm_forward"):
        raise BackendUnavailable("pyrnn._cuda is an old build without kernels; reinstall pyrnn")
    dev = _cuda.device_info()
    if dev["device_count"] == 0:
        raise BackendUnavailable(f"no GPU visible ({dev.get('error', 'cudaGetDeviceCount returned 0')})")
    if cp is None:
        raise BackendUnavailable("CuPy not installed (pip install 'pyrnn[cuda]')")


def describe():
    b, d = _cuda.build_info(), _cuda.device_info()
    return (f"CUDA kernels on {', '.join(d['devices'])} (built with CUDA {b['cuda_version']} for arch "
            f"{b['cuda_archs']}; cuBLAS {b['cublas_runtime_version']} from {b['cublas_from']})")


# ---- helpers ---------------------------------------------------------------------------------------

def _c(a):
    """a as a C-contiguous CuPy array (None passes); copies only when it is not one already."""
    return None if a is None else cp.ascontiguousarray(a)


def _p(a):
    """The device pointer of a (0 for None: an absent optional array)."""
    return 0 if a is None else a.data.ptr


def _device(**arrays):
    """The one device all given arrays live on (ValueError naming the odd one out)."""
    first, dev = None, None
    for name, a in arrays.items():
        if a is None:
            continue
        if dev is None:
            first, dev = name, a.device.id
        elif a.device.id != dev:
            raise ValueError(f"{name}: on GPU {a.device.id}, but {first} is on GPU {dev}; "
                             f"all arrays of one call must be on one device")
    return dev


def _stream():
    """CuPy's current stream on the current device, as the integer the kernels take."""
    return cp.cuda.get_current_stream().ptr


def _dims(xs, Wh):
    N, T, D = xs.shape
    return N, T, D, Wh.shape[0]


# ---- tanh RNN ------------------------------------------------------------------------------------
# Each op runs with the inputs' device current: CuPy allocates there, and its current stream there
# is the one the kernels queue on.

def rnn_forward(xs, Wx, Wh, b, h0, train):
    dev = _device(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0)
    with cp.cuda.Device(dev):
        xs, Wx, Wh, b, h0 = _c(xs), _c(Wx), _c(Wh), _c(b), _c(h0)
        N, T, D, H = _dims(xs, Wh)
        hs, hT = cp.empty((N, T, H), xs.dtype), cp.empty((N, H), xs.dtype)
        _cuda.rnn_forward(dtype=xs.dtype.name, N=N, T=T, D=D, H=H, xs=_p(xs), Wx=_p(Wx), Wh=_p(Wh), b=_p(b),
                          h0=_p(h0), hs=_p(hs), hT=_p(hT), device=dev, stream=_stream())
    saved = (xs, Wx, Wh, h0, hs, b is not None) if train else None
    return hs, hT, saved


def rnn_backward(dhs, dhT, saved):
    xs, Wx, Wh, h0, hs, has_bias = saved
    dev = _device(xs=xs, dhs=dhs, dhT=dhT)
    with cp.cuda.Device(dev):
        dhs, dhT = _c(dhs), _c(dhT)
        N, T, D, H = _dims(xs, Wh)
        dt = xs.dtype
        dxs, dWx, dWh = cp.empty((N, T, D), dt), cp.empty((D, H), dt), cp.empty((H, H), dt)
        db = cp.empty((H,), dt) if has_bias else None
        dh0 = cp.empty((N, H), dt)
        dA, hprev = cp.empty((N, T, H), dt), cp.empty((N, T, H), dt)  # workspace
        _cuda.rnn_backward(dtype=dt.name, N=N, T=T, D=D, H=H, xs=_p(xs), Wx=_p(Wx), Wh=_p(Wh), h0=_p(h0),
                           hs=_p(hs), dhs=_p(dhs), dhT=_p(dhT), dxs=_p(dxs), dWx=_p(dWx), dWh=_p(dWh), db=_p(db),
                           dh0=_p(dh0), dA=_p(dA), hprev=_p(hprev), device=dev, stream=_stream())
    return dxs, dWx, dWh, db, dh0


# ---- LSTM ----------------------------------------------------------------------------------------

def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    dev = _device(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0, c0=c0)
    with cp.cuda.Device(dev):
        xs, Wx, Wh, b, h0, c0 = _c(xs), _c(Wx), _c(Wh), _c(b), _c(h0), _c(c0)
        N, T, D, H = _dims(xs, Wh)
        dt = xs.dtype
        hs, hT, cT = cp.empty((N, T, H), dt), cp.empty((N, H), dt), cp.empty((N, H), dt)
        # training keeps the activated gates and the cell states; inference needs the gate buffer
        # only as workspace (the input projections of all steps) and keeps no cell-state history
        gates = cp.empty((N, T, 4 * H), dt)
        cs = cp.empty((N, T, H), dt) if train else None
        _cuda.lstm_forward(dtype=dt.name, N=N, T=T, D=D, H=H, xs=_p(xs), Wx=_p(Wx), Wh=_p(Wh), b=_p(b), h0=_p(h0),
                           c0=_p(c0), hs=_p(hs), hT=_p(hT), cT=_p(cT), gates=_p(gates), cs=_p(cs), device=dev,
                           stream=_stream())
    saved = (xs, Wx, Wh, h0, c0, hs, cs, gates, b is not None) if train else None
    return hs, hT, cT, saved


def lstm_backward(dhs, dhT, dcT, saved):
    xs, Wx, Wh, h0, c0, hs, cs, gates, has_bias = saved
    dev = _device(xs=xs, dhs=dhs, dhT=dhT, dcT=dcT)
    with cp.cuda.Device(dev):
        dhs, dhT, dcT = _c(dhs), _c(dhT), _c(dcT)
        N, T, D, H = _dims(xs, Wh)
        dt = xs.dtype
        dxs, dWx, dWh = cp.empty((N, T, D), dt), cp.empty((D, 4 * H), dt), cp.empty((H, 4 * H), dt)
        db = cp.empty((4 * H,), dt) if has_bias else None
        dh0, dc0 = cp.empty((N, H), dt), cp.empty((N, H), dt)
        dA, hprev = cp.empty((N, T, 4 * H), dt), cp.empty((N, T, H), dt)  # workspace
        _cuda.lstm_backward(dtype=dt.name, N=N, T=T, D=D, H=H, xs=_p(xs), Wx=_p(Wx), Wh=_p(Wh), h0=_p(h0),
                            c0=_p(c0), hs=_p(hs), cs=_p(cs), gates=_p(gates), dhs=_p(dhs), dhT=_p(dhT), dcT=_p(dcT),
                            dxs=_p(dxs), dWx=_p(dWx), dWh=_p(dWh), db=_p(db), dh0=_p(dh0), dc0=_p(dc0), dA=_p(dA),
                            hprev=_p(hprev), device=dev, stream=_stream())
    return dxs, dWx, dWh, db, dh0, dc0


# ---- GRU -----------------------------------------------------------------------------------------

def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    dev = _device(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0)
    with cp.cuda.Device(dev):
        xs, Wx, Wh, b, h0 = _c(xs), _c(Wx), _c(Wh), _c(b), _c(h0)
        N, T, D, H = _dims(xs, Wh)
        dt = xs.dtype
        hs, hT = cp.empty((N, T, H), dt), cp.empty((N, H), dt)
        gates = cp.empty((N, T, 3 * H), dt)
        extra = cp.empty((N, T, H), dt) if train else None
        # per-step scratch: h_{t-1} Wh (reset_after), or r * h_{t-1} when inference keeps no `extra`
        scratch = cp.empty((N, 3 * H), dt) if reset_after else None if train else cp.empty((N, H), dt)
        _cuda.gru_forward(dtype=dt.name, N=N, T=T, D=D, H=H, reset_after=bool(reset_after), xs=_p(xs), Wx=_p(Wx),
                          Wh=_p(Wh), b=_p(b), h0=_p(h0), hs=_p(hs), hT=_p(hT), gates=_p(gates), extra=_p(extra),
                          scratch=_p(scratch), device=dev, stream=_stream())
    saved = (xs, Wx, Wh, h0, hs, gates, extra, bool(reset_after), b is not None) if train else None
    return hs, hT, saved


def gru_backward(dhs, dhT, saved):
    xs, Wx, Wh, h0, hs, gates, extra, reset_after, has_bias = saved
    dev = _device(xs=xs, dhs=dhs, dhT=dhT)
    with cp.cuda.Device(dev):
        dhs, dhT = _c(dhs), _c(dhT)
        N, T, D, H = _dims(xs, Wh)
        G, dt = 3 * H, xs.dtype
        dxs, dWx, dWh = cp.empty((N, T, D), dt), cp.empty((D, G), dt), cp.empty((H, G), dt)
        db = cp.empty((2, G) if reset_after else (G,), dt) if has_bias else None
        dh0 = cp.empty((N, H), dt)
        # workspace: gradients of x Wx + b_in (dAx) and, reset_after, of h Wh + b_rec (dAh);
        # reset_before needs the gradient of r * h_{t-1} of one step (drh)
        dAx, hprev = cp.empty((N, T, G), dt), cp.empty((N, T, H), dt)
        dAh = cp.empty((N, T, G), dt) if reset_after else None
        drh = None if reset_after else cp.empty((N, H), dt)
        _cuda.gru_backward(dtype=dt.name, N=N, T=T, D=D, H=H, reset_after=reset_after, xs=_p(xs), Wx=_p(Wx),
                           Wh=_p(Wh), h0=_p(h0), hs=_p(hs), gates=_p(gates), extra=_p(extra), dhs=_p(dhs),
                           dhT=_p(dhT), dxs=_p(dxs), dWx=_p(dWx), dWh=_p(dWh), db=_p(db), dh0=_p(dh0), dAx=_p(dAx),
                           dAh=_p(dAh), drh=_p(drh), hprev=_p(hprev), device=dev, stream=_stream())
    return dxs, dWx, dWh, db, dh0


# ---- seq2seq attention ---------------------------------------------------------------------------
# hs (N, Te, H), hq (N, Td, H), mask (N, Te) bool or None; the GEMMs are cuBLAS strided-batched
# calls over the N batch rows and the softmax is one kernel over the N*Td score rows.

def _attn_dims(hs, q_or_a):
    """N, Te, Td, H from hs (N, Te, H) and hq (N, Td, H) or a (N, Td, Te)."""
    N, Te, H = hs.shape
    return N, Te, q_or_a.shape[1], H


def attention_weights_forward(hs, hq, mask):
    dev = _device(hs=hs, hq=hq, mask=mask)
    with cp.cuda.Device(dev):
        hs, hq, mask = _c(hs), _c(hq), _c(mask)
        N, Te, Td, H = _attn_dims(hs, hq)
        a = cp.empty((N, Td, Te), hs.dtype)
        _cuda.attention_weights_forward(dtype=hs.dtype.name, N=N, Te=Te, Td=Td, H=H, hs=_p(hs), hq=_p(hq),
                                        mask=_p(mask), a=_p(a), device=dev, stream=_stream())
    return a, (hs, hq, a)


def attention_weights_backward(da, saved):
    hs, hq, a = saved
    dev = _device(hs=hs, da=da)
    with cp.cuda.Device(dev):
        da = _c(da)
        N, Te, Td, H = _attn_dims(hs, hq)
        dt = hs.dtype
        dhs, dhq = cp.empty((N, Te, H), dt), cp.empty((N, Td, H), dt)
        ds = cp.empty((N, Td, Te), dt)  # workspace: the score gradient
        _cuda.attention_weights_backward(dtype=dt.name, N=N, Te=Te, Td=Td, H=H, hs=_p(hs), hq=_p(hq), a=_p(a),
                                         da=_p(da), dhs=_p(dhs), dhq=_p(dhq), ds=_p(ds), device=dev, stream=_stream())
    return dhs, dhq


def weighted_sum_forward(hs, a):
    dev = _device(hs=hs, a=a)
    with cp.cuda.Device(dev):
        hs, a = _c(hs), _c(a)
        N, Te, Td, H = _attn_dims(hs, a)
        c = cp.empty((N, Td, H), hs.dtype)
        _cuda.weighted_sum_forward(dtype=hs.dtype.name, N=N, Te=Te, Td=Td, H=H, hs=_p(hs), a=_p(a), c=_p(c),
                                   device=dev, stream=_stream())
    return c, (hs, a)


def weighted_sum_backward(dc, saved):
    hs, a = saved
    dev = _device(hs=hs, dc=dc)
    with cp.cuda.Device(dev):
        dc = _c(dc)
        N, Te, Td, H = _attn_dims(hs, a)
        dt = hs.dtype
        dhs, da = cp.empty((N, Te, H), dt), cp.empty((N, Td, Te), dt)
        _cuda.weighted_sum_backward(dtype=dt.name, N=N, Te=Te, Td=Td, H=H, hs=_p(hs), a=_p(a), dc=_p(dc),
                                    dhs=_p(dhs), da=_p(da), device=dev, stream=_stream())
    return dhs, da


def attention_forward(hs, hq, mask, train):
    dev = _device(hs=hs, hq=hq, mask=mask)
    with cp.cuda.Device(dev):
        hs, hq, mask = _c(hs), _c(hq), _c(mask)
        N, Te, Td, H = _attn_dims(hs, hq)
        a, c = cp.empty((N, Td, Te), hs.dtype), cp.empty((N, Td, H), hs.dtype)
        _cuda.attention_forward(dtype=hs.dtype.name, N=N, Te=Te, Td=Td, H=H, hs=_p(hs), hq=_p(hq), mask=_p(mask),
                                a=_p(a), c=_p(c), device=dev, stream=_stream())
    return c, a, ((hs, hq, a) if train else None)


def attention_backward(dc, saved):
    hs, hq, a = saved
    dev = _device(hs=hs, dc=dc)
    with cp.cuda.Device(dev):
        dc = _c(dc)
        N, Te, Td, H = _attn_dims(hs, hq)
        dt = hs.dtype
        dhs, dhq = cp.empty((N, Te, H), dt), cp.empty((N, Td, H), dt)
        ds = cp.empty((N, Td, Te), dt)  # workspace: dc hs^T, then the score gradient in place
        _cuda.attention_backward(dtype=dt.name, N=N, Te=Te, Td=Td, H=H, hs=_p(hs), hq=_p(hq), a=_p(a), dc=_p(dc),
                                 dhs=_p(dhs), dhq=_p(dhq), ds=_p(ds), device=dev, stream=_stream())
    return dhs, dhq


# ---- scaled dot-product attention ----------------------------------------------------------------
# q (N, Hh, Tq, dk), k (N, Hh, Tk, dk), v (N, Hh, Tk, dv), mask (N, Tk) bool or None. Two versions:
# - materialised (kernels/src/sdpa.cu): P (N, Hh, Tq, Tk) from cuBLAS GEMMs + the softmax row kernels,
#   kept for the backward: fast for small problems, memory grows as Tq * Tk;
# - streaming (kernels/src/sdpa_stream.cu): online softmax, keeps only out and the row logsumexp,
#   the backward recomputes the weights: O(N * Hh * Tq) extra memory, used once P would exceed
#   SDPA_STREAM_BYTES. PYRNN_CUDA_SDPA_STREAM=1 (or 0) forces it on (or off), for tests.

SDPA_STREAM_BYTES = 256 << 20  # above this size of P, stream


def _sdpa_streams(N, Hh, Tq, Tk, dtype):
    force = os.environ.get("PYRNN_CUDA_SDPA_STREAM", "")
    if force in ("0", "1"):
        return force == "1"
    if force:
        raise ValueError(f"PYRNN_CUDA_SDPA_STREAM: expected '0', '1' or unset, got {force!r}")
    return N * Hh * Tq * Tk * dtype.itemsize > SDPA_STREAM_BYTES


def sdpa_forward(q, k, v, mask, causal, train):
    dev = _device(q=q, k=k, v=v, mask=mask)
    with cp.cuda.Device(dev):
        q, k, v, mask = _c(q), _c(k), _c(v), _c(mask)
        N, Hh, Tq, Dk = q.shape
        Tk, Dv = k.shape[2], v.shape[3]
        out = cp.empty((N, Hh, Tq, Dv), q.dtype)
        if _sdpa_streams(N, Hh, Tq, Tk, q.dtype):
            lse = cp.empty((N, Hh, Tq), q.dtype)  # each row's logsumexp (+inf: every key masked)
            _cuda.sdpa_stream_forward(dtype=q.dtype.name, N=N, Hh=Hh, Tq=Tq, Tk=Tk, Dk=Dk, Dv=Dv,
                                      causal=bool(causal), q=_p(q), k=_p(k), v=_p(v), mask=_p(mask), out=_p(out),
                                      lse=_p(lse), device=dev, stream=_stream())
            return out, (("stream", q, k, v, mask, bool(causal), out, lse) if train else None)
        P = cp.empty((N, Hh, Tq, Tk), q.dtype)  # the weights; inference needs them as workspace too
        _cuda.sdpa_forward(dtype=q.dtype.name, N=N, Hh=Hh, Tq=Tq, Tk=Tk, Dk=Dk, Dv=Dv, causal=bool(causal),
                           q=_p(q), k=_p(k), v=_p(v), mask=_p(mask), P=_p(P), out=_p(out), device=dev,
                           stream=_stream())
    return out, (("full", q, k, v, P) if train else None)


def sdpa_backward(dout, saved):
    kind, q, k, v, *rest = saved
    dev = _device(q=q, dout=dout)
    with cp.cuda.Device(dev):
        dout = _c(dout)
        N, Hh, Tq, Dk = q.shape
        Tk, Dv = k.shape[2], v.shape[3]
        dt = q.dtype
        dq, dk, dv = cp.empty(q.shape, dt), cp.empty(k.shape, dt), cp.empty(v.shape, dt)
        if kind == "stream":
            mask, causal, out, lse = rest
            D = cp.empty((N, Hh, Tq), dt)  # workspace: rowsum(dout * out)
            _cuda.sdpa_stream_backward(dtype=dt.name, N=N, Hh=Hh, Tq=Tq, Tk=Tk, Dk=Dk, Dv=Dv, causal=causal,
                                       q=_p(q), k=_p(k), v=_p(v), mask=_p(mask), out=_p(out), lse=_p(lse),
                                       dout=_p(dout), dq=_p(dq), dk=_p(dk), dv=_p(dv), D=_p(D), device=dev,
                                       stream=_stream())
            return dq, dk, dv
        (P,) = rest
        dS = cp.empty((N, Hh, Tq, Tk), dt)  # workspace: dout v^T, then the score gradient in place
        _cuda.sdpa_backward(dtype=dt.name, N=N, Hh=Hh, Tq=Tq, Tk=Tk, Dk=Dk, Dv=Dv, q=_p(q), k=_p(k), v=_p(v),
                            P=_p(P), dout=_p(dout), dq=_p(dq), dk=_p(dk), dv=_p(dv), dS=_p(dS), device=dev,
                            stream=_stream())
    return dq, dk, dv


# ---- layer norm ----------------------------------------------------------------------------------
# x (..., D) flattened to (R, D) rows (a copy only when x is not C-contiguous); gamma, beta (D,).
# kernels/src/layer_norm.cu: one thread block per row; the forward keeps only each row's mean and
# 1/std, the backward recomputes xhat from x and sums dgamma/dbeta over fixed 64-row chunks whose
# partials are added in chunk order (bitwise the same on every run). No rows: no launch.

def layer_norm_forward(x, gamma, beta, eps):
    dev = _device(x=x, gamma=gamma, beta=beta)
    with cp.cuda.Device(dev):
        D = x.shape[-1]
        R = x.size // D
        x2, gamma, beta = _c(x).reshape(R, D), _c(gamma), _c(beta)
        dt = x.dtype
        y, mean, rstd = cp.empty((R, D), dt), cp.empty((R,), dt), cp.empty((R,), dt)
        _cuda.layer_norm_forward(dtype=dt.name, R=R, D=D, x=_p(x2), gamma=_p(gamma), beta=_p(beta), eps=float(eps),
                                 y=_p(y), mean=_p(mean), rstd=_p(rstd), device=dev, stream=_stream())
    return y.reshape(x.shape), (x2, mean, rstd, gamma, x.shape)


def layer_norm_backward(dy, saved):
    x2, mean, rstd, gamma, shape = saved
    dev = _device(x=x2, dy=dy)
    with cp.cuda.Device(dev):
        R, D = x2.shape
        dy2 = _c(dy).reshape(R, D)
        dt = x2.dtype
        dx, dgamma, dbeta = cp.empty((R, D), dt), cp.empty((D,), dt), cp.empty((D,), dt)
        chunks = -(-R // _cuda.layer_norm_rows_per_chunk)
        part = cp.empty((chunks, 2, D), "float64")  # workspace: each chunk's dgamma and dbeta partials
        _cuda.layer_norm_backward(dtype=dt.name, R=R, D=D, dy=_p(dy2), x=_p(x2), mean=_p(mean), rstd=_p(rstd),
                                  gamma=_p(gamma), dx=_p(dx), dgamma=_p(dgamma), dbeta=_p(dbeta), part=_p(part),
                                  device=dev, stream=_stream())
    return dx.reshape(shape), dgamma, dbeta
