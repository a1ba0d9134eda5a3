"""The numba-cuda backend's recurrent ops: tanh RNN, LSTM and GRU (both reset variants) over whole sequences.

The time loop runs here, in Python: the input projection of all steps is one CuPy GEMM (cuBLAS); per
step, one CuPy GEMM ``h @ Wh`` and one fused numba.cuda gate kernel (`kernels.recurrent`; the GRU with
the reset gate before its matmul needs two of each); the weight gradients are CuPy GEMMs after the
loop. The GEMMs before and after the loop are the reference's (`pyrnn.reference.recurrent`, which runs
the same plan). ``k_x`` is array x as a kernel argument, made once before the loop, not per step.
"""
from __future__ import annotations

import numpy as np

from pyrnn._arrays import contiguous
from pyrnn.backends.segments import packed_ops
from pyrnn.reference.recurrent import (grads_after_loop, gru_biases, gru_grads_after_loop, gru_reset_before_weights,
                                       input_projection, state_or_zeros, states_before_each_step)

from .core import device
from .kernels import recurrent as _kernels


def _one(dtype):
    return np.dtype(dtype).type(1)


def _states(s0, N, H, dtype, xp):
    """(s0 as a fresh (N, H) array, zeros when None: what the backward starts from; a copy of it, which
    the kernels update step by step to the final state)."""
    initial = state_or_zeros(s0, N, H, dtype, xp)
    return initial, initial.copy()


def _forward_sizes(xs, Wh):
    """What every forward starts from: the device of xs, its array module, its kernel-argument maker, and
    N, T, H, dtype."""
    dev = device(xs)
    N, T, _ = xs.shape
    return dev, dev.xp, dev.arg, N, T, Wh.shape[0], xs.dtype


def _backward_sizes(hs):
    """What every backward starts from: the device of hs (N, T, H), its array module, its kernel-argument
    maker, and N, T, H, dtype."""
    dev = device(hs)
    N, T, H = hs.shape
    return dev, dev.xp, dev.arg, N, T, H, hs.dtype


def _saved_buffers(xp, train, dtype, *shapes):
    """Fresh arrays of these shapes for what a training forward saves; without training, (1, 1, 1)
    placeholders of the same kernel type, which save=False never writes."""
    return tuple(xp.empty(shape if train else (1, 1, 1), dtype=dtype) for shape in shapes)


# ---- tanh RNN --------------------------------------------------------------------------------------

def rnn_forward(xs, Wx, Wh, b, h0, train):
    dev, xp, a, N, T, H, dt = _forward_sizes(xs, Wh)
    h0, h = _states(h0, N, H, dt, xp)
    hs = xp.empty((N, T, H), dtype=dt)
    ax, gh = input_projection(xs, Wx, b), xp.empty((N, H), dtype=dt)
    k_ax, k_gh, k_h, k_hs = a(ax), a(gh), a(h), a(hs)
    for t in range(T):
        xp.matmul(h, Wh, out=gh)
        dev.launch(_kernels.rnn_forward_step, N * H, k_ax, k_gh, t, k_h, k_hs)
    saved = (xs, Wx, Wh, b is not None, h0, hs) if train else None
    return hs, h, saved


def rnn_backward(dhs, dhT, saved):
    xs, Wx, Wh, has_bias, h0, hs = saved
    dev, xp, a, N, T, H, dt = _backward_sizes(hs)
    dh = state_or_zeros(dhT, N, H, dt, xp)
    dA, dAt = xp.empty_like(hs), xp.empty((N, H), dtype=dt)
    k_dhs, k_hs, k_dh, k_dA, k_dAt = a(contiguous(dhs)), a(hs), a(dh), a(dA), a(dAt)
    one = _one(dt)
    for t in range(T - 1, -1, -1):
        dev.launch(_kernels.rnn_backward_step, N * H, k_dhs, k_hs, k_dh, t, one, k_dA, k_dAt)
        xp.matmul(dAt, Wh.T, out=dh)
    dxs, dWx, dWh, db = grads_after_loop(xs, Wx, h0, hs, dA, has_bias)
    return dxs, dWx, dWh, db, dh


# ---- LSTM ------------------------------------------------------------------------------------------

def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    dev, xp, a, N, T, H, dt = _forward_sizes(xs, Wh)
    (h0, h), (c0, c) = _states(h0, N, H, dt, xp), _states(c0, N, H, dt, xp)
    hs = xp.empty((N, T, H), dtype=dt)
    cs, gates = _saved_buffers(xp, train, dt, (N, T, H), (N, T, 4 * H))
    ax, gh = input_projection(xs, Wx, b), xp.empty((N, 4 * H), dtype=dt)
    k_ins, k_outs = [a(x) for x in (ax, gh)], [a(x) for x in (h, c, hs, cs, gates)]
    one, save = _one(dt), bool(train)
    for t in range(T):
        xp.matmul(h, Wh, out=gh)
        dev.launch(_kernels.lstm_forward_step, N * H, *k_ins, t, one, save, *k_outs)
    saved = (xs, Wx, Wh, b is not None, h0, c0, hs, cs, gates) if train else None
    return hs, h, c, saved


def lstm_backward(dhs, dhT, dcT, saved):
    xs, Wx, Wh, has_bias, h0, c0, hs, cs, gates = saved
    dev, xp, a, N, T, H, dt = _backward_sizes(hs)
    dh, dc = state_or_zeros(dhT, N, H, dt, xp), state_or_zeros(dcT, N, H, dt, xp)
    dA, dAt = xp.empty_like(gates), xp.empty((N, 4 * H), dtype=dt)
    k_ins = [a(x) for x in (contiguous(dhs), c0, cs, gates)]
    k_outs = [a(x) for x in (dh, dc, dA, dAt)]
    one = _one(dt)
    for t in range(T - 1, -1, -1):
        dev.launch(_kernels.lstm_backward_step, N * H, *k_ins, t, one, *k_outs)
        xp.matmul(dAt, Wh.T, out=dh)
    dxs, dWx, dWh, db = grads_after_loop(xs, Wx, h0, hs, dA, has_bias)
    return dxs, dWx, dWh, db, dh, dc


# ---- GRU -------------------------------------------------------------------------------------------
# Besides the gates, the forward saves per step what its backward needs of the n gate's recurrent term:
# reset_after, hn = h_prev Whn + b1n (the reset gate's gradient); reset_before, rh = r * h_prev (what Whn
# multiplies: dWh's n columns).

def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    dev, xp, a, N, T, H, dt = _forward_sizes(xs, Wh)
    h0, h = _states(h0, N, H, dt, xp)
    hs = xp.empty((N, T, H), dtype=dt)
    gates, hns_or_rhs = _saved_buffers(xp, train, dt, (N, T, 3 * H), (N, T, H))
    one, save = _one(dt), bool(train)
    b_in, b_rec = gru_biases(b, reset_after)
    ax = input_projection(xs, Wx, b_in)
    if reset_after:
        b_rec = xp.zeros(3 * H, dtype=dt) if b_rec is None else contiguous(b_rec)
        gh = xp.empty((N, 3 * H), dtype=dt)
        k_ins, k_outs = [a(x) for x in (ax, gh, b_rec)], [a(x) for x in (h, hs, gates, hns_or_rhs)]
        for t in range(T):
            xp.matmul(h, Wh, out=gh)           # one recurrent matmul for all three gates
            dev.launch(_kernels.gru_reset_after_forward_step, N * H, *k_ins, t, one, save, *k_outs)
    else:
        Whzr, Whn = gru_reset_before_weights(Wh)
        gzr, z, rh, ghn = (xp.empty((N, w), dtype=dt) for w in (2 * H, H, H, H))
        k_ax, k_gzr, k_z, k_rh, k_ghn = (a(x) for x in (ax, gzr, z, rh, ghn))
        k_h, k_hs, k_gates, k_rhs = (a(x) for x in (h, hs, gates, hns_or_rhs))
        for t in range(T):
            xp.matmul(h, Whzr, out=gzr)
            dev.launch(_kernels.gru_reset_before_gates_step, N * H, k_ax, k_gzr, k_h, t, one, save,
                       k_z, k_rh, k_gates, k_rhs)
            xp.matmul(rh, Whn, out=ghn)        # r resets h before it meets Whn: this matmul waits for r
            dev.launch(_kernels.gru_reset_before_output_step, N * H, k_ax, k_ghn, k_z, t, one, save,
                       k_h, k_hs, k_gates)
    saved = (xs, Wx, Wh, b is not None, bool(reset_after), h0, hs, gates, hns_or_rhs) if train else None
    return hs, h, saved


def gru_backward(dhs, dhT, saved):
    xs, Wx, Wh, has_bias, reset_after, h0, hs, gates, hns_or_rhs = saved
    dev, xp, a, N, T, H, dt = _backward_sizes(hs)
    one = _one(dt)
    part = state_or_zeros(dhT, N, H, dt, xp)   # the gradient on h_t is part + (the last dA @ Wh.T), as on the CPU
    gh = xp.zeros((N, H), dtype=dt)
    dAx = xp.empty_like(gates)
    k_dhs, k_h0, k_hs, k_gates, k_part, k_gh = (a(x) for x in (contiguous(dhs), h0, hs, gates, part, gh))
    if reset_after:
        dAh, dAt = xp.empty_like(gates), xp.empty((N, 3 * H), dtype=dt)
        k_hns, k_dAx, k_dAh, k_dAt = (a(x) for x in (hns_or_rhs, dAx, dAh, dAt))
        for t in range(T - 1, -1, -1):
            dev.launch(_kernels.gru_reset_after_backward_step, N * H, k_dhs, k_h0, k_hs, k_gates, k_hns, k_gh,
                       t, one, k_part, k_dAx, k_dAh, k_dAt)
            xp.matmul(dAt, Wh.T, out=gh)
        grads = gru_grads_after_loop(xs, Wx, states_before_each_step(h0, hs), dAx, has_bias, dah=dAh)
    else:
        Whzr, Whn = gru_reset_before_weights(Wh)
        dhv, dan, drh, dzr = (xp.empty((N, w), dtype=dt) for w in (H, H, H, 2 * H))
        k_dhv, k_dan, k_drh, k_dzr, k_dAx = (a(x) for x in (dhv, dan, drh, dzr, dAx))
        for t in range(T - 1, -1, -1):
            dev.launch(_kernels.gru_reset_before_backward_n_step, N * H, k_dhs, k_gates, k_part, k_gh, t, one,
                       k_dhv, k_dan, k_dAx)
            xp.matmul(dan, Whn.T, out=drh)
            dev.launch(_kernels.gru_reset_before_backward_zr_step, N * H, k_h0, k_hs, k_gates, k_dhv, k_drh, t, one,
                       k_dAx, k_dzr, k_part)
            xp.matmul(dzr, Whzr.T, out=gh)
        grads = gru_grads_after_loop(xs, Wx, states_before_each_step(h0, hs), dAx, has_bias, rh=hns_or_rhs)
    return (*grads, part + gh)


# packed sequences (and so `lengths`): this backend's whole-sequence kernels, one call per run of steps
# with the same sequences (pyrnn/backends/segments.py), rather than the reference on the host
rnn_packed_forward, rnn_packed_backward = packed_ops(rnn_forward, rnn_backward, 1)
lstm_packed_forward, lstm_packed_backward = packed_ops(lstm_forward, lstm_backward, 2)
gru_packed_forward, gru_packed_backward = packed_ops(gru_forward, gru_backward, 1)
