"""`pyrnn bench --attention`: attention timings, measured side by side in one run.

* TimeAttention (the book's seq2seq attention, all decoder steps) forward+backward through pyrnn
  vs the book's per-step NumPy formulation (ch08/attention_layer.py: a Python loop over decoder
  steps, AttentionWeight building an (N, Te, H) product per step), written out below as the baseline.
* Scaled dot-product (multi-head) attention forward+backward through pyrnn vs
  ``torch.nn.functional.scaled_dot_product_attention`` on the CPU (when PyTorch is installed).
* Layer norm forward+backward (the Transformer encoder's other op) vs the NumPy reference and
  ``torch.nn.functional.layer_norm``.

Ratios = other / pyrnn (> 1: pyrnn faster). Absolute times on a shared machine drift between runs;
the ratios measured side by side much less.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from .. import backends, ops
from ._table import cell, keep, print_line, print_load_average, ratio_cell, write_rows
from .bench_torch import _timeit_rounds


def _timeit_pair(fn, other, repeat, min_time=0.5):
    """Median ms of fn() and of other() (None: not timed), alternating so that both see the same machine
    load (this is a shared machine): each round times one call of each, right after an untimed call of
    the same (warm caches, as in a training loop). At least `repeat` rounds and min_time in total:
    bench_torch._timeit_rounds on the two."""
    meds = _timeit_rounds([f for f in (fn, other) if f is not None], repeat, min_time)
    return meds[0], (meds[1] if other is not None else None)

# (N, Te, Td, H): the date task, and a long-sequence one (issue 6)
TIME_ATTENTION_SHAPES = [(128, 29, 11, 256), (32, 200, 50, 512)]
# (N, heads, T, head dim); the last, one long single-head sequence, takes the backward's block split
# (fewer heads than threads)
SDPA_SHAPES = [(8, 8, 128, 64), (8, 8, 256, 64), (8, 8, 512, 64), (1, 1, 2048, 64)]
QUICK_TIME_ATTENTION_SHAPES = [(4, 7, 5, 8)]
QUICK_SDPA_SHAPES = [(2, 2, 16, 8)]
# (rows = N * T, D): BERT-base-like width over 32 x 128 tokens, and a narrower model over 8 x 512
LAYER_NORM_SHAPES = [(4096, 768), (4096, 256)]
QUICK_LAYER_NORM_SHAPES = [(16, 8)]


# ---- the book's per-step formulation (Deep Learning from Scratch 2, ch08/attention_layer.py) -------

def _softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    x = np.exp(x)
    x /= x.sum(axis=1, keepdims=True)
    return x


class BookAttentionWeight:
    def forward(self, hs, h):
        N, T, H = hs.shape
        hr = h.reshape(N, 1, H)
        t = hs * hr                      # (N, T, H) product for this one decoder step
        s = np.sum(t, axis=2)
        self.a = _softmax(s)
        self.cache = (hs, hr)
        return self.a

    def backward(self, da):
        hs, hr = self.cache
        N, T, H = hs.shape
        ds = self.a * da
        ds -= self.a * np.sum(ds, axis=1, keepdims=True)
        dt = ds.reshape(N, T, 1).repeat(H, axis=2)
        dhs = dt * hr
        dhr = dt * hs
        dh = np.sum(dhr, axis=1)
        return dhs, dh


class BookWeightSum:
    def forward(self, hs, a):
        N, T, H = hs.shape
        ar = a.reshape(N, T, 1)
        t = hs * ar
        c = np.sum(t, axis=1)
        self.cache = (hs, ar)
        return c

    def backward(self, dc):
        hs, ar = self.cache
        N, T, H = hs.shape
        dt = dc.reshape(N, 1, H).repeat(T, axis=1)
        dar = dt * hs
        dhs = dt * ar
        da = np.sum(dar, axis=2)
        return dhs, da


class BookAttention:
    def __init__(self):
        self.w, self.s = BookAttentionWeight(), BookWeightSum()

    def forward(self, hs, h):
        return self.s.forward(hs, self.w.forward(hs, h))

    def backward(self, dout):
        dhs0, da = self.s.backward(dout)
        dhs1, dh = self.w.backward(da)
        return dhs0 + dhs1, dh


class BookTimeAttention:
    def forward(self, hs_enc, hs_dec):
        N, T, H = hs_dec.shape
        out = np.empty_like(hs_dec)
        self.layers = []
        for t in range(T):
            layer = BookAttention()
            out[:, t, :] = layer.forward(hs_enc, hs_dec[:, t, :])
            self.layers.append(layer)
        return out

    def backward(self, dout):
        N, T, H = dout.shape
        dhs_enc = 0
        dhs_dec = np.empty_like(dout)
        for t in range(T):
            dhs, dh = self.layers[t].backward(dout[:, t, :])
            dhs_enc += dhs
            dhs_dec[:, t, :] = dh
        return dhs_enc, dhs_dec


# ---- workloads -------------------------------------------------------------------------------------

def time_attention_inputs(N, Te, Td, H, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    hs = rng.standard_normal((N, Te, H)).astype(dtype)
    hd = rng.standard_normal((N, Td, H)).astype(dtype) / np.sqrt(H).astype(dtype)
    dout = rng.standard_normal((N, Td, H)).astype(dtype)
    return hs, hd, dout


def _attention_layer_step(layer, hs, hd, dout):
    """A closure running layer.forward(hs, hd) and layer.backward(dout)."""
    def run():
        layer.forward(hs, hd)
        layer.backward(dout)
    return run


def time_attention_step(hs, hd, dout):
    """pyrnn's TimeAttention forward+backward (the layer the book's models use)."""
    from ..layers import TimeAttention
    return _attention_layer_step(TimeAttention(), hs, hd, dout)


def book_time_attention_step(hs, hd, dout):
    return _attention_layer_step(BookTimeAttention(), hs, hd, dout)


def sdpa_inputs(N, Hh, T, dh, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    q, k, v, dout = (rng.standard_normal((N, Hh, T, dh)).astype(dtype) for _ in range(4))
    return q, k, v, dout


def sdpa_step(q, k, v, dout, causal=False):
    def run():
        out, saved = ops.sdpa_forward(q, k, v, None, causal)
        ops.sdpa_backward(dout, saved)
    return run


def _torch_fwd_bwd(forward, inputs, dout):
    """A closure running forward(F, *leaves) and its backward from dout in PyTorch on every core, where
    F is torch.nn.functional and the leaves are copies of the NumPy `inputs` (their grads set to None
    first); None where PyTorch is not installed."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    leaves = [torch.from_numpy(a.copy()).requires_grad_(True) for a in inputs]
    tdout = torch.from_numpy(dout.copy())

    def run():
        for t in leaves:
            t.grad = None
        forward(F, *leaves).backward(tdout)
    return run


def torch_sdpa_step(q, k, v, dout, causal=False):
    return _torch_fwd_bwd(lambda F, tq, tk, tv: F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal),
                          (q, k, v), dout)


def layer_norm_inputs(R, D, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x, dy = (rng.standard_normal((R, D)).astype(dtype) for _ in range(2))
    return x, (1 + 0.1 * rng.standard_normal(D)).astype(dtype), (0.1 * rng.standard_normal(D)).astype(dtype), dy


def layer_norm_step(x, gamma, beta, dy, backend=None):
    def run():
        with backends.use_backend(backend) if backend else contextlib.nullcontext():
            y, saved = ops.layer_norm_forward(x, gamma, beta, 1e-5)
            ops.layer_norm_backward(dy, saved)
    return run


def torch_layer_norm_step(x, gamma, beta, dy):
    return _torch_fwd_bwd(lambda F, tx, tg, tb: F.layer_norm(tx, (x.shape[-1],), tg, tb, 1e-5), (x, gamma, beta), dy)


@dataclass
class AttnRow:
    op: str          # "TimeAttention" or "sdpa" / "sdpa causal"
    shape: str
    dtype: str
    backend: str
    pyrnn_ms: float
    other: str       # what pyrnn is compared with
    other_ms: float | None

    @property
    def ratio(self):
        return None if self.other_ms is None else self.other_ms / self.pyrnn_ms


HEADER = f"{'op':<14}{'shape':<20}{'dtype':<9}{'backend':<9}{'pyrnn ms':>10}  {'vs':<22}{'other ms':>10}{'ratio':>9}"


def format_row(r: AttnRow) -> str:
    other, ratio = cell(r.other_ms, "10.2f", 10), ratio_cell(r.ratio, 9)
    return f"{r.op:<14}{r.shape:<20}{r.dtype:<9}{r.backend:<9}{r.pyrnn_ms:10.2f}  {r.other:<22}{other}{ratio}"


def run(time_shapes=TIME_ATTENTION_SHAPES, sdpa_shapes=SDPA_SHAPES, dtype=np.float32, repeat=5, torch=True,
        causal=False, progress=print, ln_shapes=LAYER_NORM_SHAPES):
    rows = []
    dt = np.dtype(dtype).name
    for N, Te, Td, H in time_shapes:
        hs, hd, dout = time_attention_inputs(N, Te, Td, H, dtype)
        chosen = backends.select("attention_forward", on_gpu=False).NAME
        ours, book = _timeit_pair(time_attention_step(hs, hd, dout), book_time_attention_step(hs, hd, dout),
                                  repeat)
        keep(rows, AttnRow("TimeAttention", f"N{N} Te{Te} Td{Td} H{H}", dt, chosen, ours, "book per-step NumPy",
                           book), progress, format_row)
    for c in ((False, True) if causal else (False,)):
        for N, Hh, T, dh in sdpa_shapes:
            q, k, v, dout = sdpa_inputs(N, Hh, T, dh, dtype)
            chosen = backends.select("sdpa_forward", on_gpu=False).NAME
            tstep = torch_sdpa_step(q, k, v, dout, c) if torch else None
            ours, tms = _timeit_pair(sdpa_step(q, k, v, dout, c), tstep, repeat)
            keep(rows, AttnRow("sdpa causal" if c else "sdpa", f"N{N} h{Hh} T{T} d{dh}", dt, chosen, ours,
                               "torch SDPA (CPU)", tms), progress, format_row)
    for R, D in ln_shapes:
        x, gamma, beta, dy = layer_norm_inputs(R, D, dtype)
        chosen = backends.select("layer_norm_forward", on_gpu=False).NAME
        others = [("NumPy reference", layer_norm_step(x, gamma, beta, dy, "reference"))]
        if torch:
            others.append(("torch layer_norm (CPU)", torch_layer_norm_step(x, gamma, beta, dy)))
        for name, other in others:
            ours, oms = _timeit_pair(layer_norm_step(x, gamma, beta, dy), other, repeat)
            keep(rows, AttnRow("layer_norm", f"R{R} D{D}", dt, chosen, ours, name, oms), progress, format_row)
    return rows


def cli(args) -> int:
    """`pyrnn bench --attention` (honours --quick, --dtype, --repeat, --no-torch, --backend, --json)."""
    from .bench import environment, torch_note
    quick = args.quick
    print("pyrnn bench --attention: median ms per fwd+bwd call, ratio = other / pyrnn (>1: pyrnn faster)")
    print(torch_note(not args.no_torch, "torch.nn.functional.scaled_dot_product_attention / layer_norm"))
    print_load_average("load average: ")
    print(HEADER, flush=True)
    forced = getattr(args, "backend", None)  # --backend numba: time that backend as "pyrnn"
    with backends.use_backend(forced) if forced else contextlib.nullcontext():
        rows = run(time_shapes=QUICK_TIME_ATTENTION_SHAPES if quick else TIME_ATTENTION_SHAPES,
                   sdpa_shapes=QUICK_SDPA_SHAPES if quick else SDPA_SHAPES, dtype=np.dtype(args.dtype).type,
                   ln_shapes=QUICK_LAYER_NORM_SHAPES if quick else LAYER_NORM_SHAPES,
                   repeat=2 if quick else args.repeat, torch=not args.no_torch, causal=True,
                   progress=print_line)
    if args.json:
        write_rows(args.json, "attention", environment(), [dict(vars(r), ratio=r.ratio) for r in rows])
    return 0
