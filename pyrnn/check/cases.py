"""Small float64 cases covering every layer and op, shared by `pyrnn gradcheck` and the tests.

Each case builds (layer, inputs) from a seeded Generator. Op-level cases wrap a
functional op pair in `OpLayer` so initial/final states, masks and every op
argument are checked too, not only what the book's layers expose.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import layers as L
from .. import ops

N, T, D, H, V = 2, 3, 4, 3, 5


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable  # (rng) -> (layer, inputs)


class OpLayer:
    """A functional op pair as a layer: forward returns the op's outputs (without
    ``saved``), backward maps output gradients to the op's input gradients."""

    def __init__(self, fwd, bwd, n_out, params=(), grad_index=()):
        self.fwd, self.bwd, self.n_out = fwd, bwd, n_out
        self.params = list(params)
        self.grads = [np.zeros_like(p) for p in self.params]
        self.grad_index = grad_index  # positions of the params' grads in bwd's result
        self._saved = None

    def forward(self, *inputs):
        *outs, self._saved = self.fwd(*inputs, *self.params)
        return tuple(outs) if len(outs) > 1 else outs[0]

    def backward(self, *douts):
        res = self.bwd(*douts, self._saved)
        for g, i in zip(self.grads, self.grad_index):
            g[...] = res[i]
        rest = [r for i, r in enumerate(res) if i not in self.grad_index]
        return tuple(rest) if len(rest) > 1 else rest[0]


def _w(rng, *shape, scale=0.5):
    return rng.standard_normal(shape) * scale


def _lstm_params(rng, d=D, h=H):
    return _w(rng, d, 4 * h), _w(rng, h, 4 * h), _w(rng, 4 * h)


def _gru_params(rng, reset_after, bias=True):
    b = None
    if bias:
        b = _w(rng, 2, 3 * H) if reset_after else _w(rng, 3 * H)
    return _w(rng, D, 3 * H), _w(rng, H, 3 * H), b


def _stateful_second_chunk(layer, rng):
    """Run one chunk first so the checked chunk starts from a carried state."""
    layer.forward(_w(rng, N, T, D, scale=1.0))
    return layer, (_w(rng, N, T, D, scale=1.0),)


def _mask(rng):
    m = np.ones((N, T + 1), dtype=bool)
    m[1, -2:] = False  # second sequence padded
    return m


def _mha(rng, causal=False, dm=8, heads=2):
    ws = []
    for _ in range(4):
        ws += [_w(rng, dm, dm), _w(rng, dm, scale=0.1)]
    return L.MultiHeadAttention(*ws, num_heads=heads, causal=causal)


def _encoder_layer(rng, dm=8, heads=2, dff=12, **kw):
    ws = []
    for _ in range(4):
        ws += [_w(rng, dm, dm), _w(rng, dm, scale=0.1)]
    ln1 = (1 + _w(rng, dm, scale=0.1), _w(rng, dm, scale=0.1))
    ff = (_w(rng, dm, dff), _w(rng, dff, scale=0.1), _w(rng, dff, dm), _w(rng, dm, scale=0.1))
    ln2 = (1 + _w(rng, dm, scale=0.1), _w(rng, dm, scale=0.1))
    return L.TransformerEncoderLayer(*ws, *ln1, *ff, *ln2, num_heads=heads, **kw)


def _labels(rng, shape, ignore=True):
    t = rng.integers(0, V, size=shape)
    if ignore:
        t.reshape(-1)[::3] = -1
    return t


def _op_rnn(rng):
    Wx, Wh, b = _w(rng, D, H), _w(rng, H, H), _w(rng, H)
    lay = OpLayer(lambda xs, h0, Wx, Wh, b: ops.rnn_forward(xs, Wx, Wh, b, h0),
                  ops.rnn_backward, 2, (Wx, Wh, b), (1, 2, 3))
    return lay, (_w(rng, N, T, D, scale=1.0), _w(rng, N, H, scale=1.0))


def _op_lstm(rng):
    lay = OpLayer(lambda xs, h0, c0, Wx, Wh, b: ops.lstm_forward(xs, Wx, Wh, b, h0, c0),
                  ops.lstm_backward, 3, _lstm_params(rng), (1, 2, 3))
    return lay, (_w(rng, N, T, D, scale=1.0), _w(rng, N, H, scale=1.0), _w(rng, N, H, scale=1.0))


def _op_gru(reset_after, bias=True):
    def build(rng):
        Wx, Wh, b = _gru_params(rng, reset_after, bias)
        params = (Wx, Wh, b) if bias else (Wx, Wh)
        idx = (1, 2, 3) if bias else (1, 2)

        def fwd(xs, h0, Wx, Wh, b=None):
            return ops.gru_forward(xs, Wx, Wh, b, h0, reset_after=reset_after)

        lay = OpLayer(fwd, ops.gru_backward, 2, params, idx)
        if not bias:  # db (None) is not an input gradient
            bwd = lay.bwd
            lay.bwd = lambda *a: tuple(r for i, r in enumerate(bwd(*a)) if i != 3)
        return lay, (_w(rng, N, T, D, scale=1.0), _w(rng, N, H, scale=1.0))
    return build


def _op_sdpa(causal):
    def build(rng):
        q, k, v = (_w(rng, N, 2, T + 1, 4, scale=1.0) for _ in range(3))
        m = None if causal else _mask(rng)
        lay = OpLayer(lambda q, k, v: ops.sdpa_forward(q, k, v, m, causal), ops.sdpa_backward, 1)
        return lay, (q, k, v)
    return build


LENGTHS = np.array([T + 1, 0, 2, 1])  # a full row, an empty one, and two shorter: N = 4, T + 1 steps


def _op_lengths(op):
    """op rnn/lstm/gru over a padded batch with LENGTHS, with initial states and final states."""
    def build(rng):
        n, t = len(LENGTHS), int(LENGTHS.max())
        G = {"rnn": 1, "lstm": 4, "gru": 3}[op]
        params = (_w(rng, D, G * H), _w(rng, H, G * H), _w(rng, 2, G * H) if op == "gru" else _w(rng, G * H))
        n_states = 2 if op == "lstm" else 1
        fwd, bwd = getattr(ops, f"{op}_forward"), getattr(ops, f"{op}_backward")
        extra = dict(reset_after=True) if op == "gru" else {}

        def forward(xs, *rest):
            states, (Wx, Wh, b) = rest[:n_states], rest[n_states:]
            return fwd(xs, Wx, Wh, b, *states, lengths=LENGTHS, **extra)

        lay = OpLayer(forward, bwd, 1 + n_states, params, (1, 2, 3))
        return lay, (_w(rng, n, t, D, scale=1.0),) + tuple(_w(rng, n, H, scale=1.0) for _ in range(n_states))
    return build


def _op_packed_lstm(rng):
    """op lstm_packed: batch sizes 3, 3, 2, 1 (sequences of lengths 4, 3, 2)."""
    batch_sizes = np.array([3, 3, 2, 1])
    lay = OpLayer(lambda xs, h0, c0, Wx, Wh, b: ops.lstm_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, c0),
                  ops.lstm_packed_backward, 3, _lstm_params(rng), (1, 2, 3))
    return lay, (_w(rng, int(batch_sizes.sum()), D, scale=1.0), _w(rng, 3, H, scale=1.0), _w(rng, 3, H, scale=1.0))


CASES = [
    # the book's per-step layers
    Case("Embedding", lambda r: (L.Embedding(_w(r, V, D)), (np.array([0, 3, 3, 1]),))),
    Case("Affine", lambda r: (L.Affine(_w(r, D, H), _w(r, H)), (_w(r, N, D, scale=1.0),))),
    Case("Softmax", lambda r: (L.Softmax(), (_w(r, N, V, scale=1.0),))),
    Case("SoftmaxWithLoss", lambda r: (L.SoftmaxWithLoss(), (_w(r, 4, V, scale=1.0), r.integers(0, V, 4)))),
    Case("SigmoidWithLoss", lambda r: (L.SigmoidWithLoss(), (_w(r, 4, scale=1.0), r.integers(0, 2, 4)))),
    Case("RNN", lambda r: (L.RNN(_w(r, D, H), _w(r, H, H), _w(r, H)), (_w(r, N, D), _w(r, N, H)))),
    Case("LSTM", lambda r: (L.LSTM(*_lstm_params(r)), (_w(r, N, D), _w(r, N, H), _w(r, N, H)))),
    Case("GRU", lambda r: (L.GRU(*_gru_params(r, False)), (_w(r, N, D), _w(r, N, H)))),
    Case("GRU reset_after", lambda r: (L.GRU(*_gru_params(r, True), reset_after=True), (_w(r, N, D), _w(r, N, H)))),
    # time layers
    Case("TimeRNN", lambda r: (L.TimeRNN(_w(r, D, H), _w(r, H, H), _w(r, H)), (_w(r, N, T, D, scale=1.0),))),
    Case("TimeRNN stateful chunk", lambda r: _stateful_second_chunk(
        L.TimeRNN(_w(r, D, H), _w(r, H, H), _w(r, H), stateful=True), r)),
    Case("TimeLSTM", lambda r: (L.TimeLSTM(*_lstm_params(r)), (_w(r, N, T, D, scale=1.0),))),
    Case("TimeLSTM stateful chunk", lambda r: _stateful_second_chunk(L.TimeLSTM(*_lstm_params(r), stateful=True), r)),
    Case("TimeGRU", lambda r: (L.TimeGRU(*_gru_params(r, False)), (_w(r, N, T, D, scale=1.0),))),
    Case("TimeGRU no bias", lambda r: (L.TimeGRU(*_gru_params(r, False, bias=False)), (_w(r, N, T, D, scale=1.0),))),
    Case("TimeGRU reset_after stateful chunk", lambda r: _stateful_second_chunk(
        L.TimeGRU(*_gru_params(r, True), stateful=True, reset_after=True), r)),
    Case("TimeBiLSTM", lambda r: (L.TimeBiLSTM(*_lstm_params(r), *_lstm_params(r)), (_w(r, N, T, D, scale=1.0),))),
    # padded batches with lengths (an empty row, a full one); bidirectional and stacked layers
    Case("TimeLSTM lengths", lambda r: (L.TimeLSTM(*_lstm_params(r)), (_w(r, 4, T + 1, D, scale=1.0), LENGTHS))),
    Case("TimeBidirectional GRU sum lengths", lambda r: (
        L.TimeBidirectional(L.TimeGRU(*_gru_params(r, True), reset_after=True),
                            L.TimeGRU(*_gru_params(r, True), reset_after=True), merge="sum"),
        (_w(r, 4, T + 1, D, scale=1.0), LENGTHS))),
    Case("TimeStacked residual lengths", lambda r: (
        L.TimeStacked([L.TimeBidirectional(L.TimeRNN(_w(r, D, 2), _w(r, 2, 2), _w(r, 2)),
                                           L.TimeRNN(_w(r, D, 2), _w(r, 2, 2), _w(r, 2))),
                       L.TimeLSTM(*_lstm_params(r, 4, 4)), L.TimeLSTM(*_lstm_params(r, 4, 4))], residual=True),
        (_w(r, 4, T + 1, D, scale=1.0), LENGTHS))),
    Case("TimeEmbedding", lambda r: (L.TimeEmbedding(_w(r, V, D)), (r.integers(0, V, (N, T)),))),
    Case("TimeAffine", lambda r: (L.TimeAffine(_w(r, D, V), _w(r, V)), (_w(r, N, T, D, scale=1.0),))),
    Case("TimeSoftmaxWithLoss ignore", lambda r: (L.TimeSoftmaxWithLoss(), (_w(r, N, T, V, scale=1.0),
                                                                            _labels(r, (N, T))))),
    Case("TimeSigmoidWithLoss", lambda r: (L.TimeSigmoidWithLoss(), (_w(r, N, T, scale=1.0), r.integers(0, 2, (N, T))))),
    Case("TimeDropout", lambda r: (L.TimeDropout(0.3), (_w(r, N, T, D, scale=1.0),))),
    # attention
    Case("AttentionWeight", lambda r: (L.AttentionWeight(), (_w(r, N, T, H, scale=1.0), _w(r, N, H, scale=1.0)))),
    Case("WeightSum", lambda r: (L.WeightSum(), (_w(r, N, T, H, scale=1.0), _w(r, N, T, scale=1.0)))),
    Case("Attention", lambda r: (L.Attention(), (_w(r, N, T, H, scale=1.0), _w(r, N, H, scale=1.0)))),
    Case("TimeAttention", lambda r: (L.TimeAttention(), (_w(r, N, T, H, scale=1.0), _w(r, N, 2, H, scale=1.0)))),
    Case("TimeAttention mask", lambda r: (L.TimeAttention(), (_w(r, N, T + 1, H, scale=1.0),
                                                              _w(r, N, 2, H, scale=1.0), _mask(r)))),
    Case("MultiHeadAttention self", lambda r: (_mha(r), (_w(r, N, T, 8, scale=1.0),))),
    Case("MultiHeadAttention causal", lambda r: (_mha(r, causal=True), (_w(r, N, T, 8, scale=1.0),))),
    Case("MultiHeadAttention cross mask", lambda r: (_mha(r), (_w(r, N, T, 8, scale=1.0),
                                                               _w(r, N, T + 1, 8, scale=1.0), _mask(r)))),
    Case("TransformerEncoderLayer gelu dropout mask", lambda r: (
        _encoder_layer(r, dropout_ratio=0.2), (_w(r, N, T + 1, 8, scale=1.0), _mask(r)))),
    Case("TransformerEncoderLayer relu pre-LN causal", lambda r: (
        _encoder_layer(r, activation="relu", norm_first=True, causal=True), (_w(r, N, T, 8, scale=1.0),))),
    Case("LayerNorm", lambda r: (L.LayerNorm(1 + _w(r, D), _w(r, D)), (_w(r, N, T, D, scale=1.0),))),
    # ops with every argument (initial states in, final states out)
    Case("op rnn h0 hT", _op_rnn),
    Case("op lstm h0 c0 hT cT", _op_lstm),
    Case("op gru h0 hT", _op_gru(False)),
    Case("op gru reset_after h0 hT", _op_gru(True)),
    Case("op gru no bias", _op_gru(False, bias=False)),
    Case("op rnn lengths h0 hT", _op_lengths("rnn")),
    Case("op lstm lengths h0 c0 hT cT", _op_lengths("lstm")),
    Case("op gru reset_after lengths h0 hT", _op_lengths("gru")),
    Case("op lstm_packed h0 c0 hT cT", _op_packed_lstm),
    Case("op sdpa padding mask", _op_sdpa(False)),
    Case("op sdpa causal", _op_sdpa(True)),
]


def build(case: Case, seed: int = 0):
    """(layer, inputs) of a case, from a fresh seeded Generator."""
    return case.build(np.random.default_rng(seed))
