"""Recurrent layers, drop-in for the book's common/time_layers.py.

Cells (RNN, LSTM, GRU) run one step; Time* layers run a whole sequence in one
op call (the time loop lives in the backend, not in Python). Stateful Time*
layers carry (h, c) across forward calls for truncated BPTT: the next chunk
starts from the last state, and its backward stops at the chunk boundary
(the gradient w.r.t. the initial state is left in ``.dh``, never propagated).

Padded batches: ``forward(xs, lengths)`` with lengths (N,) runs each row for its
own number of steps (`pyrnn.ops`: outputs zero at padded steps, the carried state
taken after each row's last real step). `TimeBidirectional` reads each row's real
steps reversed in its backward direction; `TimeStacked` stacks layers with
dropout and residual connections between them.
"""
from __future__ import annotations

from .. import ops
from .._arrays import get_xp
from .._validate import check_float, check_lengths
from ._base import Layer


def _no_grad_as_none(d):
    """The book passes a literal 0 for 'no incoming gradient'; treat it as None."""
    return None if (not hasattr(d, "shape") and d == 0) else d


def _step(name, a, width="D"):
    """(N, width) -> (N, 1, width) view: a cell is the sequence op with T = 1."""
    check_float(name, a, ("N", width))
    return a[:, None, :]


def _cell_backward(layer, backward, dh_next):
    """RNN's and GRU's one-step backward: the op's backward (ops.rnn_backward / gru_backward) of the last
    forward, its weight gradients into layer.grads -> (dx (N, D), dh_prev (N, H))."""
    saved = layer._need(layer.cache)
    dxs, dWx, dWh, db, dh_prev = backward(_step("dh_next", dh_next, "H"), None, saved)
    layer._set_grads(dWx, dWh, db)
    return dxs[:, 0, :], dh_prev

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
        return _cell_backward(self, ops.rnn_backward, dh_next)


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
        return _cell_backward(self, ops.gru_backward, dh_next)


class _TimeRecurrent(Layer):
    """Shared state handling of TimeRNN/TimeLSTM/TimeGRU (the book's semantics):
    a non-stateful layer starts every forward from zeros; a stateful one from the
    last state (or zeros after reset_state / on the first call). The carried state
    belongs to the thread that made it: a stateful forward in another thread raises
    RuntimeError unless that thread took it over with reset_state() or set_state()
    (see `Layer`: one layer serves one thread at a time)."""

    def _continues_state(self):
        return self.stateful and self.h is not None

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

    def forward(self, xs, lengths=None):
        hs, self.h, self._saved = ops.rnn_forward(xs, *self.params, h0=self._h0(), lengths=lengths)
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

    def forward(self, xs, lengths=None):
        c0 = self.c if self.stateful else None
        hs, self.h, self.c, self._saved = ops.lstm_forward(xs, *self.params, h0=self._h0(), c0=c0, lengths=lengths)
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

    def forward(self, xs, lengths=None):
        hs, self.h, self._saved = ops.gru_forward(xs, *self._gru_args(), h0=self._h0(),
                                                  reset_after=self.reset_after, lengths=lengths)
        return hs

    def backward(self, dhs):
        dxs, dWx, dWh, db, self.dh = ops.gru_backward(dhs, None, self._need(self._saved))
        self._set_grads(dWx, dWh, db)
        return dxs


def reverse_padded(a, lengths=None):
    """a (N, T, ...) with each row's first lengths[n] steps reversed, the padded steps after them
    left in place: what the backward direction of a bidirectional layer reads. Its own inverse.
    Without lengths, all T steps reversed."""
    if lengths is None:
        return a[:, ::-1]
    xp = get_xp(a)
    N, T = a.shape[:2]
    L = xp.asarray(check_lengths("lengths", lengths, N, T))[:, None]
    t = xp.arange(T)[None, :]
    return a[xp.arange(N)[:, None], xp.where(t < L, L - 1 - t, t)]


class TimeBidirectional(Layer):
    """Two recurrent layers over xs (N, T, D), the second reading time backwards:
    ``merge="concat"``: hs (N, T, H1 + H2) = [forward | backward]; ``"sum"``: hs (N, T, H) = their sum.
    With ``lengths`` the backward layer reads each row's real steps reversed (its pads stay after
    them), so neither direction sees a padded step before a real one. ``forward_layer`` and
    ``backward_layer``: TimeRNN, TimeLSTM or TimeGRU (any layer whose forward takes (xs, lengths)).
    Stateful layers carry their states per direction across calls, as the book's TimeBiLSTM does."""

    def __init__(self, forward_layer, backward_layer, merge="concat"):
        if merge not in ("concat", "sum"):
            raise ValueError(f"merge: expected 'concat' or 'sum', got {merge!r}")
        self.forward_layer, self.backward_layer, self.merge = forward_layer, backward_layer, merge
        self._widths = (_hidden_width(forward_layer), _hidden_width(backward_layer))
        if merge == "sum" and self._widths[0] != self._widths[1]:
            raise ValueError(f"merge='sum' needs equal widths, got {self._widths[0]} (forward_layer) and "
                             f"{self._widths[1]} (backward_layer)")
        self.params = forward_layer.params + backward_layer.params
        self.grads = forward_layer.grads + backward_layer.grads
        self._lengths = None

    def forward(self, xs, lengths=None):
        self._lengths = lengths
        o1 = self.forward_layer.forward(xs, lengths)
        o2 = reverse_padded(self.backward_layer.forward(reverse_padded(xs, lengths), lengths), lengths)
        if self.merge == "sum":
            return o1 + o2
        return get_xp(o1).concatenate((o1, o2), axis=2)

    def backward(self, dhs):
        self._need(self.forward_layer._saved)
        H1, H2 = self._widths
        check_float("dhs", dhs, ("N", "T", H1 if self.merge == "sum" else H1 + H2))
        xp = get_xp(dhs)
        d1, d2 = (dhs, dhs) if self.merge == "sum" else (dhs[:, :, :H1], dhs[:, :, H1:])
        dxs1 = self.forward_layer.backward(xp.ascontiguousarray(d1))
        dxs2 = self.backward_layer.backward(xp.ascontiguousarray(reverse_padded(d2, self._lengths)))
        return dxs1 + reverse_padded(dxs2, self._lengths)

    def reset_state(self):
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    @property
    def param_names(self):
        return tuple(f"{d}.{n}" for d, layer in (("forward", self.forward_layer), ("backward", self.backward_layer))
                     for n in _param_names(layer))


def _param_names(layer):
    # a recurrent layer's parameter names (its own, or the book's Wx, Wh, b)
    return tuple(getattr(layer, "param_names", None) or ("Wx", "Wh", "b")[:len(layer.params)])


def _hidden_width(layer):
    # a recurrent layer's output width: its Wh is (H, gates * H)
    return layer.params[1].shape[0]


class TimeBiLSTM(TimeBidirectional):
    """The book's bidirectional LSTM: hs (N, T, 2H) = [forward LSTM | backward LSTM run on reversed
    time]; ``forward(xs, lengths)`` reverses each row's real steps only (see TimeBidirectional)."""

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        super().__init__(TimeLSTM(Wx1, Wh1, b1, stateful), TimeLSTM(Wx2, Wh2, b2, stateful), merge="concat")
        self.forward_lstm, self.backward_lstm = self.forward_layer, self.backward_layer


class TimeStacked(Layer):
    """Recurrent layers applied one after another to xs (N, T, D) (``num_layers``-style stacking):
    between two layers, optional inverted dropout (ratio ``dropout``, training only, drawn like
    TimeDropout) and, with ``residual``, a skip connection: a layer after the first adds its input
    to its output (GNMT's residual stacking; input and output widths must agree). ``forward(xs,
    lengths)`` hands the lengths to every layer. ``train_flg`` False (set by the models at test
    time) turns the dropout off."""

    def __init__(self, layers, dropout=0.0, residual=False):
        from .time import TimeDropout

        self.layers = list(layers)
        if not self.layers:
            raise ValueError("layers: expected at least one recurrent layer, got none")
        if not (0.0 <= float(dropout) < 1.0):
            raise ValueError(f"dropout: expected a drop probability in [0, 1), got {dropout}")
        self.dropout, self.residual = float(dropout), bool(residual)
        widths = [_output_width(layer) for layer in self.layers]
        if self.residual:
            for i in range(1, len(self.layers)):
                if _input_width(self.layers[i]) != widths[i]:
                    raise ValueError(f"residual: layer {i} maps width {_input_width(self.layers[i])} to "
                                     f"{widths[i]}; a skip connection needs them equal")
        self.drops = [TimeDropout(self.dropout) for _ in self.layers[1:]] if self.dropout else []
        self.params = [p for layer in self.layers for p in layer.params]
        self.grads = [g for layer in self.layers for g in layer.grads]
        self._ran = None  # set by forward: backward needs the layers' saved state

    @property
    def train_flg(self):
        return all(d.train_flg for d in self.drops)

    @train_flg.setter
    def train_flg(self, flag):
        for d in self.drops:
            d.train_flg = flag

    def forward(self, xs, lengths=None):
        self._ran = True
        h = xs
        for i, layer in enumerate(self.layers):
            if i and self.drops:
                h = self.drops[i - 1].forward(h)
            out = layer.forward(h, lengths)
            h = out + h if (self.residual and i) else out
        return h

    def backward(self, dhs):
        self._need(self._ran)
        d = dhs
        for i in reversed(range(len(self.layers))):
            dx = self.layers[i].backward(d)
            if self.residual and i:
                dx = dx + d
            d = self.drops[i - 1].backward(dx) if (i and self.drops) else dx
        return d

    def reset_state(self):
        for layer in self.layers:
            layer.reset_state()

    @property
    def param_names(self):
        return tuple(f"{i}.{n}" for i, layer in enumerate(self.layers) for n in _param_names(layer))


def _output_width(layer):
    # the width a recurrent layer (or a bidirectional pair) outputs
    if isinstance(layer, TimeBidirectional):
        H1, H2 = layer._widths
        return H1 if layer.merge == "sum" else H1 + H2
    return _hidden_width(layer)


def _input_width(layer):
    # D of the xs (N, T, D) a recurrent layer (or a bidirectional pair) takes: its Wx is (D, gates * H)
    return layer.params[0].shape[0]
