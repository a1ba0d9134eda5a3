"""The C++ backend's attention ops (pyrnn._cpu: cpp/include/pyrnn/attention.hpp, bound in
cpp/bindings/attention.cpp).

* attention_* / weighted_sum_*: the book's seq2seq attention for all decoder steps at once, per
  batch row two GEMMs and one in-place masked softmax pass (backward: the same GEMM structure).
* sdpa_*: scaled dot-product attention with a streaming (online) softmax over key blocks: the
  forward keeps only the output and one log-sum-exp per query row (no Tq x Tk matrix), the backward
  recomputes the probabilities block by block (flash-attention style on the CPU).

Arguments arrive validated by `pyrnn.ops`. The bindings take only C-contiguous arrays of the exact
dtype, so inputs are made contiguous here, only when they are not already; a bool mask goes in as a
zero-copy uint8 view. Masked keys contribute nothing: the kernels stop at each sequence's last kept
key, and when a masked key comes before a kept one (a hole in the padding) its rows of the keys and
values are read as zeros (`hide_masked_keys`: a NaN there must not reach an output through its zero
weight). ``saved`` keeps references to the inputs and to the forward's outputs (``a``
and ``out``), like the reference keeps ``a``/``p``: do not modify them in place before the backward.
"""
from __future__ import annotations

import numpy as np

from pyrnn import _cpu
from pyrnn._arrays import contiguous
from pyrnn.reference.attention import hide_masked_keys


def _mask(mask):
    """A bool mask as a C-contiguous uint8 view (None passes); copies only a strided mask."""
    if mask is None:
        return None
    return np.ascontiguousarray(mask).view(np.uint8)


# ---- the book's attention, all decoder steps at once ---------------------------------------------

def attention_weights_forward(hs, hq, mask):
    hs, hq = contiguous(hide_masked_keys(hs, mask, only_holes=True)), contiguous(hq)
    a = _cpu.attention_weights_forward(hs, hq, _mask(mask))
    return a, (hs, hq, a)


def attention_weights_backward(da, saved):
    hs, hq, a = saved
    return _cpu.attention_weights_backward(contiguous(da), hs, hq, a)


def weighted_sum_forward(hs, a):
    hs, a = contiguous(hs), contiguous(a)
    return _cpu.weighted_sum_forward(hs, a), (hs, a)


def weighted_sum_backward(dc, saved):
    hs, a = saved
    return _cpu.weighted_sum_backward(contiguous(dc), hs, a)


def attention_forward(hs, hq, mask, train):
    hs, hq = contiguous(hide_masked_keys(hs, mask, only_holes=True)), contiguous(hq)
    c, a = _cpu.attention_forward(hs, hq, _mask(mask))
    return c, a, ((hs, hq, a) if train else None)


def attention_backward(dc, saved):
    hs, hq, a = saved
    return _cpu.attention_backward(contiguous(dc), hs, hq, a)


# ---- scaled dot-product attention ----------------------------------------------------------------

def sdpa_forward(q, k, v, mask, causal, train):
    k, v = hide_masked_keys(k, mask, only_holes=True), hide_masked_keys(v, mask, only_holes=True)
    q, k, v, m = contiguous(q), contiguous(k), contiguous(v), _mask(mask)
    out, lse = _cpu.sdpa_forward(q, k, v, m, bool(causal), bool(train))
    return out, ((q, k, v, m, bool(causal), out, lse) if train else None)


def sdpa_backward(dout, saved):
    q, k, v, m, causal, out, lse = saved
    return _cpu.sdpa_backward(contiguous(dout), q, k, v, m, causal, out, lse)
