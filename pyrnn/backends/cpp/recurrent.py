"""The C++ backend's recurrent ops: tanh RNN, LSTM and GRU (both variants), over whole sequences and
over packed ones (cpp/include/pyrnn/recurrent.hpp, bound in cpp/bindings/recurrent.cpp): one input
GEMM, a fused gate pass per step, BPTT. One kernel serves both layouts: a packed call passes
``batch_sizes`` and its step t runs on that step's rows only."""
from __future__ import annotations

import numpy as np

from pyrnn import _cpu
from pyrnn._arrays import contiguous


def _host_sizes(batch_sizes):
    # batch_sizes (T,) -> the int64 C-contiguous array the binding takes (no copy when it is one)
    return np.ascontiguousarray(batch_sizes, dtype=np.int64)


# ---- tanh RNN ------------------------------------------------------------------------------------

def _rnn_forward(xs, batch_sizes, Wx, Wh, b, h0, train):
    xs, Wx, Wh, b, h0 = contiguous(xs), contiguous(Wx), contiguous(Wh), contiguous(b), contiguous(h0)
    hs, hT = _cpu.rnn_forward(xs, Wx, Wh, b, h0, batch_sizes)
    saved = (xs, Wx, Wh, h0, hs, b is not None, batch_sizes) if train else None
    return hs, hT, saved


def rnn_forward(xs, Wx, Wh, b, h0, train):
    return _rnn_forward(xs, None, Wx, Wh, b, h0, train)


def rnn_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, train):
    return _rnn_forward(xs, _host_sizes(batch_sizes), Wx, Wh, b, h0, train)


def rnn_backward(dhs, dhT, saved):
    return _cpu.rnn_backward(contiguous(dhs), contiguous(dhT), *saved)


rnn_packed_backward = rnn_backward  # saved holds the layout


# ---- LSTM ----------------------------------------------------------------------------------------

def _lstm_forward(xs, batch_sizes, Wx, Wh, b, h0, c0, train):
    xs, Wx, Wh, b, h0, c0 = contiguous(xs), contiguous(Wx), contiguous(Wh), contiguous(b), contiguous(h0), contiguous(c0)
    hs, hT, cT, cs, gates = _cpu.lstm_forward(xs, Wx, Wh, b, h0, c0, bool(train), batch_sizes)
    saved = (xs, Wx, Wh, h0, c0, hs, cs, gates, b is not None, batch_sizes) if train else None
    return hs, hT, cT, saved


def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    return _lstm_forward(xs, None, Wx, Wh, b, h0, c0, train)


def lstm_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, c0, train):
    return _lstm_forward(xs, _host_sizes(batch_sizes), Wx, Wh, b, h0, c0, train)


def lstm_backward(dhs, dhT, dcT, saved):
    return _cpu.lstm_backward(contiguous(dhs), contiguous(dhT), contiguous(dcT), *saved)


lstm_packed_backward = lstm_backward


# ---- GRU -----------------------------------------------------------------------------------------

def _gru_forward(xs, batch_sizes, Wx, Wh, b, h0, reset_after, train):
    xs, Wx, Wh, b, h0 = contiguous(xs), contiguous(Wx), contiguous(Wh), contiguous(b), contiguous(h0)
    # what the backward needs of n's recurrent part, one row per step, one of the two by the variant
    # (the other is None): r_hprev = r * h_{t-1} without reset_after, hprev_Whn = h_{t-1} Whn + b1n with it
    hs, hT, gates, r_hprev, hprev_Whn = _cpu.gru_forward(xs, Wx, Wh, b, h0, bool(reset_after), bool(train),
                                                         batch_sizes)
    saved = ((xs, Wx, Wh, h0, hs, gates, r_hprev, hprev_Whn, bool(reset_after), b is not None, batch_sizes)
             if train else None)
    return hs, hT, saved


def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    return _gru_forward(xs, None, Wx, Wh, b, h0, reset_after, train)


def gru_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, reset_after, train):
    return _gru_forward(xs, _host_sizes(batch_sizes), Wx, Wh, b, h0, reset_after, train)


def gru_backward(dhs, dhT, saved):
    return _cpu.gru_backward(contiguous(dhs), contiguous(dhT), *saved)


gru_packed_backward = gru_backward
