"""The cuda backend's attention ops (kernels/include/pyrnn_cuda/attention.cuh).

* attention_* / weighted_sum_*: the book's seq2seq attention for all decoder steps at once. hs (N, Te, H),
  hq (N, Td, H), mask (N, Te) bool or None; the GEMMs are cuBLAS strided-batched calls over the N batch
  rows and the softmax is one kernel over the N*Td score rows.
* sdpa_*: scaled dot-product attention. q (N, Hh, Tq, dk), k (N, Hh, Tk, dk), v (N, Hh, Tk, dv), mask
  (N, Tk) bool or None. Two versions:
  - materialised (sdpa_forward/backward): P (N, Hh, Tq, Tk) from cuBLAS GEMMs and the softmax row
    kernels, kept for the backward: fast for small problems, memory grows as Tq * Tk;
  - streaming (sdpa_stream_forward/backward): an online softmax, keeping only out and the row
    logsumexp; the backward recomputes the weights: O(N * Hh * Tq) extra memory. Taken once P would
    exceed pyrnn.backends.limits.SDPA_WEIGHTS_BYTES or a size would not fit cuBLAS's 32-bit int (its
    kernels index in 64 bits). PYRNN_CUDA_SDPA_STREAM=1 (or 0) forces it on (or off), for tests.

With a mask the kernels read hs (k and v) with its masked rows zeroed (`hide_masked_keys`): a NaN in a
padded row would reach the output through its zero weight (0 * NaN = NaN) in the GEMMs.
"""
from __future__ import annotations

import os

from pyrnn._arrays import contiguous
from pyrnn.backends import limits
from pyrnn.reference.attention import hide_masked_keys

from ._launch import empty, launch, on_device


# ---- the book's attention, all decoder steps at once ---------------------------------------------

def _sizes(hs, q_or_a):
    """N, Te, Td, H from hs (N, Te, H) and hq (N, Td, H) or a (N, Td, Te)."""
    N, Te, H = hs.shape
    return N, Te, q_or_a.shape[1], H


def _weights(op, hs, hq, mask):
    """attention_weights_forward, or attention_forward (also c = a hs): hs and hq as the kernels read
    them, then the outputs a (N, Td, Te) and, for attention_forward, c (N, Td, H)."""
    with on_device(hs=hs, hq=hq, mask=mask) as dev:
        hs, hq, mask = contiguous(hide_masked_keys(hs, mask)), contiguous(hq), contiguous(mask)
        N, Te, Td, H = _sizes(hs, hq)
        outputs = {"a": empty((N, Td, Te), hs.dtype)}
        if op == "attention_forward":
            outputs["c"] = empty((N, Td, H), hs.dtype)
        launch(op, dev, hs.dtype, N=N, Te=Te, Td=Td, H=H, hs=hs, hq=hq, mask=mask, **outputs)
    return hs, hq, *outputs.values()


def _weights_backward(op, saved, **grad):
    """attention_weights_backward (grad da=...) or attention_backward (grad dc=...): dhs, dhq."""
    hs, hq, a = saved
    ((name, g),) = grad.items()
    with on_device(hs=hs, **grad) as dev:
        N, Te, Td, H = _sizes(hs, hq)
        dt = hs.dtype
        dhs, dhq = empty((N, Te, H), dt), empty((N, Td, H), dt)
        ds = empty((N, Td, Te), dt)  # workspace: the score gradient (attention: dc hs^T first, in place)
        launch(op, dev, dt, N=N, Te=Te, Td=Td, H=H, hs=hs, hq=hq, a=a, dhs=dhs, dhq=dhq, ds=ds,
               **{name: contiguous(g)})
    return dhs, dhq


def attention_weights_forward(hs, hq, mask):
    hs, hq, a = _weights("attention_weights_forward", hs, hq, mask)
    return a, (hs, hq, a)


def attention_weights_backward(da, saved):
    return _weights_backward("attention_weights_backward", saved, da=da)


def weighted_sum_forward(hs, a):
    with on_device(hs=hs, a=a) as dev:
        hs, a = contiguous(hs), contiguous(a)
        N, Te, Td, H = _sizes(hs, a)
        c = empty((N, Td, H), hs.dtype)
        launch("weighted_sum_forward", dev, hs.dtype, N=N, Te=Te, Td=Td, H=H, hs=hs, a=a, c=c)
    return c, (hs, a)


def weighted_sum_backward(dc, saved):
    hs, a = saved
    with on_device(hs=hs, dc=dc) as dev:
        dc = contiguous(dc)
        N, Te, Td, H = _sizes(hs, a)
        dt = hs.dtype
        dhs, da = empty((N, Te, H), dt), empty((N, Td, Te), dt)
        launch("weighted_sum_backward", dev, dt, N=N, Te=Te, Td=Td, H=H, hs=hs, a=a, dc=dc, dhs=dhs, da=da)
    return dhs, da


def attention_forward(hs, hq, mask, train):
    hs, hq, a, c = _weights("attention_forward", hs, hq, mask)
    return c, a, ((hs, hq, a) if train else None)


def attention_backward(dc, saved):
    return _weights_backward("attention_backward", saved, dc=dc)


# ---- scaled dot-product attention ----------------------------------------------------------------

def _sdpa_streams(N, Hh, Tq, Tk, Dk, Dv, dtype):
    """Whether SDPA takes the streaming kernels (see the module docstring)."""
    if max(N * Hh, Tq, Tk, Dk, Dv) > 2**31 - 1:  # beyond cuBLAS's int sizes: the streaming kernels (no GEMM)
        return True
    force = os.environ.get("PYRNN_CUDA_SDPA_STREAM", "")
    if force in ("0", "1"):
        return force == "1"
    if force:
        raise ValueError(f"PYRNN_CUDA_SDPA_STREAM: expected '0', '1' or unset, got {force!r}")
    return N * Hh * Tq * Tk * dtype.itemsize > limits.SDPA_WEIGHTS_BYTES


def sdpa_forward(q, k, v, mask, causal, train):
    causal = bool(causal)
    with on_device(q=q, k=k, v=v, mask=mask) as dev:
        q, k, v = contiguous(q), contiguous(hide_masked_keys(k, mask)), contiguous(hide_masked_keys(v, mask))
        mask = contiguous(mask)
        N, Hh, Tq, Dk = q.shape
        Tk, Dv = k.shape[2], v.shape[3]
        dt = q.dtype
        sizes = dict(N=N, Hh=Hh, Tq=Tq, Tk=Tk, Dk=Dk, Dv=Dv)
        out = empty((N, Hh, Tq, Dv), dt)
        if _sdpa_streams(N, Hh, Tq, Tk, Dk, Dv, dt):
            lse = empty((N, Hh, Tq), dt)  # each row's logsumexp (+inf: every key masked)
            launch("sdpa_stream_forward", dev, dt, **sizes, causal=causal, q=q, k=k, v=v, mask=mask, out=out,
                   lse=lse)
            return out, (("stream", q, k, v, mask, causal, out, lse) if train else None)
        P = empty((N, Hh, Tq, Tk), dt)  # the weights; inference needs them as workspace too
        launch("sdpa_forward", dev, dt, **sizes, causal=causal, q=q, k=k, v=v, mask=mask, P=P, out=out)
    return out, (("full", q, k, v, P) if train else None)


def sdpa_backward(dout, saved):
    kind, q, k, v, *rest = saved
    with on_device(q=q, dout=dout) as dev:
        dout = contiguous(dout)
        N, Hh, Tq, Dk = q.shape
        Tk, Dv = k.shape[2], v.shape[3]
        dt = q.dtype
        sizes = dict(N=N, Hh=Hh, Tq=Tq, Tk=Tk, Dk=Dk, Dv=Dv)
        dq, dk, dv = empty(q.shape, dt), empty(k.shape, dt), empty(v.shape, dt)
        if kind == "stream":
            mask, causal, out, lse = rest
            D = empty((N, Hh, Tq), dt)  # workspace: rowsum(dout * out)
            launch("sdpa_stream_backward", dev, dt, **sizes, causal=causal, q=q, k=k, v=v, mask=mask, out=out,
                   lse=lse, dout=dout, dq=dq, dk=dk, dv=dv, D=D)
            return dq, dk, dv
        (P,) = rest
        dS = empty((N, Hh, Tq, Tk), dt)  # workspace: dout v^T, then the score gradient in place
        launch("sdpa_backward", dev, dt, **sizes, q=q, k=k, v=v, P=P, dout=dout, dq=dq, dk=dk, dv=dv, dS=dS)
    return dq, dk, dv
