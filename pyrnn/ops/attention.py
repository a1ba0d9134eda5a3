"""The attention ops: the book's seq2seq attention (weights, weighted sum, both fused) over all
decoder steps at once, and multi-head scaled dot-product attention."""
from __future__ import annotations

from .._validate import check_float, check_mask, check_nonempty_axis, same_module
from ._runner import run_backward, run_forward

__all__ = [
    "attention_weights_forward", "attention_weights_backward",
    "weighted_sum_forward", "weighted_sum_backward",
    "attention_forward", "attention_backward",
    "sdpa_forward", "sdpa_backward",
]


def _attention_args(hs, hq, mask):
    """Checks shared by the seq2seq attention ops -> N, Te, Td, H."""
    check_float("hs", hs, ("N", "Te", "H"))
    N, Te, H = hs.shape
    check_float("hq", hq, (N, "Td", H), dtype=hs.dtype)
    check_nonempty_axis("hs", hs, 1, "Te (the number of encoder steps attended over)")
    check_mask("mask", mask, (N, Te))
    same_module(hs=hs, hq=hq, mask=mask)
    return N, Te, hq.shape[1], H


def attention_weights_forward(hs, hq, mask=None):
    """a (N, Td, Te) = softmax_Te(<hq, hs>), masked where mask is False."""
    N, Te, Td, H = _attention_args(hs, hq, mask)
    return run_forward("attention_weights", hs, dict(hs=hs, hq=hq, mask=mask), (("da", (N, Td, Te), False),),
                       dict(N=N, Te=Te, Td=Td, H=H))


def attention_weights_backward(da, saved):
    """-> dhs, dhq."""
    return run_backward("attention_weights", saved, da)


def weighted_sum_forward(hs, a):
    """c (N, Td, H) = sum over Te of a (N, Td, Te) * hs (N, Te, H)."""
    check_float("hs", hs, ("N", "Te", "H"))
    N, Te, H = hs.shape
    check_float("a", a, (N, "Td", Te), dtype=hs.dtype)
    same_module(hs=hs, a=a)
    Td = a.shape[1]
    return run_forward("weighted_sum", hs, dict(hs=hs, a=a), (("dc", (N, Td, H), False),),
                       dict(N=N, Te=Te, Td=Td, H=H))


def weighted_sum_backward(dc, saved):
    """-> dhs, da."""
    return run_backward("weighted_sum", saved, dc)


def attention_forward(hs, hq, mask=None, train=True):
    """Dot-product attention of every query step over the encoder states -> c, a, saved."""
    N, Te, Td, H = _attention_args(hs, hq, mask)
    return run_forward("attention", hs, dict(hs=hs, hq=hq, mask=mask, train=train), (("dc", (N, Td, H), False),),
                       dict(N=N, Te=Te, Td=Td, H=H), train)


def attention_backward(dc, saved):
    """-> dhs, dhq."""
    return run_backward("attention", saved, dc)


def sdpa_forward(q, k, v, mask=None, causal=False, train=True):
    """Scaled dot-product attention per head. q (N, Hh, Tq, dk), k (N, Hh, Tk, dk), v (N, Hh, Tk, dv)."""
    check_float("q", q, ("N", "Hh", "Tq", "dk"))
    N, Hh, Tq, dk = q.shape
    check_float("k", k, (N, Hh, "Tk", dk), dtype=q.dtype)
    Tk = k.shape[2]
    check_float("v", v, (N, Hh, Tk, "dv"), dtype=q.dtype)
    check_nonempty_axis("k", k, 2, "Tk (the number of keys)")
    check_nonempty_axis("q", q, 3, "dk (the key width; scores are scaled by 1/sqrt(dk))")
    check_mask("mask", mask, (N, Tk))
    if causal and Tq != Tk:
        raise ValueError(f"causal: needs Tq == Tk, got q with Tq={Tq} and k with Tk={Tk}")
    same_module(q=q, k=k, v=v, mask=mask)
    dv = v.shape[3]
    return run_forward("sdpa", q, dict(q=q, k=k, v=v, mask=mask, causal=bool(causal), train=train),
                       (("dout", (N, Hh, Tq, dv), False),), dict(N=N, Hh=Hh, Tq=Tq, Tk=Tk, dk=dk, dv=dv), train)


def sdpa_backward(dout, saved):
    """-> dq, dk, dv."""
    return run_backward("sdpa", saved, dout)
