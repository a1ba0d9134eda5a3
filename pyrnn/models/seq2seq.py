"""Encoder-decoder models (the book's ch07 and ch08): Seq2seq, PeekySeq2seq, AttentionSeq2seq.

All take (N, Te) source ids and (N, 1 + Td) targets whose first column is the start
symbol: ``forward(xs, ts)`` trains with teacher forcing (the decoder reads ts[:, :-1] and
predicts ts[:, 1:]) and returns the mean loss; ``backward(dout=1)`` fills ``grads``;
``generate(xs, start_id, sample_size)`` decodes greedily, a whole batch at once, and
returns (N, sample_size) ids (the book's API); ``decode(xs, start_id, max_len, method=...)`` decodes
greedily, by sampling or by beam search (`pyrnn.models.decoding`). Reversing the source
(Sutskever et al.) is a data choice: see `pyrnn.datasets.reverse_input`.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..layers import TimeAffine, TimeAttention, TimeBiLSTM, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss
from . import decoding
from ._base import Init, Model


def _start_tokens(xp, n, start_id):
    """(N, 1) start ids from a scalar or per-row ids."""
    if np.ndim(start_id) == 0:
        return xp.full((n, 1), int(start_id), dtype=np.int32)
    return xp.asarray(start_id).reshape(n, 1)


def _greedy(xp, lstm, h, start_id, n, sample_size, scores):
    """The decoders' generate: lstm starts from h; from start_id, each next ids (N, 1) are the argmax of
    scores(the last ids (N, 1)) (N, 1, V). -> (N, sample_size) ids."""
    lstm.set_state(h)
    x = _start_tokens(xp, n, start_id)
    out = []
    for _ in range(sample_size):
        x = scores(x).argmax(axis=2)
        out.append(x[:, 0])
    return xp.stack(out, axis=1)


class Encoder(Model):
    """TimeEmbedding + TimeLSTM: xs (N, T) -> hs (N, T, H). With ``bidirectional`` a
    TimeBiLSTM of H // 2 units per direction (hs still (N, T, H))."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, init, bidirectional=False):
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(init.embedding(V, D))
        self.bidirectional = bool(bidirectional)
        if self.bidirectional:
            if H % 2:
                raise ValueError(f"hidden_size: a bidirectional encoder needs an even size, got {H}")
            self.lstm = TimeBiLSTM(*init.lstm(D, H // 2), *init.lstm(D, H // 2))
        else:
            self.lstm = TimeLSTM(*init.lstm(D, H), stateful=False)
        self._compose(("embed", self.embed), ("lstm", self.lstm))
        self._hs_shape = None

    def forward(self, xs):
        hs = self.lstm.forward(self.embed.forward(xs))
        self._hs_shape = hs.shape
        return hs

    def backward(self, dhs):
        self.embed.backward(self.lstm.backward(dhs))

    def final_state(self, hs):
        """The summary h (N, H) handed to the decoder: the last state of each direction."""
        if not self.bidirectional:
            return hs[:, -1]
        H2 = hs.shape[2] // 2
        xp = _xp(hs)
        return xp.concatenate((hs[:, -1, :H2], hs[:, 0, H2:]), axis=1)

    def final_state_backward(self, dh, dhs=None):
        """Add dL/dh of `final_state` into dhs (new zeros when None); returns dhs."""
        xp = _xp(dh)
        if dhs is None:
            dhs = xp.zeros(self._hs_shape, dtype=dh.dtype)
        if not self.bidirectional:
            dhs[:, -1] += dh
        else:
            H2 = dh.shape[1] // 2
            dhs[:, -1, :H2] += dh[:, :H2]
            dhs[:, 0, H2:] += dh[:, H2:]
        return dhs


def _xp(a):
    from .._arrays import get_xp
    return get_xp(a)


# One decoding step through the layers' parameters, by the ops the layers call (the same numbers as
# their forward), without touching the layers' recurrent state or saving anything for a backward.

def _embed_step(embed, ids):
    return ops.embedding_forward(embed.params[0], ids[:, None])[0]  # (N, 1, D)


def _lstm_step(lstm, x, h, c):
    hs, h, c, _ = ops.lstm_forward(x, *lstm.params, h0=h, c0=c, train=False)
    return hs, h, c


def _affine_step(affine, x):
    return ops.affine_forward(x, *affine.params)[0]


class Decoder(Model):
    """TimeEmbedding + TimeLSTM (stateful, started from the encoder's h) + TimeAffine."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, init):
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(init.embedding(V, D))
        self.lstm = TimeLSTM(*init.lstm(D, H), stateful=True)
        self.affine = TimeAffine(*init.affine(H, V))
        self._compose(("embed", self.embed), ("lstm", self.lstm), ("affine", self.affine))

    def forward(self, xs, h):
        self.lstm.set_state(h)
        return self.affine.forward(self.lstm.forward(self.embed.forward(xs)))

    def backward(self, dscore):
        self.embed.backward(self.lstm.backward(self.affine.backward(dscore)))
        return self.lstm.dh

    def generate(self, h, start_id, sample_size):
        return _greedy(_xp(h), self.lstm, h, start_id, h.shape[0], sample_size,
                       lambda x: self.affine.forward(self.lstm.forward(self.embed.forward(x))))

    def decode_start(self, h):
        """The decoding state (h, c) from the encoder's h (c None: zeros, as in `forward`)."""
        return (h, None)

    def decode_step(self, state, ids):
        """Feed ids (N,) -> (scores (N, V), new state)."""
        h, c = state
        hs, h, c = _lstm_step(self.lstm, _embed_step(self.embed, ids), h, c)
        return _affine_step(self.affine, hs[:, 0]), (h, c)


class PeekyDecoder(Model):
    """Decoder that 'peeks': the encoder's h is concatenated to every LSTM input and to
    every affine input (LSTM input D + H, affine input 2H)."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, init):
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(init.embedding(V, D))
        self.lstm = TimeLSTM(*init.lstm(H + D, H), stateful=True)
        self.affine = TimeAffine(*init.affine(2 * H, V))
        self._compose(("embed", self.embed), ("lstm", self.lstm), ("affine", self.affine))
        self._H = H

    def _step(self, xs, h):
        xp = _xp(h)
        N, T = xs.shape
        hs = xp.broadcast_to(h[:, None, :], (N, T, h.shape[1]))
        out = self.lstm.forward(xp.concatenate((hs, self.embed.forward(xs)), axis=2))
        return self.affine.forward(xp.concatenate((hs, out), axis=2))

    def forward(self, xs, h):
        self.lstm.set_state(h)
        return self._step(xs, h)

    def backward(self, dscore):
        xp = _xp(dscore)
        H = self._H
        dout = self.affine.backward(dscore)
        dh = dout[:, :, :H].sum(axis=1)
        dx = self.lstm.backward(xp.ascontiguousarray(dout[:, :, H:]))
        dh = dh + dx[:, :, :H].sum(axis=1) + self.lstm.dh
        self.embed.backward(xp.ascontiguousarray(dx[:, :, H:]))
        return dh

    def generate(self, h, start_id, sample_size):
        return _greedy(_xp(h), self.lstm, h, start_id, h.shape[0], sample_size, lambda x: self._step(x, h))

    def decode_start(self, h):
        """(h_enc, h, c): the encoder's h is read at every step and is the LSTM's first state."""
        return (h, h, None)

    def decode_step(self, state, ids):
        h_enc, h, c = state
        xp = _xp(h_enc)
        x = xp.concatenate((h_enc[:, None, :], _embed_step(self.embed, ids)), axis=2)
        hs, h, c = _lstm_step(self.lstm, x, h, c)
        return _affine_step(self.affine, xp.concatenate((h_enc, hs[:, 0]), axis=1)), (h_enc, h, c)


class AttentionDecoder(Model):
    """TimeEmbedding + TimeLSTM (stateful) + TimeAttention over the encoder states; the
    affine reads [context | decoder state] (2H). ``attention_weights`` after `generate`:
    (N, sample_size, Te)."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, init):
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(init.embedding(V, D))
        self.lstm = TimeLSTM(*init.lstm(D, H), stateful=True)
        self.attention = TimeAttention()
        self.affine = TimeAffine(*init.affine(2 * H, V))
        self._compose(("embed", self.embed), ("lstm", self.lstm), ("attention", self.attention),
                      ("affine", self.affine))
        self._H = H
        self.attention_weights = None

    def _step(self, xs, enc_hs, mask):
        xp = _xp(enc_hs)
        dec_hs = self.lstm.forward(self.embed.forward(xs))
        c = self.attention.forward(enc_hs, dec_hs, mask)
        return self.affine.forward(xp.concatenate((c, dec_hs), axis=2))

    def forward(self, xs, enc_hs, h, mask=None):
        self.lstm.set_state(h)
        return self._step(xs, enc_hs, mask)

    def backward(self, dscore):
        """-> (denc_hs (N, Te, H), dh (N, H)) for the encoder's states and the initial state."""
        xp = _xp(dscore)
        H = self._H
        dout = self.affine.backward(dscore)
        denc_hs, ddec_hs = self.attention.backward(xp.ascontiguousarray(dout[:, :, :H]))
        dx = self.lstm.backward(ddec_hs + dout[:, :, H:])
        self.embed.backward(dx)
        return denc_hs, self.lstm.dh

    def generate(self, enc_hs, h, start_id, sample_size, mask=None):
        xp = _xp(enc_hs)
        weights = []

        def scores(x):
            s = self._step(x, enc_hs, mask)
            weights.append(self.attention.weights[:, 0])
            return s
        ids = _greedy(xp, self.lstm, h, start_id, enc_hs.shape[0], sample_size, scores)
        self.attention_weights = xp.stack(weights, axis=1)
        return ids

    def decode_step(self, state, ids):
        """state (enc_hs, mask, h, c); mask None or (N, Te) travels with the rows."""
        enc_hs, mask, h, c = state
        xp = _xp(enc_hs)
        dec_hs, h, c = _lstm_step(self.lstm, _embed_step(self.embed, ids), h, c)
        ctx = ops.attention_forward(enc_hs, dec_hs, mask, train=False)[0]
        return _affine_step(self.affine, xp.concatenate((ctx[:, 0], dec_hs[:, 0]), axis=1)), (enc_hs, mask, h, c)


class _Seq2seqDecoding:
    """`decode` and the step protocol of `pyrnn.models.decoding` for the encoder-decoder models."""

    @property
    def decode_vocab_size(self):
        return self.decoder.affine.params[0].shape[1]

    def decode_step(self, state, ids):
        return self.decoder.decode_step(state, ids)

    def decode_select(self, state, rows):
        return decoding.select_rows(state, rows)

    def decode(self, xs, start_id, max_len, method="greedy", *, end_id=None, pad_id=None, skip_ids=None,
               width=None, length_penalty=None, temperature=None, top_k=None, top_p=None, seed=None, rng=None):
        """Decode xs (N, Te) from ``start_id`` (one id, or one per row) for up to ``max_len`` ids.

        method "greedy" (the argmax: the same ids as `generate`), "sample" (``temperature``, ``top_k``,
        ``top_p``, drawn from ``rng`` or a generator seeded by ``seed``: the same seed, the same ids) or
        "beam" (``width`` beams per row, default 4; ``length_penalty`` alpha of GNMT's
        ((5 + n) / 6) ** alpha, default 0). ``end_id`` ends a row (it is part of the output);
        ``pad_id`` (default end_id) fills the rest; ``skip_ids`` are never produced.
        -> `pyrnn.models.decoding.Decoded` (ids (N, max_len), lengths, scores = summed log-probabilities;
        beam search adds the penalised scores and each row's ``width`` best hypotheses).
        """
        V = self.decode_vocab_size
        opts = decoding.check_options(V, method, max_len, end_id, pad_id, skip_ids, width, length_penalty,
                                      temperature, top_k, top_p, seed, rng)
        state = self.decode_start(xs)
        ids = decoding.check_start_ids("start_id", start_id, len(xs), V)
        return decoding.run(self, state, ids, opts, _xp(self.params[0]))


class Seq2seq(_Seq2seqDecoding, Model):
    """Encoder (TimeEmbedding + TimeLSTM) -> last h -> Decoder (TimeEmbedding + stateful
    TimeLSTM + TimeAffine) + TimeSoftmaxWithLoss.

    Seq2seq(vocab_size, wordvec_size=16, hidden_size=128, dtype=float32, seed=0, xp=None):
    ``xp`` (NumPy by default, or cupy) holds the parameters; ``seed`` fixes the init.
    """

    _decoder_cls = Decoder

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=128, dtype=np.float32, seed=0, xp=None):
        init = Init(seed, dtype, xp)
        self.encoder = Encoder(vocab_size, wordvec_size, hidden_size, init)
        self.decoder = self._decoder_cls(vocab_size, wordvec_size, hidden_size, init)
        self.softmax = TimeSoftmaxWithLoss()
        self._compose(("encoder", self.encoder), ("decoder", self.decoder))

    def forward(self, xs, ts):
        hs = self.encoder.forward(xs)
        score = self.decoder.forward(ts[:, :-1], self.encoder.final_state(hs))
        return self.softmax.forward(score, ts[:, 1:])

    def backward(self, dout=1):
        dh = self.decoder.backward(self.softmax.backward(dout))
        self.encoder.backward(self.encoder.final_state_backward(dh))

    def generate(self, xs, start_id, sample_size):
        """Greedy decoding: xs (N, Te) -> (N, sample_size) ids."""
        hs = self.encoder.forward(xs)
        return self.decoder.generate(self.encoder.final_state(hs), start_id, sample_size)

    def decode_start(self, xs):
        """The decoder's first decoding state, from the encoded source xs (N, Te)."""
        return self.decoder.decode_start(self.encoder.final_state(self.encoder.forward(xs)))


class PeekySeq2seq(Seq2seq):
    """Seq2seq whose decoder sees the encoder's h at every step (LSTM and affine inputs)."""

    _decoder_cls = PeekyDecoder


class AttentionSeq2seq(_Seq2seqDecoding, Model):
    """Encoder (optionally bidirectional: TimeBiLSTM, H // 2 units each way) -> all states
    hs -> AttentionDecoder (starts from the encoder's final state, attends over hs with
    TimeAttention) + TimeSoftmaxWithLoss.

    ``src_pad_id``: when given, source positions holding it are masked out of the
    attention (only for vocabularies whose pad symbol occurs nowhere else; the date
    and addition tasks pad with a space that also occurs inside sources, so leave it None).
    """

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=256, bidirectional=False,
                 src_pad_id=None, dtype=np.float32, seed=0, xp=None):
        init = Init(seed, dtype, xp)
        self.encoder = Encoder(vocab_size, wordvec_size, hidden_size, init, bidirectional)
        self.decoder = AttentionDecoder(vocab_size, wordvec_size, hidden_size, init)
        self.softmax = TimeSoftmaxWithLoss()
        self.src_pad_id = src_pad_id
        self._compose(("encoder", self.encoder), ("decoder", self.decoder))

    def _mask(self, xs):
        return None if self.src_pad_id is None else xs != self.src_pad_id

    def forward(self, xs, ts):
        hs = self.encoder.forward(xs)
        score = self.decoder.forward(ts[:, :-1], hs, self.encoder.final_state(hs), self._mask(xs))
        return self.softmax.forward(score, ts[:, 1:])

    def backward(self, dout=1):
        denc_hs, dh = self.decoder.backward(self.softmax.backward(dout))
        self.encoder.backward(self.encoder.final_state_backward(dh, denc_hs))

    def generate(self, xs, start_id, sample_size):
        """Greedy decoding: xs (N, Te) -> (N, sample_size) ids; the attention weights of the
        run are left in ``attention_weights`` (N, sample_size, Te)."""
        hs = self.encoder.forward(xs)
        return self.decoder.generate(hs, self.encoder.final_state(hs), start_id, sample_size, self._mask(xs))

    def decode_start(self, xs):
        """(encoder states (N, Te, H), source mask or None, h = the encoder's final state, c = None)."""
        hs = self.encoder.forward(xs)
        return (hs, self._mask(xs), self.encoder.final_state(hs), None)

    @property
    def attention_weights(self):
        return self.decoder.attention_weights
