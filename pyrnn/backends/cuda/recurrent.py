"""The cuda backend's recurrent ops: tanh RNN, LSTM and GRU (both variants) over whole sequences
(kernels/include/pyrnn_cuda/recurrent.cuh): one input GEMM, per step cuBLAS GEMMs and fused kernels,
BPTT. Each op runs with its inputs' device current (_launch.on_device)."""
from __future__ import annotations

from pyrnn._arrays import contiguous
from pyrnn.backends.segments import packed_ops

from ._launch import empty, launch, on_device


def _sizes(xs, Wh):
    """N, T, D, H from xs (N, T, D) and Wh (H, G)."""
    N, T, D = xs.shape
    return N, T, D, Wh.shape[0]


# ---- tanh RNN ------------------------------------------------------------------------------------

def rnn_forward(xs, Wx, Wh, b, h0, train):
    with on_device(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0) as dev:
        xs, Wx, Wh, b, h0 = map(contiguous, (xs, Wx, Wh, b, h0))
        N, T, D, H = _sizes(xs, Wh)
        hs, hT = empty((N, T, H), xs.dtype), empty((N, H), xs.dtype)
        launch("rnn_forward", dev, xs.dtype, N=N, T=T, D=D, H=H, xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0, hs=hs, hT=hT)
    saved = (xs, Wx, Wh, h0, hs, b is not None) if train else None
    return hs, hT, saved


def rnn_backward(dhs, dhT, saved):
    xs, Wx, Wh, h0, hs, has_bias = saved
    with on_device(xs=xs, dhs=dhs, dhT=dhT) as dev:
        dhs, dhT = contiguous(dhs), contiguous(dhT)
        N, T, D, H = _sizes(xs, Wh)
        dt = xs.dtype
        dxs, dWx, dWh = empty((N, T, D), dt), empty((D, H), dt), empty((H, H), dt)
        db = empty((H,), dt) if has_bias else None
        dh0 = empty((N, H), dt)
        dA, hprev = empty((N, T, H), dt), empty((N, T, H), dt)  # workspace
        launch("rnn_backward", dev, dt, N=N, T=T, D=D, H=H, xs=xs, Wx=Wx, Wh=Wh, h0=h0, hs=hs, dhs=dhs, dhT=dhT,
               dxs=dxs, dWx=dWx, dWh=dWh, db=db, dh0=dh0, dA=dA, hprev=hprev)
    return dxs, dWx, dWh, db, dh0


# ---- LSTM ----------------------------------------------------------------------------------------

def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    with on_device(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0, c0=c0) as dev:
        xs, Wx, Wh, b, h0, c0 = map(contiguous, (xs, Wx, Wh, b, h0, c0))
        N, T, D, H = _sizes(xs, Wh)
        dt = xs.dtype
        hs, hT, cT = empty((N, T, H), dt), empty((N, H), dt), empty((N, H), dt)
        # training keeps the activated gates and the cell states; inference needs the gate buffer
        # only as workspace (the input projections of all steps) and keeps no cell-state history
        gates = empty((N, T, 4 * H), dt)
        cs = empty((N, T, H), dt) if train else None
        launch("lstm_forward", dev, dt, N=N, T=T, D=D, H=H, xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0, c0=c0, hs=hs, hT=hT,
               cT=cT, gates=gates, cs=cs)
    saved = (xs, Wx, Wh, h0, c0, hs, cs, gates, b is not None) if train else None
    return hs, hT, cT, saved


def lstm_backward(dhs, dhT, dcT, saved):
    xs, Wx, Wh, h0, c0, hs, cs, gates, has_bias = saved
    with on_device(xs=xs, dhs=dhs, dhT=dhT, dcT=dcT) as dev:
        dhs, dhT, dcT = contiguous(dhs), contiguous(dhT), contiguous(dcT)
        N, T, D, H = _sizes(xs, Wh)
        dt = xs.dtype
        dxs, dWx, dWh = empty((N, T, D), dt), empty((D, 4 * H), dt), empty((H, 4 * H), dt)
        db = empty((4 * H,), dt) if has_bias else None
        dh0, dc0 = empty((N, H), dt), empty((N, H), dt)
        dA, hprev = empty((N, T, 4 * H), dt), empty((N, T, H), dt)  # workspace
        launch("lstm_backward", dev, dt, N=N, T=T, D=D, H=H, xs=xs, Wx=Wx, Wh=Wh, h0=h0, c0=c0, hs=hs, cs=cs,
               gates=gates, dhs=dhs, dhT=dhT, dcT=dcT, dxs=dxs, dWx=dWx, dWh=dWh, db=db, dh0=dh0, dc0=dc0, dA=dA,
               hprev=hprev)
    return dxs, dWx, dWh, db, dh0, dc0


# ---- GRU -----------------------------------------------------------------------------------------

def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    reset_after = bool(reset_after)
    with on_device(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0) as dev:
        xs, Wx, Wh, b, h0 = map(contiguous, (xs, Wx, Wh, b, h0))
        N, T, D, H = _sizes(xs, Wh)
        dt = xs.dtype
        hs, hT = empty((N, T, H), dt), empty((N, H), dt)
        gates = empty((N, T, 3 * H), dt)
        extra = empty((N, T, H), dt) if train else None
        # per-step scratch: h_{t-1} Wh (reset_after), or r * h_{t-1} when inference keeps no `extra`
        scratch = empty((N, 3 * H), dt) if reset_after else None if train else empty((N, H), dt)
        launch("gru_forward", dev, dt, N=N, T=T, D=D, H=H, reset_after=reset_after, xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0,
               hs=hs, hT=hT, gates=gates, extra=extra, scratch=scratch)
    saved = (xs, Wx, Wh, h0, hs, gates, extra, reset_after, b is not None) if train else None
    return hs, hT, saved


def gru_backward(dhs, dhT, saved):
    xs, Wx, Wh, h0, hs, gates, extra, reset_after, has_bias = saved
    with on_device(xs=xs, dhs=dhs, dhT=dhT) as dev:
        dhs, dhT = contiguous(dhs), contiguous(dhT)
        N, T, D, H = _sizes(xs, Wh)
        G, dt = 3 * H, xs.dtype
        dxs, dWx, dWh = empty((N, T, D), dt), empty((D, G), dt), empty((H, G), dt)
        db = empty((2, G) if reset_after else (G,), dt) if has_bias else None
        dh0 = empty((N, H), dt)
        # workspace: gradients of x Wx + b_in (dAx) and, reset_after, of h Wh + b_rec (dAh);
        # reset_before needs the gradient of r * h_{t-1} of one step (drh)
        dAx, hprev = empty((N, T, G), dt), empty((N, T, H), dt)
        dAh = empty((N, T, G), dt) if reset_after else None
        drh = None if reset_after else empty((N, H), dt)
        launch("gru_backward", dev, dt, N=N, T=T, D=D, H=H, reset_after=reset_after, xs=xs, Wx=Wx, Wh=Wh, h0=h0,
               hs=hs, gates=gates, extra=extra, dhs=dhs, dhT=dhT, dxs=dxs, dWx=dWx, dWh=dWh, db=db, dh0=dh0, dAx=dAx,
               dAh=dAh, drh=drh, hprev=hprev)
    return dxs, dWx, dWh, db, dh0


# packed sequences (and so `lengths`): this backend's whole-sequence kernels, one call per run of steps
# with the same sequences (pyrnn/backends/segments.py), rather than the reference on the host
rnn_packed_forward, rnn_packed_backward = packed_ops(rnn_forward, rnn_backward, 1)
lstm_packed_forward, lstm_packed_backward = packed_ops(lstm_forward, lstm_backward, 2)
gru_packed_forward, gru_packed_backward = packed_ops(gru_forward, gru_backward, 1)
