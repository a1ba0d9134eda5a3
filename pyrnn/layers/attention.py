"""Attention layers: the book's ch08/attention_layer.py (AttentionWeight, WeightSum,
Attention, TimeAttention), time-batched, plus multi-head scaled dot-product attention."""
from __future__ import annotations

from .. import ops
from .._validate import check_float, check_int, check_mask
from ._base import Layer


def _query(name, h, hs):
    """The book's per-step layers take one decoder state h (N, H); ops take (N, Td, H)."""
    N, _, H = hs.shape
    check_float(name, h, (N, H), dtype=hs.dtype)
    return h[:, None, :]


class AttentionWeight(Layer):
    """a (N, T) = softmax over T of <hs[:, t], h>. hs (N, T, H), h (N, H)."""

    def __init__(self):
        self.params, self.grads = [], []
        self._saved = None

    def forward(self, hs, h):
        check_float("hs", hs, ("N", "T", "H"))
        a, self._saved = ops.attention_weights_forward(hs, _query("h", h, hs))
        return a[:, 0, :]

    def backward(self, da):
        saved = self._need(self._saved)
        check_float("da", da, ("N", "T"))
        dhs, dh = ops.attention_weights_backward(da[:, None, :], saved)
        return dhs, dh[:, 0, :]


class WeightSum(Layer):
    """c (N, H) = sum over T of a[:, t] * hs[:, t]. hs (N, T, H), a (N, T)."""

    def __init__(self):
        self.params, self.grads = [], []
        self._saved = None

    def forward(self, hs, a):
        check_float("hs", hs, ("N", "T", "H"))
        check_float("a", a, hs.shape[:2], dtype=hs.dtype)
        c, self._saved = ops.weighted_sum_forward(hs, a[:, None, :])
        return c[:, 0, :]

    def backward(self, dc):
        saved = self._need(self._saved)
        check_float("dc", dc, ("N", "H"))
        dhs, da = ops.weighted_sum_backward(dc[:, None, :], saved)
        return dhs, da[:, 0, :]


class Attention(Layer):
    """One decoder step: c (N, H) = WeightSum(hs, AttentionWeight(hs, h)); weights in .attention_weight."""

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weight = None
        self._saved = None

    def forward(self, hs, h):
        check_float("hs", hs, ("N", "T", "H"))
        c, a, self._saved = ops.attention_forward(hs, _query("h", h, hs))
        self.attention_weight = a[:, 0, :]
        return c[:, 0, :]

    def backward(self, dout):
        saved = self._need(self._saved)
        check_float("dout", dout, ("N", "H"))
        dhs, dh = ops.attention_backward(dout[:, None, :], saved)
        return dhs, dh[:, 0, :]


class TimeAttention(Layer):
    """All decoder steps at once: out (N, Td, H) from hs_enc (N, Te, H) and hs_dec (N, Td, H).

    ``mask`` (N, Te) bool marks real encoder positions (False = padding, never attended).
    ``attention_weights`` is the book's list of per-step (N, Te) weights; ``weights``
    the same as one (N, Td, Te) array.
    """

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weights = None
        self.weights = None
        self._saved = None

    def forward(self, hs_enc, hs_dec, mask=None):
        check_float("hs_enc", hs_enc, ("N", "Te", "H"))
        N, Te, H = hs_enc.shape
        check_float("hs_dec", hs_dec, (N, "Td", H), dtype=hs_enc.dtype)
        check_mask("mask", mask, (N, Te))
        out, self.weights, self._saved = ops.attention_forward(hs_enc, hs_dec, mask)
        self.attention_weights = [self.weights[:, t, :] for t in range(self.weights.shape[1])]
        return out

    def backward(self, dout):
        return ops.attention_backward(dout, self._need(self._saved))


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (Vaswani et al.; BERT's self-attention).

    Weights are passed in, book style: Wq, Wk, Wv (Dm, Dm), Wo (Dm, Dm), biases (Dm,);
    ``num_heads`` must divide Dm. forward(x) is self-attention; forward(x, kv) attends
    from x (N, Tq, Dm) to kv (N, Tk, Dm). ``mask`` (N, Tk) bool: False = padding key.
    ``causal`` hides later keys (decoder self-attention). backward(dout) returns dx for
    self-attention, (dx, dkv) for cross-attention.
    """

    def __init__(self, Wq, bq, Wk, bk, Wv, bv, Wo, bo, num_heads, causal=False):
        self._init_params(Wq, bq, Wk, bk, Wv, bv, Wo, bo)
        Dm = Wq.shape[0]
        expected = f"a positive int dividing the model width {Dm}"
        num_heads = check_int("num_heads", num_heads, low=1, expected=expected)
        if Dm % num_heads:
            raise ValueError(f"num_heads: expected {expected}, got {num_heads}")
        for name, W in (("Wq", Wq), ("Wk", Wk), ("Wv", Wv), ("Wo", Wo)):
            check_float(name, W, (Dm, Dm), dtype=Wq.dtype)
        for name, b in (("bq", bq), ("bk", bk), ("bv", bv), ("bo", bo)):
            check_float(name, b, (Dm,), dtype=Wq.dtype)
        self.num_heads = num_heads
        self.causal = bool(causal)
        self._cache = None

    def _heads(self, y):
        """(N, T, Dm) -> (N, Hh, T, Dm / Hh)."""
        N, T, Dm = y.shape
        return y.reshape(N, T, self.num_heads, Dm // self.num_heads).transpose(0, 2, 1, 3)

    @staticmethod
    def _merge(y):
        """(N, Hh, T, dh) -> (N, T, Hh * dh)."""
        N, Hh, T, dh = y.shape
        return y.transpose(0, 2, 1, 3).reshape(N, T, Hh * dh)

    def forward(self, x, kv=None, mask=None):
        Wq, bq, Wk, bk, Wv, bv, Wo, bo = self.params
        Dm = Wq.shape[0]
        check_float("x", x, ("N", "Tq", Dm), dtype=Wq.dtype)
        self_attn = kv is None
        if self_attn:
            kv = x
        check_float("kv", kv, (x.shape[0], "Tk", Dm), dtype=Wq.dtype)
        q, sq = ops.affine_forward(x, Wq, bq)
        k, sk = ops.affine_forward(kv, Wk, bk)
        v, sv = ops.affine_forward(kv, Wv, bv)
        ctx, sa = ops.sdpa_forward(self._heads(q), self._heads(k), self._heads(v), mask, self.causal)
        out, so = ops.affine_forward(self._merge(ctx), Wo, bo)
        self._cache = (self_attn, sq, sk, sv, sa, so)
        return out

    def backward(self, dout):
        self_attn, sq, sk, sv, sa, so = self._need(self._cache)
        dctx, dWo, dbo = ops.affine_backward(dout, so)
        dq, dk, dv = ops.sdpa_backward(self._heads(dctx), sa)
        dx, dWq, dbq = ops.affine_backward(self._merge(dq), sq)
        dkv_k, dWk, dbk = ops.affine_backward(self._merge(dk), sk)
        dkv_v, dWv, dbv = ops.affine_backward(self._merge(dv), sv)
        self._set_grads(dWq, dbq, dWk, dbk, dWv, dbv, dWo, dbo)
        dkv = dkv_k + dkv_v
        return dx + dkv if self_attn else (dx, dkv)
