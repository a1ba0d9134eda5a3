"""A Transformer encoder layer (Vaswani et al.; BERT) in the book's style: weights passed in,
``params``/``grads`` lists, ``forward``/``backward``."""
from __future__ import annotations

import math

from .._arrays import get_xp
from ._base import Layer
from .attention import MultiHeadAttention
from .norm import LayerNorm
from .time import TimeAffine, TimeDropout

_C = math.sqrt(2.0 / math.pi)


class _Activation(Layer):
    """ReLU, or GELU in BERT's tanh approximation 0.5 x (1 + tanh(c (x + 0.044715 x^3)))."""

    def __init__(self, kind):
        if kind not in ("relu", "gelu"):
            raise ValueError(f"activation: expected 'relu' or 'gelu', got {kind!r}")
        self.kind = kind
        self.params, self.grads = [], []
        self._saved = None

    def forward(self, x):
        xp = get_xp(x)
        if self.kind == "relu":
            keep = x > 0
            self._saved = keep
            return x * keep
        t = xp.tanh(_C * (x + 0.044715 * x ** 3))
        self._saved = (x, t)
        return 0.5 * x * (1.0 + t)

    def backward(self, dout):
        saved = self._need(self._saved)
        if self.kind == "relu":
            return dout * saved
        x, t = saved
        du = _C * (1.0 + 3 * 0.044715 * x * x)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


class TransformerEncoderLayer(Layer):
    """One encoder layer: multi-head self-attention and a position-wise feed-forward network
    (Affine -> ReLU/GELU -> Affine), each with dropout on its output, a residual connection and
    LayerNorm.

    Post-LN (the original Transformer and BERT, the default):
        x = LN1(x + Dropout(MHA(x)));  y = LN2(x + Dropout(FFN(x)))
    Pre-LN (``norm_first=True``):
        x = x + Dropout(MHA(LN1(x)));  y = x + Dropout(FFN(LN2(x)))

    Weights are passed in: Wq, bq, Wk, bk, Wv, bv, Wo, bo (Dm, Dm)/(Dm,) for the attention,
    gamma1, beta1 (Dm,), W1 (Dm, Dff), b1 (Dff,), W2 (Dff, Dm), b2 (Dm,), gamma2, beta2 (Dm,).
    ``num_heads`` divides Dm. forward(x, mask=None): x (N, T, Dm), mask (N, T) bool (False =
    padding key). ``train_flg`` False turns dropout off (the book's convention); ``causal``
    makes it a decoder-style self-attention layer.
    """

    def __init__(self, Wq, bq, Wk, bk, Wv, bv, Wo, bo, gamma1, beta1, W1, b1, W2, b2, gamma2, beta2,
                 num_heads, activation="gelu", dropout_ratio=0.0, eps=1e-5, norm_first=False, causal=False):
        self.attn = MultiHeadAttention(Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads=num_heads, causal=causal)
        self.ln1 = LayerNorm(gamma1, beta1, eps=eps)
        self.ff1 = TimeAffine(W1, b1)
        self.act = _Activation(activation)
        self.ff2 = TimeAffine(W2, b2)
        self.ln2 = LayerNorm(gamma2, beta2, eps=eps)
        self.drop1, self.drop2 = TimeDropout(dropout_ratio), TimeDropout(dropout_ratio)
        self.dropout_ratio = dropout_ratio
        self.norm_first = bool(norm_first)
        self._layers = [self.attn, self.ln1, self.ff1, self.ff2, self.ln2]
        # the sublayers' own arrays: an optimizer updating params in place updates them
        self.params = [p for lay in self._layers for p in lay.params]
        self.grads = [g for lay in self._layers for g in lay.grads]
        self._ran = False

    @property
    def train_flg(self):
        return self.drop1.train_flg

    @train_flg.setter
    def train_flg(self, flag):
        self.drop1.train_flg = self.drop2.train_flg = bool(flag)

    def _drop(self, layer, x):
        return layer.forward(x) if self.dropout_ratio else x

    def _drop_back(self, layer, d):
        return layer.backward(d) if self.dropout_ratio else d

    def _ffn(self, x):
        return self.ff2.forward(self.act.forward(self.ff1.forward(x)))

    def _ffn_back(self, d):
        return self.ff1.backward(self.act.backward(self.ff2.backward(d)))

    def forward(self, x, mask=None):
        if self.norm_first:
            x = x + self._drop(self.drop1, self.attn.forward(self.ln1.forward(x), mask=mask))
            y = x + self._drop(self.drop2, self._ffn(self.ln2.forward(x)))
        else:
            x = self.ln1.forward(x + self._drop(self.drop1, self.attn.forward(x, mask=mask)))
            y = self.ln2.forward(x + self._drop(self.drop2, self._ffn(x)))
        self._ran = True
        return y

    def backward(self, dout):
        if not self._ran:
            self._need(None)
        if self.norm_first:
            dx = dout + self.ln2.backward(self._ffn_back(self._drop_back(self.drop2, dout)))
            return dx + self.ln1.backward(self.attn.backward(self._drop_back(self.drop1, dx)))
        d2 = self.ln2.backward(dout)
        dx1 = d2 + self._ffn_back(self._drop_back(self.drop2, d2))
        d1 = self.ln1.backward(dx1)
        return d1 + self.attn.backward(self._drop_back(self.drop1, d1))
