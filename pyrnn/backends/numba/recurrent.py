"""The Numba backend's recurrent ops: tanh RNN, LSTM and GRU (both reset variants) over whole sequences.

The input projection of all steps is one NumPy GEMM before the time loop; the loop is one ``@njit``
kernel (`kernels.recurrent`: ``h @ Wh`` per step with BLAS, then one fused pass over the gates); the
backward kernel writes the pre-activation gradients of all steps into one buffer, and the weight
gradients are GEMMs after the loop. The GEMMs before and after the loop are the reference's
(`pyrnn.reference.recurrent`, which runs the same plan in NumPy).
"""
from __future__ import annotations

import numpy as np

from pyrnn._arrays import contiguous
from pyrnn.backends.segments import packed_ops
from pyrnn.reference.recurrent import (grads_after_loop, gru_biases, gru_grads_after_loop, gru_reset_before_weights,
                                       input_projection, state_or_zeros, states_before_each_step)

from .kernels import recurrent as _kernels


def _states(s0, N, H, dtype):
    """(s0 as a fresh (N, H) array, zeros when None: what the backward starts from; a copy of it, which
    the kernel updates step by step to the final state)."""
    initial = state_or_zeros(s0, N, H, dtype, np)
    return initial, initial.copy()


def _saved_buffers(train, dtype, *shapes):
    """Fresh arrays of these shapes for what a training forward saves; without training, (0, 0, 0)
    placeholders of the same kernel type, which it never writes."""
    return tuple(np.empty(shape if train else (0, 0, 0), dtype=dtype) for shape in shapes)


# ---- tanh RNN ----------------------------------------------------------------------------------------

def rnn_forward(xs, Wx, Wh, b, h0, train):
    N, T, _ = xs.shape
    H = Wh.shape[0]
    h0, h = _states(h0, N, H, xs.dtype)
    hs = np.empty((N, T, H), dtype=xs.dtype)
    _kernels.rnn_forward(input_projection(xs, Wx, b), contiguous(Wh, writeable=True), h, hs)
    saved = (xs, Wx, Wh, b is not None, h0, hs) if train else None
    return hs, h, saved


def rnn_backward(dhs, dhT, saved):
    xs, Wx, Wh, has_bias, h0, hs = saved
    N, T, H = hs.shape
    dh = state_or_zeros(dhT, N, H, hs.dtype, np)
    dA = np.empty_like(hs)
    _kernels.rnn_backward(contiguous(dhs, writeable=True), hs, contiguous(Wh, writeable=True), dh, dA)
    dxs, dWx, dWh, db = grads_after_loop(xs, Wx, h0, hs, dA, has_bias)
    return dxs, dWx, dWh, db, dh


# ---- LSTM --------------------------------------------------------------------------------------------

def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    (h0, h), (c0, c) = _states(h0, N, H, dt), _states(c0, N, H, dt)
    hs = np.empty((N, T, H), dtype=dt)
    cs, tanh_cs, gates = _saved_buffers(train, dt, (N, T, H), (N, T, H), (N, T, 4 * H))
    _kernels.lstm_forward(input_projection(xs, Wx, b), contiguous(Wh, writeable=True), h, c, hs, cs, tanh_cs,
                          gates, bool(train))
    saved = (xs, Wx, Wh, b is not None, h0, c0, hs, cs, tanh_cs, gates) if train else None
    return hs, h, c, saved


def lstm_backward(dhs, dhT, dcT, saved):
    xs, Wx, Wh, has_bias, h0, c0, hs, cs, tanh_cs, gates = saved
    N, T, H = hs.shape
    dh, dc = state_or_zeros(dhT, N, H, hs.dtype, np), state_or_zeros(dcT, N, H, hs.dtype, np)
    dA = np.empty_like(gates)
    _kernels.lstm_backward(contiguous(dhs, writeable=True), c0, cs, tanh_cs, gates, contiguous(Wh, writeable=True),
                           dh, dc, dA)
    dxs, dWx, dWh, db = grads_after_loop(xs, Wx, h0, hs, dA, has_bias)
    return dxs, dWx, dWh, db, dh, dc


# ---- GRU ---------------------------------------------------------------------------------------------
# Besides the gates, the forward saves per step what its backward needs of the n gate's recurrent term:
# reset_after, hn = h_prev Whn + b1n (the reset gate's gradient); reset_before, rh = r * h_prev (what Whn
# multiplies: dWh's n columns).

def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dt = xs.dtype
    h0, h = _states(h0, N, H, dt)
    hs = np.empty((N, T, H), dtype=dt)
    gates, hns_or_rhs = _saved_buffers(train, dt, (N, T, 3 * H), (N, T, H))
    b_in, b_rec = gru_biases(b, reset_after)
    ax = input_projection(xs, Wx, b_in)
    if reset_after:
        b_rec = np.zeros(3 * H, dtype=dt) if b_rec is None else contiguous(b_rec, writeable=True)
        _kernels.gru_forward_reset_after(ax, contiguous(Wh, writeable=True), b_rec, h, hs, gates, hns_or_rhs,
                                         bool(train))
    else:
        _kernels.gru_forward_reset_before(ax, *gru_reset_before_weights(Wh), h, hs, gates, hns_or_rhs, bool(train))
    saved = (xs, Wx, Wh, b is not None, bool(reset_after), h0, hs, gates, hns_or_rhs) if train else None
    return hs, h, saved


def gru_backward(dhs, dhT, saved):
    xs, Wx, Wh, has_bias, reset_after, h0, hs, gates, hns_or_rhs = saved
    N, T, H = hs.shape
    dh = state_or_zeros(dhT, N, H, hs.dtype, np)
    dhs = contiguous(dhs, writeable=True)
    dAx = np.empty_like(gates)
    if reset_after:
        dAh = np.empty_like(gates)
        _kernels.gru_backward_reset_after(dhs, h0, hs, gates, hns_or_rhs, contiguous(Wh, writeable=True), dh, dAx, dAh)
        grads = gru_grads_after_loop(xs, Wx, states_before_each_step(h0, hs), dAx, has_bias, dah=dAh)
    else:
        _kernels.gru_backward_reset_before(dhs, h0, hs, gates, *gru_reset_before_weights(Wh), dh, dAx)
        grads = gru_grads_after_loop(xs, Wx, states_before_each_step(h0, hs), dAx, has_bias, rh=hns_or_rhs)
    return (*grads, dh)


# packed sequences (and so `lengths`): this backend's whole-sequence kernels, one call per run of steps
# with the same sequences (pyrnn/backends/segments.py), rather than the reference on the host
rnn_packed_forward, rnn_packed_backward = packed_ops(rnn_forward, rnn_backward, 1)
lstm_packed_forward, lstm_packed_backward = packed_ops(lstm_forward, lstm_backward, 2)
gru_packed_forward, gru_packed_backward = packed_ops(gru_forward, gru_backward, 1)
