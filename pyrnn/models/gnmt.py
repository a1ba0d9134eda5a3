"""A GNMT-style attention seq2seq (Wu et al. 2016, "Google's Neural Machine Translation System"),
scaled down: the encoder's first layer is bidirectional, the layers above it are stacked LSTMs with
residual connections (from the third layer on, as in GNMT) and dropout between layers; the decoder
is a stack of the same kind, started from zero states, whose top output attends over the encoder's
top states (dot-product attention, TimeAttention) before the output affine reads
[context | decoder state].

Sources are right-padded: with ``src_pad_id`` set, a source's length is the position after its last
non-pad id (a pad symbol may also occur inside sources), the encoder runs each source for its own
length (`TimeBidirectional` reads its real steps reversed) and the attention ignores the padding.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..layers import (TimeAffine, TimeAttention, TimeBidirectional, TimeDropout, TimeEmbedding, TimeLSTM,
                      TimeSoftmaxWithLoss, TimeStacked)
from ._base import Init, Model
from .seq2seq import _Seq2seqDecoding, _affine_step, _embed_step, _xp


def source_lengths(xs, pad_id):
    """xs (N, T) right-padded ids -> (N,) int64: the position after each row's last id that is not
    ``pad_id`` (0 for an all-pad row), so pads inside a source count as tokens."""
    xp = _xp(xs)
    N, T = xs.shape
    real = xs != pad_id
    last = T - xp.argmax(real[:, ::-1], axis=1)  # 1 + index of the last real id
    return xp.where(real.any(axis=1), last, 0).astype(np.int64)


class GNMTEncoder(Model):
    """Embedding -> bidirectional LSTM (H // 2 each way) -> num_layers - 1 unidirectional LSTMs,
    residual from the third layer on: xs (N, T) -> hs (N, T, H)."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, num_layers, dropout, init):
        V, D, H = vocab_size, wordvec_size, hidden_size
        if H % 2:
            raise ValueError(f"hidden_size: a bidirectional first layer needs an even size, got {H}")
        self.embed = TimeEmbedding(init.embedding(V, D))
        self.bottom = TimeBidirectional(TimeLSTM(*init.lstm(D, H // 2)), TimeLSTM(*init.lstm(D, H // 2)))
        self.upper = _ResidualStack([TimeLSTM(*init.lstm(H, H)) for _ in range(num_layers - 1)], dropout)
        self._compose(("embed", self.embed), ("bottom", self.bottom), ("upper", self.upper))

    def forward(self, xs, lengths=None):
        return self.upper.forward(self.bottom.forward(self.embed.forward(xs), lengths), lengths)

    def backward(self, dhs):
        self.embed.backward(self.bottom.backward(self.upper.backward(dhs)))


class _ResidualStack(Model):
    """Stacked LSTMs (none at all is fine): dropout before each layer, and a residual connection on
    each layer but the first of the whole network (here: every layer of this stack from its
    second on, the first being GNMT's second layer)."""

    def __init__(self, layers, dropout):
        self.layers = layers
        if layers:
            # TimeStacked adds skips from its second layer on: GNMT's third layer and above
            self.stack = TimeStacked(layers, dropout=dropout, residual=True)
            self._compose(*((f"{i}", layer) for i, layer in enumerate(layers)))
        else:
            self.stack = None
            self._compose()
        self.in_drop = TimeDropout(dropout) if (dropout and layers) else None

    def set_train(self, flag):
        if self.stack is not None:
            self.stack.train_flg = flag
        if self.in_drop is not None:
            self.in_drop.train_flg = flag

    def forward(self, xs, lengths=None):
        if self.stack is None:
            return xs
        if self.in_drop is not None:
            xs = self.in_drop.forward(xs)
        return self.stack.forward(xs, lengths)

    def backward(self, dhs):
        if self.stack is None:
            return dhs
        d = self.stack.backward(dhs)
        return self.in_drop.backward(d) if self.in_drop is not None else d


class GNMTDecoder(Model):
    """Embedding -> num_layers stateful LSTMs (residual from the third) started from zeros ->
    attention of the top states over the encoder's states -> affine on [context | state]."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, num_layers, dropout, init):
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(init.embedding(V, D))
        self.first = TimeLSTM(*init.lstm(D, H), stateful=True)
        self.upper = _ResidualStack([TimeLSTM(*init.lstm(H, H), stateful=True) for _ in range(num_layers - 1)],
                                    dropout)
        self.attention = TimeAttention()
        self.affine = TimeAffine(*init.affine(2 * H, V))
        self._compose(("embed", self.embed), ("first", self.first), ("upper", self.upper),
                      ("attention", self.attention), ("affine", self.affine))
        self._H = H
        self.lstms = [self.first] + self.upper.layers
        self.last_weights = None

    def forward(self, xs, enc_hs, mask=None):
        for lstm in self.lstms:
            lstm.reset_state()  # GNMT's decoder starts from zeros: the source arrives through attention
        dec_hs = self.upper.forward(self.first.forward(self.embed.forward(xs)))
        c = self.attention.forward(enc_hs, dec_hs, mask)
        return self.affine.forward(_xp(c).concatenate((c, dec_hs), axis=2))

    def backward(self, dscore):
        """-> denc_hs (N, Te, H)."""
        xp = _xp(dscore)
        H = self._H
        dout = self.affine.backward(dscore)
        denc_hs, ddec_hs = self.attention.backward(xp.ascontiguousarray(dout[:, :, :H]))
        self.embed.backward(self.first.backward(self.upper.backward(ddec_hs + dout[:, :, H:])))
        return denc_hs

    def decode_step(self, state, ids):
        """state: (enc_hs, mask, h_1, c_1, ..., h_L, c_L) -> (scores (N, V), new state)."""
        enc_hs, mask, *hc = state
        x = _embed_step(self.embed, ids)
        new = []
        for i, lstm in enumerate(self.lstms):
            out, h, c, _ = ops.lstm_forward(x, *lstm.params, h0=hc[2 * i], c0=hc[2 * i + 1], train=False)
            x = out + x if i >= 2 else out  # the residual connections of the stack (no dropout at test time)
            new += [h, c]
        ctx, weights, _ = ops.attention_forward(enc_hs, x, mask, train=False)
        self.last_weights = weights[:, 0]  # (N, Te): this step's attention, for plots
        scores = _affine_step(self.affine, _xp(x).concatenate((ctx[:, 0], x[:, 0]), axis=1))
        return scores, (enc_hs, mask, *new)


class GNMTSeq2seq(_Seq2seqDecoding, Model):
    """GNMT-style attention seq2seq: GNMTEncoder -> GNMTDecoder + TimeSoftmaxWithLoss.

    GNMTSeq2seq(vocab_size, wordvec_size=16, hidden_size=256, num_layers=2, dropout=0.0,
    src_pad_id=None, dtype=float32, seed=0, xp=None). ``num_layers`` per side (>= 1; the
    encoder's first is bidirectional). ``src_pad_id``: sources are right-padded with it (see the
    module docstring); None: every source runs all T steps. Same training, ``generate`` and
    ``decode`` API as AttentionSeq2seq (targets start with the start symbol).
    """

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=256, num_layers=2, dropout=0.0,
                 src_pad_id=None, dtype=np.float32, seed=0, xp=None):
        if int(num_layers) < 1:
            raise ValueError(f"num_layers: expected an int >= 1, got {num_layers}")
        init = Init(seed, dtype, xp)
        self.encoder = GNMTEncoder(vocab_size, wordvec_size, hidden_size, int(num_layers), dropout, init)
        self.decoder = GNMTDecoder(vocab_size, wordvec_size, hidden_size, int(num_layers), dropout, init)
        self.softmax = TimeSoftmaxWithLoss()
        self.src_pad_id = src_pad_id
        self._compose(("encoder", self.encoder), ("decoder", self.decoder))
        self.attention_weights = None

    def _encode(self, xs):
        lengths = None if self.src_pad_id is None else source_lengths(xs, self.src_pad_id)
        hs = self.encoder.forward(xs, lengths)
        mask = None if lengths is None else _xp(xs).arange(xs.shape[1])[None, :] < lengths[:, None]
        return hs, mask

    def set_train(self, flag):
        self.encoder.upper.set_train(flag)
        self.decoder.upper.set_train(flag)

    def forward(self, xs, ts, train_flg=True):
        self.set_train(train_flg)
        hs, mask = self._encode(xs)
        score = self.decoder.forward(ts[:, :-1], hs, mask)
        return self.softmax.forward(score, ts[:, 1:])

    def backward(self, dout=1):
        self.encoder.backward(self.decoder.backward(self.softmax.backward(dout)))

    def decode_start(self, xs):
        """(encoder states, source mask or None, then zeros for each decoder layer's h and c)."""
        self.set_train(False)
        hs, mask = self._encode(xs)
        zeros = _xp(hs).zeros((xs.shape[0], self.decoder._H), dtype=hs.dtype)
        return (hs, mask) + (zeros, zeros) * len(self.decoder.lstms)

    def generate(self, xs, start_id, sample_size):
        """Greedy decoding: xs (N, Te) -> (N, sample_size) ids; the attention weights of the run are
        left in ``attention_weights`` (N, sample_size, Te)."""
        state = self.decode_start(xs)
        xp = _xp(state[0])
        ids = xp.full(xs.shape[0], int(start_id), dtype=np.int64) if np.ndim(start_id) == 0 else xp.asarray(start_id)
        out, weights = [], []
        for _ in range(sample_size):
            scores, state = self.decode_step(state, ids)
            ids = scores.argmax(axis=1)
            out.append(ids)
            weights.append(self.decoder.last_weights)
        self.attention_weights = xp.stack(weights, axis=1)
        return xp.stack(out, axis=1)
