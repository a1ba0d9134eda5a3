"""Sequence classifiers over right-padded token ids: a BiLSTM and a small BERT-style
Transformer encoder. Both: ``forward(xs, ts)`` -> mean loss (ts (N,) class ids),
``backward(dout=1)``, ``predict(xs)`` -> scores (N, num_classes).

Padding: sequences are right-padded with ``pad_id``; a sequence's length is its number of
non-pad ids (pads only at the end). Neither model lets a pad change a real position's
output, so a sentence gets the same score whatever it is padded to.
"""
from __future__ import annotations

import numpy as np

from .._arrays import get_xp
from ..layers import (Affine, LayerNorm, MultiHeadAttention, SoftmaxWithLoss, TimeAffine, TimeBiLSTM,
                      TimeDropout, TimeEmbedding)
from ._base import Init, Model
from ._glue import GELU, PositionalEmbedding, Tanh


def _lengths(xs, pad_id):
    xp = get_xp(xs)
    return (xs != pad_id).sum(axis=1).astype(np.int64) if xs.size else xp.zeros(len(xs), np.int64)


class BiLSTMClassifier(Model):
    """TimeEmbedding -> TimeBiLSTM -> pooling -> Affine -> SoftmaxWithLoss.

    The backward direction reads each sequence's real tokens reversed (pads stay after
    them), so neither direction sees a pad before a real token. ``pooling``: "mean" (mean
    of [forward | backward] states over the real positions) or "last" (the forward state at
    the last real token and the backward state at the first).
    """

    def __init__(self, vocab_size, wordvec_size=32, hidden_size=32, num_classes=2, pad_id=0,
                 pooling="mean", dtype=np.float32, seed=0, xp=None):
        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling: expected 'mean' or 'last', got {pooling!r}")
        init = Init(seed, dtype, xp)
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(init.embedding(V, D) * 10)  # N(0, 0.1^2): learns faster than the LM's 0.01
        self.bilstm = TimeBiLSTM(*init.lstm(D, H), *init.lstm(D, H))
        self.affine = Affine(*init.affine(2 * H, num_classes))
        self.loss_layer = SoftmaxWithLoss()
        self.pad_id, self.pooling, self._H = pad_id, pooling, H
        self._compose(("embed", self.embed), ("bilstm", self.bilstm), ("affine", self.affine))
        self._cache = None

    def predict(self, xs):
        xp = get_xp(xs)
        L = _lengths(xs, self.pad_id)
        # the backward LSTM reads each row's real tokens reversed (TimeBiLSTM with lengths); padded
        # steps give zero states and get no gradient
        hs = self.bilstm.forward(self.embed.forward(xs), L)
        N, T, H2 = hs.shape
        Lc = xp.maximum(L, 1)
        if self.pooling == "mean":
            m = (xp.arange(T)[None, :] < L[:, None]).astype(hs.dtype)[:, :, None] / Lc[:, None, None].astype(hs.dtype)
            pooled = (hs * m).sum(axis=1)
            self._cache = (Lc, m, hs.shape)
        else:  # the forward state at the last real token, the backward state at the first
            H = self._H
            pooled = xp.concatenate((hs[xp.arange(N), Lc - 1, :H], hs[:, 0, H:]), axis=1)
            self._cache = (Lc, None, hs.shape)
        return self.affine.forward(pooled)

    def forward(self, xs, ts):
        return self.loss_layer.forward(self.predict(xs), ts)

    def backward(self, dout=1):
        dpooled = self.affine.backward(self.loss_layer.backward(dout))
        Lc, m, shape = self._need(self._cache)
        xp = get_xp(dpooled)
        H = self._H
        if m is not None:
            dhs = dpooled[:, None, :] * m
        else:
            dhs = xp.zeros(shape, dtype=dpooled.dtype)
            dhs[xp.arange(shape[0]), Lc - 1, :H] = dpooled[:, :H]
            dhs[:, 0, H:] = dpooled[:, H:]
        self.embed.backward(self.bilstm.backward(dhs))


class EncoderBlock(Model):
    """Post-LN Transformer encoder layer (BERT): x = LN(x + MHA(x)); x = LN(x + FFN(x)),
    FFN = Affine -> GELU -> Affine; optional dropout on both residual branches."""

    def __init__(self, d_model, num_heads, d_ff, init, dropout=0.0):
        Dm = d_model
        mha = []
        for _ in range(4):
            mha += list(init.affine(Dm, Dm))
        self.attn = MultiHeadAttention(*mha, num_heads=num_heads)
        self.ln1 = LayerNorm(init.ones(Dm), init.zeros(Dm))
        self.ff1 = TimeAffine(*init.affine(Dm, d_ff))
        self.act = GELU()
        self.ff2 = TimeAffine(*init.affine(d_ff, Dm))
        self.ln2 = LayerNorm(init.ones(Dm), init.zeros(Dm))
        self.drop1, self.drop2 = TimeDropout(dropout), TimeDropout(dropout)
        self.dropout = dropout
        self._compose(("attn", self.attn), ("ln1", self.ln1), ("ff1", self.ff1), ("ff2", self.ff2),
                      ("ln2", self.ln2))

    def _drop(self, layer, x):
        return layer.forward(x) if self.dropout else x

    def _drop_back(self, layer, d):
        return layer.backward(d) if self.dropout else d

    def set_train(self, flag):
        self.drop1.train_flg = self.drop2.train_flg = flag

    def forward(self, x, mask=None):
        x1 = self.ln1.forward(x + self._drop(self.drop1, self.attn.forward(x, mask=mask)))
        f = self.ff2.forward(self.act.forward(self.ff1.forward(x1)))
        return self.ln2.forward(x1 + self._drop(self.drop2, f))

    def backward(self, dout):
        d2 = self.ln2.backward(dout)
        df = self._drop_back(self.drop2, d2)
        dx1 = d2 + self.ff1.backward(self.act.backward(self.ff2.backward(df)))
        d1 = self.ln1.backward(dx1)
        return d1 + self.attn.backward(self._drop_back(self.drop1, d1))


class TransformerEncoderClassifier(Model):
    """A small BERT-style classifier.

    Each padded sequence becomes ``[CLS] tokens [SEP] <pad>...``; token embeddings plus
    learned positional embeddings, LayerNorm, ``num_layers`` `EncoderBlock`s (multi-head
    self-attention with the pads masked out, feed-forward, residuals, LayerNorm), then the
    [CLS] state -> Affine + tanh (BERT's pooler) -> Affine -> SoftmaxWithLoss.
    ``max_len`` bounds the padded input length (+ 2 for [CLS] and [SEP]).
    """

    def __init__(self, vocab_size, d_model=32, num_heads=2, d_ff=64, num_layers=2, max_len=64,
                 num_classes=2, pad_id=0, cls_id=1, sep_id=2, dropout=0.0, dtype=np.float32, seed=0, xp=None):
        init = Init(seed, dtype, xp)
        Dm = d_model
        self.tok = TimeEmbedding(init.normal(vocab_size, Dm, scale=0.1))
        self.pos = PositionalEmbedding(init.normal(max_len + 2, Dm, scale=0.1))
        self.ln = LayerNorm(init.ones(Dm), init.zeros(Dm))
        self.blocks = [EncoderBlock(Dm, num_heads, d_ff, init, dropout) for _ in range(num_layers)]
        self.pooler = Affine(*init.affine(Dm, Dm))
        self.tanh = Tanh()
        self.classifier = Affine(*init.affine(Dm, num_classes))
        self.loss_layer = SoftmaxWithLoss()
        self.pad_id, self.cls_id, self.sep_id = pad_id, cls_id, sep_id
        self._compose(("tok", self.tok), ("pos", self.pos), ("ln", self.ln),
                      *((f"blocks.{i}", b) for i, b in enumerate(self.blocks)),
                      ("pooler", self.pooler), ("classifier", self.classifier))
        self._shape = None

    def add_special_tokens(self, xs):
        """xs (N, T) right-padded -> (ids (N, T + 2) = [CLS] xs [SEP] pads, mask (N, T + 2) bool)."""
        xp = get_xp(xs)
        N, T = xs.shape
        L = _lengths(xs, self.pad_id)
        ids = xp.full((N, T + 2), self.pad_id, dtype=xs.dtype)
        ids[:, 0] = self.cls_id
        ids[:, 1:T + 1] = xs
        ids[xp.arange(N), L + 1] = self.sep_id
        mask = xp.arange(T + 2)[None, :] < (L + 2)[:, None]
        return ids, mask

    def predict(self, xs, train_flg=False):
        ids, mask = self.add_special_tokens(xs)
        h = self.ln.forward(self.pos.forward(self.tok.forward(ids)))
        for b in self.blocks:
            b.set_train(train_flg)
            h = b.forward(h, mask)
        self._shape = h.shape
        return self.classifier.forward(self.tanh.forward(self.pooler.forward(h[:, 0])))

    def forward(self, xs, ts, train_flg=True):
        return self.loss_layer.forward(self.predict(xs, train_flg), ts)

    def backward(self, dout=1):
        dcls = self.pooler.backward(self.tanh.backward(self.classifier.backward(self.loss_layer.backward(dout))))
        xp = get_xp(dcls)
        dh = xp.zeros(self._shape, dtype=dcls.dtype)
        dh[:, 0] = dcls
        for b in reversed(self.blocks):
            dh = b.backward(dh)
        self.tok.backward(self.pos.backward(self.ln.backward(dh)))
