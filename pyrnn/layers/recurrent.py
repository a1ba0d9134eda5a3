"""Recurrent layers, drop-in for the book's common/time_layers.py.

Cells (RNN, LSTM, GRU) run one step; Time* layers run a whole sequence in one
op call (the time loop lives in the backend, not in Python). Stateful Time*
layers carry (h, c) across forward calls for truncated BPTT: the next chunk
starts from the last state, and its backward stops at the chunk boundary
(the gradient w.r.t. the initial state is left in ``.dh``, never propagated).
"""
from __future__ import annotations

from .. import ops
from .._arrays import get_xp
from .._checks import check_float
from ._base import Layer


def _no_grad_as_none(d):
    """The book passes a literal 0 for 'no incoming gradient'; treat it as None."""
    return None if (not hasattr(d, "shape") and d == 0) else d


def _step(name, a, width="D"):
    """(N, width) -> (N, 1, width) view: a cell is the sequence op with T = 1."""
    check_float(name, a, ("N", width))
    return a[:, None, :]


class RNN(Layer):
    """One tanh RNN step: h_next = tanh(h_prev @ Wh + x @ Wx + b). Wx (D, H), Wh (H, H), b (H,)."""

    def __init__(self, Wx, Wh, b):
        ops.check_recurrent_params(Wx, Wh, b, 1)
        self._init_params(Wx, Wh, b)
        self.cache = None

    def forward(self, x, h_prev):
        _, h_next, self.cache = ops.rnn_forward(_step("x", x), *self.params, h0=h_prev)
        return h_next

    def backward(self, dh_next):
        saved = self._need(self.cache)
        dxs, dWx, dWh, db, dh_prev = ops.rnn_backward(_step("dh_next", dh_next, "H"), None, saved)
        self._set_grads(dWx, dWh, db)
        return dxs[:, 0, :], dh_prev


class LSTM(Layer):
    """One LSTM step, gates [f, g, i, o]. Wx (D, 4H), Wh (H, 4H), b (4H,)."""

    def __init__(self, Wx, Wh, b):
        ops.check_recurrent_params(Wx, Wh, b, 4)
        self._init_params(Wx, Wh, b)
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        _, h_next, c_next, self.cache = ops.lstm_forward(_step("x", x), *self.params, h0=h_prev, c0=c_prev)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        saved = self._need(self.cache)
        dxs, dWx, dWh, db, dh_prev, dc_prev = ops.lstm_backward(
            _step("dh_next", dh_next, "H"), None, _no_grad_as_none(dc_next), saved)
        self._set_grads(dWx, dWh, db)
        return dxs[:, 0, :], dh_prev, dc_prev


class _GRUParams:
    """The book's GRU exposes Wx, Wh, dWx, dWh attributes; ours also has params/grads."""

    def _init_gru(self, Wx, Wh, b, reset_after):
        self.reset_after = bool(reset_after)
        ops.check_recurrent_params(Wx, Wh, b, 3, ops.gru_bias_shape(Wx, self.reset_after))
        self._has_bias = b is not None
        self._init_params(*((Wx, Wh, b) if self._has_bias else (Wx, Wh)))

    @property
    def Wx(self):
        return self.params[0]

    @property
    def Wh(self):
        return self.params[1]

    @property
    def b(self):
        return self.params[2] if self._has_bias else None

    @property
    def dWx(self):
        return self.grads[0]

    @property
    def dWh(self):
        return self.grads[1]

    def _gru_args(self):
        return self.Wx, self.Wh, self.b


class GRU(_GRUParams, Layer):
    """One GRU step, gates [z, r, n], h_next = (1 - z) * h_prev + z * n.
    Wx (D, 3H), Wh (H, 3H), b None, (3H,) or, with reset_after, (2, 3H)."""

    def __init__(self, Wx, Wh, b=None, reset_after=False):
        self._init_gru(Wx, Wh, b, reset_after)
        self.cache = None

    def forward(self, x, h_prev):
        _, h_next, self.cache = ops.gru_forward(_step("x", x), *self._gru_args(), h0=h_prev,
                                                reset_after=self.reset_after)
        return h_next

    def backward(self, dh_next):
        saved = self._need(self.cache)
        dxs, dWx, dWh, db, dh_prev = ops.gru_backward(_step("dh_next", dh_next, "H"), None, saved)
        self._set_grads(dWx, dWh, db)
        return dxs[:, 0, :], dh_prev


class _TimeRecurrent(Layer):
    """Shared state handling of TimeRNN/TimeLSTM/TimeGRU (the book's semantics):
    a non-stateful layer starts every forward from zeros; a stateful one from the
    last state (or zeros after reset_state / on the first call)."""

    def _init_state(self, stateful):
        self.stateful = stateful
        self.h, self.dh = None, None
        self._saved = None

    def _h0(self):
        return self.h if self.stateful else None

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None


class TimeRNN(_TimeRecurrent):
    """tanh RNN over xs (N, T, D) -> hs (N, T, H)."""

    def __init__(self, Wx, Wh, b, stateful=False):
        ops.check_recurrent_params(Wx, Wh, b, 1)
        self._init_params(Wx, Wh, b)
        self._init_state(stateful)

    def forward(self, xs):
        hs, self.h, self._saved = ops.rnn_forward(xs, *self.params, h0=self._h0())
        return hs

    def backward(self, dhs):
        dxs, dWx, dWh, db, self.dh = ops.rnn_backward(dhs, None, self._need(self._saved))
        self._set_grads(dWx, dWh, db)
        return dxs


class TimeLSTM(_TimeRecurrent):
    """LSTM over xs (N, T, D) -> hs (N, T, H); gates [f, g, i, o]."""

    def __init__(self, Wx, Wh, b, stateful=False):
        ops.check_recurrent_params(Wx, Wh, b, 4)
        self._init_params(Wx, Wh, b)
        self._init_state(stateful)
        self.c = None

    def forward(self, xs):
        c0 = self.c if self.stateful else None
        hs, self.h, self.c, self._saved = ops.lstm_forward(xs, *self.params, h0=self._h0(), c0=c0)
        return hs

    def backward(self, dhs):
        dxs, dWx, dWh, db, self.dh, self.dc = ops.lstm_backward(dhs, None, None, self._need(self._saved))
        self._set_grads(dWx, dWh, db)
        return dxs

    def set_state(self, h, c=None):
        self.h, self.c = h, c

    def reset_state(self):
        self.h, self.c = None, None


class TimeGRU(_GRUParams, _TimeRecurrent):
    """GRU over xs (N, T, D) -> hs (N, T, H); gates [z, r, n].
    b None, (3H,) or, with reset_after (the cuDNN/PyTorch variant), (2, 3H)."""

    def __init__(self, Wx, Wh, b=None, stateful=False, reset_after=False):
        self._init_gru(Wx, Wh, b, reset_after)
        self._init_state(stateful)

    def forward(self, xs):
        hs, self.h, self._saved = ops.gru_forward(xs, *self._gru_args(), h0=self._h0(),
                                                  reset_after=self.reset_after)
        return hs

    def backward(self, dhs):
        dxs, dWx, dWh, db, self.dh = ops.gru_backward(dhs, None, self._need(self._saved))
        self._set_grads(dWx, dWh, db)
        return dxs


class TimeBiLSTM(Layer):
    """Bidirectional LSTM: hs (N, T, 2H) = [forward LSTM | backward LSTM run on reversed time]."""

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads

    def forward(self, xs):
        o1 = self.forward_lstm.forward(xs)
        o2 = self.backward_lstm.forward(xs[:, ::-1])[:, ::-1]
        return get_xp(o1).concatenate((o1, o2), axis=2)

    def backward(self, dhs):
        self._need(self.forward_lstm._saved)
        H = self.forward_lstm.params[1].shape[0]
        check_float("dhs", dhs, ("N", "T", 2 * H))
        dxs1 = self.forward_lstm.backward(dhs[:, :, :H])
        dxs2 = self.backward_lstm.backward(dhs[:, ::-1, H:])[:, ::-1]
        return dxs1 + dxs2

    def reset_state(self):
        self.forward_lstm.reset_state()
        self.backward_lstm.reset_state()
